"""A login reads the account before its argon2 verify (~20 ms): a change committed while
that runs must not be missed. A user disabled meanwhile gets no token (the token's ``iat``
would fall after the disable's cut-off, so the live state would let it through), and a
role taken away meanwhile is not in the token."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import jwt
import pytest

from authserver.extensions import db
from authserver.models import AuditEvent
from authserver.services import users
from authserver.state import state
from tests.test_rfc6749_password_grant import password_form


@pytest.fixture
def during_verify(app) -> Iterator[Callable[[Callable[[], object]], None]]:
    """Run a change (committed through the services) inside the next argon2 verify."""
    passwords = state(app).passwords
    verify = passwords.verify
    changes: list[Callable[[], object]] = []

    def verify_then_change(*args):
        matched = verify(*args)
        while changes:
            changes.pop()()
        return matched

    passwords.verify = verify_then_change  # type: ignore[method-assign]
    try:
        yield changes.append
    finally:
        passwords.verify = verify  # type: ignore[method-assign]


def test_a_user_disabled_while_its_password_is_checked_gets_no_token(
    app, make_user, token_request, during_verify
) -> None:
    make_user("alice", ["viewer"])
    during_verify(lambda: users.set_disabled("alice", True, actor="admin"))

    response = token_request(**password_form())

    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_grant"
    db.session.rollback()
    failures = db.session.query(AuditEvent).filter_by(kind="login.failure").all()
    assert [event.details["reason"] for event in failures] == ["disabled"]
    assert not db.session.query(AuditEvent).filter_by(kind="login.success").all()


def test_a_role_taken_away_while_its_password_is_checked_is_not_in_the_token(
    app, make_user, token_request, during_verify
) -> None:
    make_user("alice", ["viewer", "editor"])
    during_verify(lambda: users.set_roles("alice", ["viewer"], actor="admin"))

    response = token_request(**password_form())

    assert response.status_code == 200, response.get_json()
    claims = jwt.decode(response.get_json()["access_token"], options={"verify_signature": False})
    assert claims["roles"] == ["viewer"]
