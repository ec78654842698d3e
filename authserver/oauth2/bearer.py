"""This server's :class:`~authserver.resource.Verifier`: its own keys, its own live state.

A bearer token is verified locally with ``security.access_tokens.TokenVerifier`` (pinned
algorithms, ``typ``, ``iss``, ``aud``, ``exp``, ``exp - iat`` within the TTL, a key that
may verify this ``iat``), then decided on the present state by :mod:`authserver.live`
(SPEC §12): refused (revoked ``jti``, user or client cut off) or narrowed to what the live
policy and the client allow now. It lives here, not in ``resource/``, because it reads
the server's storage; ``resource/`` itself imports none (SPEC §18).
"""

from __future__ import annotations

from authlib.oauth2.rfc6749 import ResourceProtector
from flask import Flask

from authserver import live, resource
from authserver.security.access_tokens import AccessToken
from authserver.state import state


class ServerVerifier:
    """Verifies tokens for one app of this server (see the module docstring)."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def authenticate(self, token_string: str) -> AccessToken | None:
        token = state(self.app).token_verifier.verify(token_string)
        if token is not None:
            live.apply_decision(token)
        return token


def build_protector(app: Flask) -> ResourceProtector:
    """The app's ResourceProtector (Authlib's) over :class:`ServerVerifier`, installed as
    the one ``require_scopes`` uses in ``app``."""
    protector = resource.build_protector(ServerVerifier(app))
    resource.install(app, protector)
    return protector
