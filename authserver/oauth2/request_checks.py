"""Checks on a token-endpoint request before Authlib parses it (RFC 6749 §3.2, §2.3.1).

Authlib accepts a parameter sent twice, merges query-string parameters into the form (so
credentials in a URL would be accepted), and raises UnicodeDecodeError on a Basic header
that is not UTF-8. Each of those is an ``invalid_request`` or ``invalid_client`` here.
"""

from __future__ import annotations

import base64
import binascii

from flask import Request

FORM_TYPE = "application/x-www-form-urlencoded"


class RequestRejected(Exception):
    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


def check_form_request(request: Request) -> None:
    """Raise RequestRejected unless this is a well-formed form POST with one value per name."""
    if request.mimetype != FORM_TYPE:
        raise RequestRejected("invalid_request", f"the body must be {FORM_TYPE}")
    if request.args:
        raise RequestRejected("invalid_request", "parameters belong in the body, not the URL")
    for name in request.form:
        values = request.form.getlist(name)
        if len(values) > 1:
            raise RequestRejected("invalid_request", f"parameter {name!r} was sent more than once")
    _check_basic(request.headers.get("Authorization"))


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
