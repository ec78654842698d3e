"""GET /oauth/changes: the live-authorization change feed for other services (SPEC §18).

A resource server that verifies our JWTs itself (the kit, ``authserver.resource``) follows
this feed to apply SPEC §12's refusals and narrowing within the same 1 s bound as this
server's own routes. Only clients made with ``--introspect`` may read it (HTTP Basic, as
at introspection): it names users and clients that were cut off.

``GET /oauth/changes`` (no ``since``): a snapshot. ``?since=SEQ``: the rows of the log
(``live_changes``) after SEQ, or a snapshot when SEQ is too old (rows after it were
pruned) or unknown (newer than the log: another database). The answer::

    {"seq": 42, "snapshot": false,
     "changes": [{"seq": 41, "kind": "user", "key": "7", "at": 1767.5, "until": 2667.5}],
     "policy": {"version": 3, "roles": {"editor": ["documents:read", ...]}},
     "clients": {"reports-api": "reports:read"},
     "keys": {"k1": {"activates": 1700000000, "retires": null}},
     "max_token_lifetime": 930}

``kind`` is ``jti`` (key: a revoked access token's jti, ``until`` its exp), ``user`` /
``client`` (key: a sub / client_id whose tokens issued at or before ``at`` are refused),
``policy`` (key: a new policy version) or ``clients`` (key: a client whose allowed scopes
changed; ``clients`` gives them now, null: unrestricted, absent: deleted). ``policy`` is
the live policy: each role's effective scopes. ``keys``: each published signing key's
window (``activates``, ``retires``: a key verifies only tokens it signed while active,
SPEC §13); a change of the key set (``keys rotate``, ``keys remove``) ends a held answer
too, so a removed key is refused at a distance as fast as a disable.
``keys_version`` digests them: a follower that sends it back (``&keys=...``) with an
older one gets its answer at once. ``max_token_lifetime``: the longest ``exp - iat`` the
server accepts. Times are Unix seconds.

**Long-polling** (``wait=SECONDS``, at most :data:`MAX_WAIT`): with nothing after SEQ the
answer is held until a change arrives or the wait ends, so an idle feed costs one open
request. While it is held, a newline goes out every :data:`HEARTBEAT` seconds, as long as
this process's own live state holds every change committed more than :data:`FRESH` ago
(SPEC §12): JSON allows whitespace before the value, so the body stays one JSON document,
and a follower that reads it line by line knows the feed is alive and nothing changed,
within its bound, without a new request.

A held request holds a thread: on gunicorn's sync workers (one request per worker) it
would hold a whole worker, so there (``wsgi.multithread`` false) the answer comes at once
with ``"poll_after"`` seconds for the follower to wait before asking again. Run the
instances that serve the feed with threads (docs/deploy.md).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator

from authlib.oauth2 import OAuth2Error
from flask import Blueprint, Flask, Response, current_app, request, stream_with_context
from sqlalchemy import func, select

from authserver import forks, live
from authserver.extensions import db
from authserver.live import log
from authserver.live.state import CLIENTS
from authserver.live.sync import LOCAL_CHECK_EVERY
from authserver.models import LiveChange
from authserver.models.base import utcnow
from authserver.security.access_tokens import CLOCK_SKEW
from authserver.security.keys import SigningKeyError, SigningKeys
from authserver.services import policy_store
from authserver.state import state
from authserver.web.errors import oauth_error_response, render_errors_with, render_oauth

bp = Blueprint("changes", __name__, url_prefix="/oauth")
render_errors_with(bp, render_oauth)

#: The longest hold (seconds): below gunicorn's worker timeout (30 s, config/gunicorn.conf.py).
MAX_WAIT = 20.0
#: Seconds between the newlines of a held answer (a follower trusts its state for
#: 0.4 s after one: a heartbeat may be 0.25 s late before it asks introspection).
HEARTBEAT = 0.15
#: How often (seconds) the watcher looks at the process's live state.
TICK = 0.05
#: A heartbeat goes out only while the state the watcher last looked at holds every change
#: committed more than this long ago (seconds). The kit trusts a heartbeat for 0.4 s
#: (``authserver.resource.kit.STALE_AFTER``): 0.3 + 0.4 = 0.7 s, within SPEC §12's 1 s.
#: SQLite: the look less LOCAL_CHECK_EVERY (about 0.1 s); PostgreSQL and Redis: the
#: instance's own feed confirmation (every 0.2 s by default), so an instance whose feed
#: lags or is lost stops vouching instead of vouching for a state up to 0.5 s old.
FRESH = 0.3
#: What a follower of a server that cannot hold answers waits between polls (seconds).
POLL_AFTER = 0.25


class Watcher:
    """A thread per process that runs while answers are held (started by the first, again
    after a fork; it ends when the last one does): it looks at the live state every
    :data:`TICK` (fresh within SPEC §12's bound: the feed's word or a database sync) and
    wakes the held answers when its ``last_seq`` moves. Nothing runs while nobody waits,
    so an app being closed is not woken up again."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.condition = threading.Condition()
        self.seq = -1
        self.fresh_at = float("-inf")  # monotonic: every change committed before it is seen
        self.waiters = 0
        self.key_changes = 0  # bumped when the trusted key set changed (SPEC §13)
        self._trusted: object = None
        self._pid: int | None = None  # the process whose thread runs, None: none runs

    def enter(self) -> None:
        """A held answer begins: make sure the thread runs in this process."""
        with self.condition:
            self.waiters += 1
            if self._pid != forks.pid():
                self._pid = forks.pid()
                thread = threading.Thread(target=self._run, name="changes-watcher")
                thread.daemon = True
                thread.start()

    def leave(self) -> None:
        with self.condition:
            self.waiters -= 1

    def _run(self) -> None:
        sync = live.live_sync(self.app)
        pid = forks.pid()
        while True:
            with self.condition:
                if self.waiters <= 0 or self._pid != pid:
                    if self._pid == pid:
                        self._pid = None
                    return
            looked = time.monotonic()
            try:
                live_state = sync.current()
                seq = live_state.last_seq
            except Exception as exc:  # noqa: BLE001 - database down: no fresh look, no heartbeat
                self.app.logger.warning("changes feed: live state unavailable (%s)", exc)
                time.sleep(1)
                continue
            keys = state(self.app).keys
            keys.reload_if_changed()  # one os.stat: another process ran `keys ...`
            trusted = keys.verification_keys()  # a new object when the set changed
            with self.condition:
                self.fresh_at = vouched_for(sync.backend, live_state.confirmed_at, looked)
                if trusted is not self._trusted:
                    self.key_changes += self._trusted is not None
                    self._trusted = trusted
                    self.condition.notify_all()
                if seq != self.seq:
                    self.seq = seq
                    self.condition.notify_all()
            time.sleep(TICK)

    def wait(self, since: int, keys: int, timeout: float) -> bool:
        """Until the state moved past ``since`` or the keys changed since ``keys`` (a
        ``key_changes`` value) (True), or ``timeout`` passed (False)."""
        with self.condition:
            return self.condition.wait_for(
                lambda: self.seq > since or self.key_changes != keys, timeout
            )

    def fresh(self) -> bool:
        """Whether the state last looked at holds every change committed more than
        :data:`FRESH` ago (what a heartbeat vouches for)."""
        return time.monotonic() - self.fresh_at <= FRESH

    def idle(self) -> bool:
        """No answer held and no thread running (what a test waits for before it closes
        the app)."""
        with self.condition:
            return self.waiters <= 0 and self._pid is None


