"""Password login with per-account lockout: the one door the password grant goes through.

Every path (wrong password, unknown account, locked account, disabled user) costs one
argon2 verify and gets the same answer, so neither timing nor wording tells an attacker
which accounts exist or are locked. Only the audit trail says why a login failed
(``bad_credentials``, ``disabled`` or ``locked``).
"""

from __future__ import annotations

import time

from flask import current_app

from authserver import telemetry
from authserver.models import User
from authserver.security.digests import digest
from authserver.services import audit, users
from authserver.state import state


def login(username: str, password: str, client_id: str | None = None) -> User | None:
    app_state = state()
    counters = app_state.lockout
    key = digest(username)
    if counters.locked_until(key) > time.time():
        app_state.passwords.dummy_verify(password[: users.MAX_PASSWORD_LENGTH])
        counters.touch(key)  # the write a failure makes: the same time as a failure
        current_app.logger.info("login refused: account locked")
        _audit_failure(username, "locked", client_id)
        return None
    user = users.authenticate(username, password)
    if user is None:
        until = counters.record_failure(key)
        if until:
            telemetry.LOCKOUTS.inc()
            current_app.logger.warning("account locked after repeated failures")
        _audit_failure(username, "bad_credentials", client_id, locked=bool(until))
        return None
    counters.reset(key)
    audit.record("login.success", user.username, f"user:{user.username}", client_id=client_id)
    return user


def _audit_failure(username: str, reason: str, client_id: str | None, locked: bool = False):
    """The caller is not authenticated, so the actor is "anonymous"; the subject is the
    account it named, or ``user:(unknown)``: a name that is no account is never stored,
    as it is often a password typed into the username field."""
    user = users.find(username)
    if user is not None and user.disabled and reason == "bad_credentials":
        reason = "disabled"
    details = {"reason": reason}
    if reason != "locked":
        details["lockout_started"] = locked
    subject = f"user:{user.username}" if user is not None else "user:(unknown)"
    audit.record("login.failure", "anonymous", subject, details, client_id=client_id)
