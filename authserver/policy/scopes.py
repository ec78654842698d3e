"""Scope tokens (RFC 6749 §3.3): their syntax, parsing a ``scope`` parameter, wildcards.

A scope that breaks the token syntax could not be sent back in a space-delimited ``scope``
string without changing meaning, so the policy loader refuses such names outright and the
token endpoint answers ``invalid_scope`` for them.
"""

from __future__ import annotations

import re

#: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )  -- printable ASCII except space, '"' and '\'
SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")

WILDCARD_SUFFIX = ":*"


class InvalidScope(Exception):
    """RFC 6749 §5.2 ``invalid_scope``: the requested scope is invalid, unknown or malformed.

    ``description`` is written for the client developer and reveals nothing about the
    user's roles beyond what the granted ``scope`` would.
    """

    error = "invalid_scope"
    status_code = 400

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


def scope_token_problem(token: str) -> str | None:
    """Why ``token`` is not an RFC 6749 §3.3 scope-token, or None when it is one."""
    if not token:
        return "a scope must not be empty"
    if SCOPE_TOKEN.fullmatch(token):
        return None
    bad = next(ch for ch in token if not SCOPE_TOKEN.fullmatch(ch))
    return (
        f"{token!r} is not a valid scope (RFC 6749 §3.3): {_describe_char(bad)} is not allowed; "
        "use printable ASCII other than space, '\"' and '\\'"
    )


def _describe_char(ch: str) -> str:
    names = {" ": "a space", '"': "a double quote", "\\": "a backslash", "\t": "a tab"}
    return names.get(ch, f"the character {ch!r}")


def wildcard_prefix(token: str) -> str | None:
    """``"documents:*"`` -> ``"documents:"``; None when ``token`` is not a ``prefix:*`` form.

    Only a non-empty prefix without ``*`` followed by ``:*`` is a wildcard, so ``*``,
    ``doc*`` or ``a:*:b`` never silently match more than the admin meant.
    """
    if not token.endswith(WILDCARD_SUFFIX) or len(token) <= len(WILDCARD_SUFFIX):
        return None
    prefix = token[:-1]
    return None if "*" in prefix else prefix


def parse_scope(value: str | None) -> list[str] | None:
    """Parse a ``scope`` request parameter (RFC 6749 §3.3) into its tokens.

    None or an empty/blank value means "no scope requested" (None). Repeated spaces are
    tolerated; any token outside the scope-token syntax raises :class:`InvalidScope`.
    Duplicates are dropped, keeping the first occurrence's order.
    """
    if not value:
        return None
    tokens = [token for token in value.split(" ") if token]
    if not tokens:
        return None
    if not all(SCOPE_TOKEN.fullmatch(token) for token in tokens):
        # Not echoed: error_description may only hold %x20-21 / %x23-5B / %x5D-7E (§5.2).
        raise InvalidScope(
            "malformed scope: a scope token is printable ASCII without space, "
            "double quote or backslash (RFC 6749 section 3.3)"
        )
    return list(dict.fromkeys(tokens))
