"""Where a password grant writes: last, in one short transaction.

On SQLite the first write of a transaction takes the database's one write lock, held to
the commit; another worker's grant that wants to write meanwhile sleeps (1 ms at least,
then longer) while its core idles. So a login's writes (its ``login.success`` event, a
rehash, the refresh family and its token) come after every read and after the access
token is signed, and commit together.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import event

from authserver.extensions import db
from authserver.models import AuditEvent
from authserver.state import state
from tests.test_rfc6749_password_grant import password_form

WRITES = ("INSERT", "UPDATE", "DELETE")


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
    return next(i for i, step in enumerate(seen) if step.startswith(WRITES))


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
    assert all(step.startswith(WRITES) for step in written), written
    assert [step.split()[2] for step in written] == [
        "audit_events",
        "refresh_families",
        "refresh_tokens",
    ]


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