def vouched_for(backend: str, confirmed_at: float, looked: float) -> float:
    """The monotonic time before which every commit is in the state looked at, at
    ``looked``: on SQLite ``PRAGMA data_version`` is read at most every LOCAL_CHECK_EVERY,
    so the look less that (or the state's confirmation by a sync, if later); elsewhere the
    confirmation by the instance's feed or its fallback sync, never later than the look."""
    if backend == "sqlite":
        confirmed_at = max(confirmed_at, looked - LOCAL_CHECK_EVERY)
    return min(confirmed_at, looked)


_WATCHERS = "authserver.changes"
_CREATING = threading.Lock()


def watcher(app: Flask) -> Watcher:
    """The app's Watcher."""
    found = app.extensions.get(_WATCHERS)
    if found is None:
        with _CREATING:
            found = app.extensions.setdefault(_WATCHERS, Watcher(app))
    return found


# -- the answer ---------------------------------------------------------------------------
def _row(change: live.Change) -> dict:
    return {
        "seq": change.seq,
        "kind": change.kind,
        "key": change.key,
        "at": change.at,
        "until": change.until,
    }


_ROLE_MAPS: dict[int, dict[str, list[str]]] = {}


def _policy() -> dict:
    """The live policy as each role's effective scopes (computed once per version)."""
    version, policy = policy_store.live_policy()
    roles = _ROLE_MAPS.get(version)
    if roles is None:
        roles = {
            name: policy.in_declared_order(policy.effective_scopes(name)) for name in policy.roles
        }
        _ROLE_MAPS.clear()
        _ROLE_MAPS[version] = roles
    return {"version": version, "roles": roles}


def answer(since: int | None) -> dict:
    """The changes after ``since`` (None: a snapshot), or a snapshot if it is too old."""
    connection = db.session.connection()
    changes: list[live.Change] | None = None
    newest = log.newest_seq(connection)
    if since is not None and since <= newest:
        changes = log.read_since(connection, since)
        oldest = changes[0].seq if changes else newest + 1
        if oldest > since + 1 and _pruned_after(connection, since):
            changes = None
    snapshot = changes is None
    if changes is None:
        newest, changes = log.read_all(connection, utcnow())
    else:
        newest = max([since or 0, *(change.seq for change in changes)])
    named = {change.key for change in changes if change.kind == CLIENTS}
    windows = _key_windows()
    return {
        "seq": newest,
        "snapshot": snapshot,
        "changes": [_row(change) for change in changes],
        "policy": _policy(),
        "clients": log.client_scopes(connection, named),
        # SPEC §13: a longer-lived token is refused whoever signed it; a follower that
        # prunes cut-offs after this long must refuse those too.
        "max_token_lifetime": current_app.config["ACCESS_TOKEN_TTL"] + CLOCK_SKEW,
        "keys": windows,
        "keys_version": _version(windows),
    }


