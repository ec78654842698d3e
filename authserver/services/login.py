"""Password login with per-account lockout: the one door the password grant goes through.

Every path (wrong password, unknown account, locked account, disabled user) costs one
argon2 verify and gets the same answer, so neither timing nor wording tells an attacker
which accounts exist or are locked.
"""

from __future__ import annotations

import time

from flask import current_app

from authserver.digests import digest
from authserver.models import User
from authserver.services import users
from authserver.state import state


def login(username: str, password: str) -> User | None:
    app_state = state()
    counters = app_state.lockout
    key = digest(username)
    if counters.locked_until(key) > time.time():
        app_state.passwords.dummy_verify(password[: users.MAX_PASSWORD_LENGTH])
        current_app.logger.info("login refused: account locked")
        return None
    user = users.authenticate(username, password)
    if user is None:
        until = counters.record_failure(key)
        if until:
            current_app.logger.warning("account locked after repeated failures")
        return None
    counters.reset(key)
    return user
