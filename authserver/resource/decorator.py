"""``require_scopes``: protect a route with a bearer token and the scopes it needs."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable

from flask import g

from authserver.resource.challenges import authenticate
from authserver.resource.principal import set_identity
from authserver.resource.required import RequiredScopes
from authserver.security import access_tokens


def require_scopes(*scopes: str, any_of: Iterable[str] = ()) -> Callable:
    """Protect a view: a valid bearer token with all of ``scopes`` (and one of ``any_of``).

    Without one, :class:`~authserver.resource.challenges.TokenRejected` is raised and the
    blueprint's error renderer answers (RFC 6750 challenge included). The requirement is
    recorded on the view (``view.required_scopes``) so the server can list which route
    needs which scope and check the policy against the code.
    """
    required = RequiredScopes(tuple(scopes), tuple(any_of))

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            token = authenticate(required)
            g.token = token
            set_identity(token)
            return view(*args, **kwargs)

        # Read by route_scopes; mypy knows no such attribute on a function.
        wrapper.required_scopes = required  # type: ignore[attr-defined]
        return wrapper

    return decorator


def current_token() -> access_tokens.AccessToken:
    """The verified token of the current request (inside a ``require_scopes`` view)."""
    return g.token
