"""HTTP helpers shared by in-process and real-server tests: credentials headers, a free port."""

from __future__ import annotations

import base64
import socket
from collections.abc import Mapping


def basic_auth(client_id: str, secret: str) -> dict[str, str]:
    """An ``Authorization: Basic`` header (client_secret_basic, RFC 6749 §2.3.1)."""
    token = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def bearer(token: str | Mapping, scheme: str = "Bearer") -> dict[str, str]:
    """An ``Authorization`` header carrying an access token (RFC 6750 §2.1): the token
    itself or a token response (its ``access_token``); ``scheme`` to test other spellings."""
    value = token if isinstance(token, str) else token["access_token"]
    return {"Authorization": f"{scheme} {value}"}


def free_port() -> int:
    """A TCP port nothing listens on right now (the kernel's pick), for a server to bind."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
