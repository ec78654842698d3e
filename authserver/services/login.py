"""Password login with per-account lockout: the one door the password grant goes through.

Every failure (wrong password, unknown account, locked account, disabled user) does the same
work and gets the same answer, so neither timing nor wording tells an attacker which
accounts exist or are locked: one lookup of the account's columns (no ORM object, no role
rows: loading those made a wrong password ~1 ms slower than an unknown name, issue 10 item
4), one argon2 verify (a dummy one without a hash), one lockout write and one audit event.
Only a matching password reads the user again (its roles, and whether it is still enabled:
a disable committed while argon2 ran ends the login there). Only the audit trail says why a
login failed (``bad_credentials``, ``disabled`` or ``locked``).

A failure commits its lockout count and audit event at once. A success writes nothing yet:
its ``login.success`` event (and a rehash) waits for :func:`write_pending`, which the grant
calls once its access token is signed, right before its refresh family's inserts, and all
commit together, atomically, in one commit per grant; a grant that fails after the login
(an invalid scope) or issues no refresh token writes and commits them through
:func:`commit_alone`. Writing last keeps the write transaction short: on SQLite the first
write takes the database's one write lock, and the other workers' logins wait for it (a
waiter sleeps at least 1 ms), so the lock must not be held across the token's signing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from flask import current_app, g
from sqlalchemy import Row, Table, bindparam, select, update

from authserver import telemetry
from authserver.extensions import db
from authserver.models import User
from authserver.security.digests import digest
from authserver.services import audit, users
from authserver.services.tokens import owners
from authserver.services.tokens.owners import Owner
from authserver.state import state

if TYPE_CHECKING:
    Account = Row[int, str, str, bool]  # id, username, password_hash, disabled


def login(username: str, password: str, client_id: str | None = None) -> Owner | None:
    """The enabled user with this password, or None (audited either way)."""
    app_state = state()
    counters = app_state.lockout
    key = digest(username)
    account = _account(username)
    lockout = counters.lookup(key)
    if lockout.until > time.time():
        app_state.passwords.dummy_verify(password[: users.MAX_PASSWORD_LENGTH])
        counters.touch(key)  # the write a failure makes: the same time as a failure
        current_app.logger.info("login refused: account locked")
        _audit_failure(account, "locked", client_id)
        return None
    matched = _password_matches(account, password)
    user = None
    if matched and account is not None and not account.disabled:
        user = _loaded(account, password)
    if user is None:
        until = counters.record_failure(key)
        if until:
            telemetry.LOCKOUTS.inc()
            current_app.logger.warning("account locked after repeated failures")
        # disabled: before the login, or (gone too) while its argon2 verify ran
        disabled = account is not None and (account.disabled or matched)
        reason = "disabled" if disabled else "bad_credentials"
        _audit_failure(account, reason, client_id, locked=bool(until))
        return None
    if lockout.counted:
        counters.reset(key)
    _defer(
        lambda: audit.append(
            "login.success", user.username, f"user:{user.username}", client_id=client_id
        )
    )
    return user


#: The writes a successful login leaves for :func:`write_pending` (on ``g``: the request's).
_PENDING = "authserver_login_pending"


def _defer(write: Callable[[], None]) -> None:
    g.setdefault(_PENDING, []).append(write)


def write_pending() -> None:
    """Write what a successful login recorded (its ``login.success`` event, a rehash)
    in the current transaction, for the caller to commit. The grant calls it right before
    its own writes (see the module docstring); once only: the list is emptied."""
    for write in g.pop(_PENDING, ()):
        write()


def commit_alone() -> None:
    """Write and commit what a successful login recorded when no refresh family commits
    it: the grant was refused after the login (e.g. ``invalid_scope``), or it issues no
    refresh token."""
    write_pending()
    db.session.commit()


_ACCOUNT = select(User.id, User.username, User.password_hash, User.disabled).where(
    User.username == bindparam("username")
)  # built once: every login runs it


_USERS = cast(Table, User.__table__)  # declared as a FromClause
_REHASH = (
    update(_USERS)
    .where(_USERS.c.id == bindparam("user_id"))
    .values(password_hash=bindparam("new_hash"))
)


def _account(username: str) -> Account | None:
    """The columns a login needs, matched as :func:`users.find` matches a name; None,
    without a query, for a name no user can have."""
    if not users.USERNAME.fullmatch(username):
        return None
    return db.session.execute(_ACCOUNT, {"username": username}).first()


def _password_matches(account: Account | None, password: str) -> bool:
    """One argon2 verify whatever the account: a dummy one for no account or an over-long
    password (never hashed whole: argon2's cost grows with it)."""
    passwords = state().passwords
    if len(password) > users.MAX_PASSWORD_LENGTH:
        passwords.dummy_verify(password[: users.MAX_PASSWORD_LENGTH])
        return False
    return passwords.verify(account.password_hash if account is not None else None, password)


def _loaded(account: Account, password: str) -> Owner | None:
    """The owner of a successful login, read again now: its roles, and whether it is still
    enabled (None if it was disabled or deleted while its argon2 verify ran: the account
    row was read before it, and a token issued now would carry an ``iat`` past the
    disable's cut-off). A hash made with old parameters is replaced (written with the
    grant), the only time the plaintext is at hand."""
    user = owners.enabled(account.id)
    if user is None:
        return None
    passwords = state().passwords
    if passwords.needs_rehash(account.password_hash):
        values = {"user_id": account.id, "new_hash": passwords.hash(password)}

        def rehash() -> None:
            db.session.execute(_REHASH, values)

        _defer(rehash)
    return user


def _audit_failure(
    account: Account | None, reason: str, client_id: str | None, locked: bool = False
) -> None:
    """The caller is not authenticated, so the actor is "anonymous"; the subject is the
    account it named, or ``user:(unknown)``: a name that is no account is never stored,
    as it is often a password typed into the username field."""
    details: dict[str, Any] = {"reason": reason}
    if reason != "locked":
        details["lockout_started"] = locked
    subject = f"user:{account.username}" if account is not None else "user:(unknown)"
    audit.record("login.failure", "anonymous", subject, details, client_id=client_id)