def _version(windows: dict) -> str:
    """A short digest of the keys' windows: a follower sends it back (``keys=``)."""
    text = json.dumps(windows, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _key_windows() -> dict[str, dict[str, int | None]]:
    """Each published key's window (SPEC §13): a key verifies only tokens whose ``iat`` is
    from its activation to its retirement (None: not retired). The JWKS cannot say so;
    with these a follower refuses what a retired key signs after it retired, and a key
    that left (``keys remove``) is missing here at once, before its JWKS cache expires."""
    keys = state().keys
    keys.reload_if_changed()
    published = {str(jwk.get("kid")) for jwk in keys.public_jwks()["keys"]}
    try:
        timings = SigningKeys.timings(keys.path)
    except (OSError, SigningKeyError):  # a broken file: the published keys, no windows
        timings = []
    windows: dict[str, dict[str, int | None]] = {kid: {} for kid in published}
    for timing in timings:
        if timing.kid in published:
            windows[timing.kid] = {"activates": timing.activates, "retires": timing.retires}
    return windows


def _pruned_after(connection, since: int) -> bool:
    """Whether rows after ``since`` may be gone (``tokens purge``): the log's oldest row is
    past ``since + 1`` (a gap in the sequence at worst costs a needless snapshot)."""
    oldest = connection.execute(select(func.min(LiveChange.seq))).scalar()
    return oldest is None or oldest > since + 1


# -- the route ----------------------------------------------------------------------------
def _authenticate() -> Response | None:
    """None for a client made with --introspect (HTTP Basic or the form); else its error."""
    server = state().authorization_server
    try:
        client = server.authenticate_client(
            server.create_oauth2_request(request), ["client_secret_basic"], endpoint="changes"
        )
    except OAuth2Error as exc:
        response = oauth_error_response(exc.status_code, exc.error, exc.description or "")
        response.headers.update(dict(exc.get_headers()))
        response.headers["Content-Type"] = "application/json"
        return response
    if not client.can_introspect:
        return oauth_error_response(
            403, "unauthorized_client", "Only resource servers (--introspect) read the feed."
        )
    return None


def _parameter(name: str) -> float | None:
    """A query parameter that must be a number >= 0 (None when absent); ValueError else."""
    text = request.args.get(name)
    if text is None:
        return None
    value = float(text)
    if not value >= 0 or value == float("inf"):
        raise ValueError(name)
    return value


@bp.get("/changes")
def changes() -> Response:
    refusal = _authenticate()
    if refusal is not None:
        return refusal
    try:
        since_value, wait_value = _parameter("since"), _parameter("wait")
    except ValueError:
        return oauth_error_response(400, "invalid_request", "since and wait: numbers >= 0")
    since = None if since_value is None else int(since_value)
    wait = min(wait_value or 0.0, MAX_WAIT)
    threaded = bool(request.environ.get("wsgi.multithread"))
    keys = state().keys
    keys.reload_if_changed()
    trusted = keys.verification_keys()  # before the answer: a change after it is seen
    first = answer(since)
    db.session.remove()  # hold no connection (nor SQLite read snapshot) while waiting
    # A follower that names the keys it knows (keys=keys_version) and knows old ones gets
    # the answer at once: the keys changed between its last answer and this request.
    stale_keys = request.args.get("keys", first["keys_version"]) != first["keys_version"]
    if first["changes"] or first["snapshot"] or stale_keys or wait <= 0 or not threaded:
        if wait > 0 and not threaded and not first["changes"]:
            first["poll_after"] = POLL_AFTER
        return _json(first)
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # the real app
    follow = watcher(app)
    return Response(
        stream_with_context(_held(follow, since or 0, wait, keys, trusted)),
        mimetype="application/json",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def _held(
    follow: Watcher, since: int, wait: float, keys: SigningKeys, trusted: object
) -> Iterator[str]:
    """Newlines while nothing changes and this process's state is fresh; then the answer.
    A change of the trusted keys (``trusted``: the set when the request came; the watcher
    follows the file) ends it too."""
    deadline = time.monotonic() + wait
    follow.enter()
    bumps = follow.key_changes
    try:  # a follower that hangs up ends this at the next newline (GeneratorExit)
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or follow.wait(since, bumps, min(HEARTBEAT, left)):
                break
            if keys.verification_keys() is not trusted:
                break
            if follow.fresh():
                yield "\n"
    finally:
        follow.leave()
    db.session.remove()  # a fresh transaction: the rows committed while we waited
    yield json.dumps(answer(since), separators=(",", ":")) + "\n"


def _json(body: dict) -> Response:
    response = Response(json.dumps(body, separators=(",", ":")), mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
