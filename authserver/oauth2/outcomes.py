"""What an OAuth request's failure was, told to the per-IP rate limit (web/ratelimit.py).

The rate limit sees only the response; some failures it must count and some it must not,
and the status code does not tell them apart:

- ``CLIENT_AUTH_FAILED``: client authentication failed (SPEC §10: counted at the token,
  revocation and introspection endpoints alike).
- ``NOT_A_GUESS``: a refresh that presented a refresh token we issued and still failed (it
  lost a race, was a repeat, or its family has ended): an honest client's bad luck, never a
  guess, so it never counts (SPEC §6), else two races could give every client on one
  address 429.

Marks live on ``flask.g``, so they last for one request.
"""

from __future__ import annotations

from flask import g

CLIENT_AUTH_FAILED = "client_auth_failed"
NOT_A_GUESS = "not_a_guess"
_ATTRIBUTE = "oauth_outcomes"


def mark(outcome: str) -> None:
    """Note ``outcome`` for this request."""
    outcomes = g.get(_ATTRIBUTE)
    if outcomes is None:
        outcomes = set()
        setattr(g, _ATTRIBUTE, outcomes)
    outcomes.add(outcome)


def marked(outcome: str) -> bool:
    """Whether ``outcome`` was noted during this request."""
    outcomes = g.get(_ATTRIBUTE)
    return outcomes is not None and outcome in outcomes
