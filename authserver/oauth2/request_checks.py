"""Checks on a token-endpoint request before Authlib parses it (RFC 6749 §3.2, §2.3.1).

Authlib accepts a parameter sent twice, merges query-string parameters into the form (so
credentials in a URL would be accepted), raises UnicodeDecodeError on a Basic header that
is not UTF-8, and takes a secret in the body beside HTTP Basic. Each of those is an
``invalid_request`` or ``invalid_client`` here.
"""

from __future__ import annotations

import base64
import binascii

from flask import Request

from authserver.services.errors import ServiceError

FORM_TYPE = "application/x-www-form-urlencoded"
TITLES = {400: "Bad Request", 401: "Unauthorized", 413: "Content Too Large"}


class RequestRejected(ServiceError):
    """An RFC 6749 §5.2 error (``error`` is its code) found before Authlib parses the request."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error, self.status, self.title = error, status, TITLES[status]

    def headers(self) -> dict[str, str]:
        """A failed client authentication names the scheme to use (RFC 6749 §5.2)."""
        return {"WWW-Authenticate": 'Basic realm="authserver"'} if self.status == 401 else {}


def check_form_request(request: Request) -> None:
    """Raise RequestRejected unless this is a well-formed form POST with one value per name."""
    if request.mimetype != FORM_TYPE:
        raise RequestRejected("invalid_request", f"the body must be {FORM_TYPE}")
    if request.args:
        raise RequestRejected("invalid_request", "parameters belong in the body, not the URL")
    _check_body(request)
    for name in request.form:
        values = request.form.getlist(name)
        if len(values) > 1:
            raise RequestRejected("invalid_request", f"parameter {name!r} was sent more than once")
    header = request.headers.get("Authorization")
    _check_basic(header)
    if header is not None and "client_secret" in request.form:
        # RFC 6749 §2.3 / §5.2: more than one client authentication method is invalid_request.
        raise RequestRejected("invalid_request", "use one client authentication method, not two")


def _check_body(request: Request) -> None:
    """The raw body (cached for the form parser) must be complete and UTF-8 (RFC 6749 App. B).

    Werkzeug refuses a declared Content-Length over MAX_CONTENT_LENGTH, but it reads a
    chunked body only up to the limit and parses what it got: a form cut short, silently.
    A chunked body that reaches the limit is 413 here (one of exactly the limit cannot be
    told from a cut one). A body that is not UTF-8 Werkzeug parses as an empty form, which
    would be answered as if ``grant_type`` were missing.
    """
    body = request.get_data(cache=True)
    limit = request.max_content_length
    if request.content_length is None and limit is not None and len(body) >= limit:
        raise RequestRejected("invalid_request", f"the body is larger than {limit} bytes", 413)
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        raise RequestRejected("invalid_request", "the body is not UTF-8") from None


def _check_basic(header: str | None) -> None:
    if header is None:
        return
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "basic":
        raise RequestRejected("invalid_client", "unsupported client authentication", 401)
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise RequestRejected("invalid_client", "malformed Basic credentials", 401) from None
    if ":" not in decoded:
        raise RequestRejected("invalid_client", "malformed Basic credentials", 401)
