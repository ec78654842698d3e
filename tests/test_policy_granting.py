"""Granting (SPEC §7, §6): requested ∩ user's roles ∩ client's scopes [∩ refresh ceiling]."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from authserver.policy import InvalidScope, Policy, grant_scopes, load_policy_yaml, parse_scope

DEFAULT_POLICY = Path(__file__).resolve().parent.parent / "policies" / "roles.yaml"
ALL = object()  # marker: the client is not restricted
ERROR_DESCRIPTION = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]+")  # RFC 6749 §5.2


@pytest.fixture(scope="module")
def policy() -> Policy:
    result = load_policy_yaml(DEFAULT_POLICY.read_text())
    assert result.policy is not None
    return result.policy


GRANTS = [
    # id, requested, roles, client scopes, ceiling, granted
    ("password: requested within user and client", "profile documents:read", ["viewer"],
     ALL, None, ["profile", "documents:read"]),
    ("password: known scope the user lacks is dropped", "documents:read documents:write",
     ["viewer"], ALL, None, ["documents:read"]),
    ("password: client restriction drops a scope", "documents:read documents:write",
     ["editor"], ["profile", "documents:read"], None, ["documents:read"]),
    ("password: result in declaration order, not request order",
     "audit:read documents:write profile", ["admin"], ALL, None,
     ["profile", "documents:write", "audit:read"]),
    ("password: no scope asked, unrestricted client -> all of the user's", None, ["editor"],
     ALL, None, ["profile", "documents:read", "documents:write"]),
    ("password: no scope asked -> client's allowed ∩ user's", None, ["admin"],
     ["documents:read", "audit:read", "users:write"], None,
     ["documents:read", "users:write", "audit:read"]),
    ("password: empty request list means none asked", [], ["viewer"], ALL, None,
     ["profile", "documents:read"]),
    ("password: unknown and duplicate roles", "profile", ["ghost", "viewer", "viewer"], ALL,
     None, ["profile"]),
    ("password: client scope no longer declared is ignored", None, ["viewer"],
     ["profile", "legacy:scope"], None, ["profile"]),
    ("refresh: no scope asked -> the ceiling", None, ["admin"], ALL,
     ["profile", "documents:read"], ["profile", "documents:read"]),
    ("refresh: narrowing within the ceiling", "documents:read", ["admin"], ALL,
     ["profile", "documents:read"], ["documents:read"]),
    ("refresh: user's roles shrank since login", None, ["viewer"], ALL,
     ["profile", "documents:read", "documents:write"], ["profile", "documents:read"]),
    ("refresh: client's scopes shrank since login", None, ["admin"], ["profile"],
     ["profile", "documents:read"], ["profile"]),
    ("refresh: requested scope the user lost now is dropped", "documents:read documents:write",
     ["viewer"], ALL, ["documents:read", "documents:write"], ["documents:read"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("requested", "roles", "client", "ceiling", "expected"),
    [case[1:] for case in GRANTS],
    ids=[case[0] for case in GRANTS],
)
def test_grant(policy, requested, roles, client, ceiling, expected):
    requested = parse_scope(requested) if isinstance(requested, str) else requested
    client = None if client is ALL else client
    assert grant_scopes(policy, requested, roles, client, ceiling) == expected


REFUSALS = [
    # id, requested, roles, client scopes, ceiling, description contains
    ("unknown scope is named", "profile reports:read", ["admin"], ALL, None,
     "unknown scope: reports:read"),
    ("unknown scope refused even when the user has none", "nope", [], ALL, None,
     "unknown scope: nope"),
    ("wildcards are not requestable", "documents:*", ["admin"], ALL, None,
     "unknown scope: documents:*"),
    ("nothing left: user lacks every requested scope", "audit:read", ["viewer"], ALL, None,
     "none of the requested scopes can be granted"),
    ("nothing left: client may not have it", "audit:read", ["admin"], ["profile"], None,
     "none of the requested scopes can be granted"),
    ("nothing left: user has no roles, none asked", None, [], ALL, None,
     "no scope can be granted"),
    ("nothing left: user holds only unknown roles", None, ["ghost"], ALL, None,
     "no scope can be granted"),
    ("nothing left: client and user disjoint, none asked", None, ["viewer"], ["audit:read"],
     None, "no scope can be granted"),
    ("refresh: widening beyond the ceiling is named", "profile documents:write", ["admin"],
     ALL, ["profile"], "scope not originally granted: documents:write"),
    ("refresh: widening refused even if the user could have it now", "audit:read", ["admin"],
     ALL, ["profile", "documents:read"], "scope not originally granted: audit:read"),
    ("refresh: nothing left of the ceiling", None, ["viewer"], ALL, ["audit:read"],
     "no scope can be granted"),
    ("refresh: unknown scope beats widening", "nope", ["admin"], ALL, ["profile"],
     "unknown scope: nope"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("requested", "roles", "client", "ceiling", "message"),
    [case[1:] for case in REFUSALS],
    ids=[case[0] for case in REFUSALS],
)
def test_grant_refused_with_invalid_scope(policy, requested, roles, client, ceiling, message):
    requested = parse_scope(requested) if isinstance(requested, str) else requested
    client = None if client is ALL else client
    with pytest.raises(InvalidScope) as excinfo:
        grant_scopes(policy, requested, roles, client, ceiling)
    assert message in excinfo.value.description
    assert excinfo.value.error == "invalid_scope"
    assert ERROR_DESCRIPTION.fullmatch(excinfo.value.description)


def test_grant_refuses_malformed_tokens_passed_without_parse_scope(policy):
    with pytest.raises(InvalidScope) as excinfo:
        grant_scopes(policy, ['profile"'], ["admin"], None)
    assert ERROR_DESCRIPTION.fullmatch(excinfo.value.description)


def test_grant_accepts_any_iterables(policy):
    granted = grant_scopes(
        policy, iter(["profile"]), (r for r in ["viewer"]), frozenset(["profile"]), {"profile"}
    )
    assert granted == ["profile"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("   ", None),
        ("profile", ["profile"]),
        ("profile documents:read", ["profile", "documents:read"]),
        ("b a b a", ["b", "a"]),
        ("a  b ", ["a", "b"]),
        ("!#[]~", ["!#[]~"]),
    ],
)
def test_parse_scope(value, expected):
    assert parse_scope(value) == expected


@pytest.mark.parametrize("value", ['a"b', "a\\b", "a\tb", "café", "a\nb", "a\x7fb"])
def test_parse_scope_rejects_tokens_outside_rfc6749_syntax(value):
    with pytest.raises(InvalidScope) as excinfo:
        parse_scope(f"profile {value}")
    assert "malformed scope" in excinfo.value.description
    assert ERROR_DESCRIPTION.fullmatch(excinfo.value.description)  # the token is not echoed
