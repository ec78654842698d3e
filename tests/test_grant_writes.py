"""Where a password grant writes: last, in one short transaction.

On SQLite the first write of a transaction takes the database's one write lock, held to
the commit; another worker's grant that wants to write meanwhile sleeps (1 ms at least,
then longer) while its core idles. So a login's writes (its ``login.success`` event, a
rehash, the refresh family and its token) come after every read and after the access
token is signed, and commit together.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import event

from authserver.extensions import db
from authserver.models import AuditEvent
from authserver.state import state
from tests.test_rfc6749_password_grant import password_form

WRITES = ("INSERT", "UPDATE", "DELETE")
INSERTED = re.compile(r"\bINSERT INTO (\w+)")


def _writes(step: str) -> bool:
    """A write: INSERT, UPDATE, DELETE, or a WITH whose parts insert (PostgreSQL)."""
    return step.startswith(WRITES) or (step.startswith("WITH") and "INSERT INTO" in step)


@pytest.fixture
def steps(app) -> Iterator[list[str]]:
    """The statements the app sends, "COMMIT" at each commit, and "sign" where the
    access token is signed."""
    seen: list[str] = []
    here = threading.get_ident()  # the test client's requests; not the live feed's thread

    def statement(_conn, _cursor, text, _params, _context, _many) -> None:
        if threading.get_ident() == here:
            seen.append(" ".join(text.split()))

    def commit(_conn) -> None:
        if threading.get_ident() == here:
            seen.append("COMMIT")

    keys = state(app).keys
    signing_key_set = keys.signing_key_set

    def signing() -> object:
        seen.append("sign")
        return signing_key_set()

    event.listen(db.engine, "before_cursor_execute", statement)
    event.listen(db.engine, "commit", commit)
    keys.signing_key_set = signing  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", statement)
        event.remove(db.engine, "commit", commit)
        keys.signing_key_set = signing_key_set  # type: ignore[method-assign]


def _first_write(seen: list[str]) -> int:
    return next(i for i, step in enumerate(seen) if _writes(step))


def test_a_login_writes_after_signing_and_reads_nothing_once_writing(
    app, make_user, token_request, steps
) -> None:
    make_user("alice", ["viewer"])
    steps.clear()

    response = token_request(**password_form())

    assert response.status_code == 200
    first = _first_write(steps)
    assert "sign" in steps[:first], steps
    written = steps[first : steps.index("COMMIT", first)]  # then the live state's reads
    assert all(_writes(step) for step in written), written
    tables = [table for step in written for table in INSERTED.findall(step)]
    assert tables == ["audit_events", "refresh_families", "refresh_tokens"]
    if db.engine.dialect.name == "postgresql":  # the family and its token: one round trip
        assert len(written) == 2, written


def test_the_family_and_its_first_token_are_stored_together(app, make_token) -> None:
    """On PostgreSQL one statement inserts both: the token's family row is there, and the
    token is found by its value, as a refresh will look for it."""
    from authserver.services import tokens

    body = make_token("alice")

    token = tokens.find(body["refresh_token"])
    assert token is not None and token.parent_id is None and token.used_at is None
    assert token.family.scope == body["scope"] and token.scope == body["scope"]
    assert tokens.is_active(token)


def test_a_login_refused_after_the_password_still_records_it(
    app, make_user, token_request, steps
) -> None:
    """invalid_scope comes after the login: its event is written and committed alone."""
    make_user("alice", ["viewer"])

    response = token_request(**password_form(scope="no-such-scope"))

    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_scope"
    db.session.rollback()  # what the request committed, not this session's view
    kinds = [event.kind for event in db.session.query(AuditEvent).all()]
    assert kinds.count("login.success") == 1
