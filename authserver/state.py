"""Per-app runtime objects, kept in ``app.extensions["authserver"]``.

Nothing here is module-global, so a test suite can build many apps side by side. The
factory (app.py) builds every object first and then this AppState, once and complete:
no field is filled in later by some ``init_app``, so whatever runs after the factory can
rely on all of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flask import Flask, current_app

if TYPE_CHECKING:  # types only: the objects are built by the layers above (see app.py)
    from authlib.oauth2.rfc6749 import ResourceProtector

    from authserver.oauth2.server import TokenServer
    from authserver.policy import Policy
    from authserver.security.access_tokens import TokenVerifier
    from authserver.security.keys import SigningKeys
    from authserver.security.passwords import Passwords
    from authserver.services.lockout import DatabaseCounters, FailoverCounters
    from authserver.web.ratelimit import TokenRateLimit


@dataclass
class PolicyCache:
    """The newest policy version this process has parsed, as one (version, policy) pair.

    A single attribute, replaced whole, so a concurrent reader never pairs a new version
    number with the old policy.
    """

    current: tuple[int, Policy] | None = None


@dataclass(frozen=True)
class AppState:
    """What one app's requests share; built once by the factory, never reassigned."""

    passwords: Passwords
    keys: SigningKeys
    token_verifier: TokenVerifier  # local JWT checks, for require_scopes and introspection
    authorization_server: TokenServer  # Authlib's, with our grants and endpoints
    resource_protector: ResourceProtector  # Authlib's, with our JWT validator
    lockout: DatabaseCounters | FailoverCounters  # per-account failures (Redis when set)
    rate_limit: TokenRateLimit  # failed token requests per client address
    policy_cache: PolicyCache = field(default_factory=PolicyCache)


def state(app: Flask | None = None) -> AppState:
    """The AppState of ``app`` (default: the current app)."""
    return (app or current_app).extensions["authserver"]
