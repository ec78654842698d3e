"""Per-app runtime objects, kept in ``app.extensions["authserver"]``.

Nothing here is module-global, so a test suite can build many apps side by side.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app

if TYPE_CHECKING:
    from authserver.policy import Policy
    from authserver.security.keys import SigningKeys
    from authserver.security.passwords import Passwords


@dataclass
class PolicyCache:
    """The newest policy version this process has parsed, as one (version, policy) pair.

    A single attribute, replaced whole, so a concurrent reader never pairs a new version
    number with the old policy.
    """

    current: tuple[int, Policy] | None = None


@dataclass
class AppState:
    passwords: Passwords
    keys: SigningKeys
    policy_cache: PolicyCache = field(default_factory=PolicyCache)
    authorization_server: Any = None
    resource_protector: Any = None
    redis: Any = None  # redis.Redis when AUTHSERVER_REDIS_URL is set
    lockout: Any = None  # services.lockout counters
    limiter: Any = None
    revocations: Any = None  # services.tokens.RevocationList, made on first use
    token_verifier: Any = None  # access_tokens.TokenVerifier


def state(app: Flask | None = None) -> AppState:
    """The AppState of ``app`` (default: the current app)."""
    return (app or current_app).extensions["authserver"]
