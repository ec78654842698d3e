"""Issue 10 item 6: authenticated bodies and well-signed tokens of odd shapes are refused
as a 4xx, never a 500 (on SQLite and on PostgreSQL).

JSON nested deeper than the parser can go raised RecursionError (Flask's ``silent`` only
catches ValueError). Tokens signed with our own key but with a ``jti`` holding NUL or over
64 characters, or ``exp = 1e30``, reached PostgreSQL and failed there.
"""

from __future__ import annotations

import time

import pytest

from authserver.security import access_tokens
from authserver.state import state
from tests.support.http import bearer
from tests.support.tokens import make_claims, private_key, sign

DEPTHS = [5_000, 20_000]


def nested(depth: int) -> str:
    return '{"title": ' + "[" * depth + "]" * depth + ', "body": ""}'


@pytest.mark.parametrize("depth", DEPTHS)
def test_deeply_nested_json_document_is_400_not_500(client, make_token, depth):
    token = make_token("writer", ("editor",))
    response = client.post(
        "/api/documents",
        data=nested(depth),
        headers={**bearer(token), "Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert response.is_json


@pytest.mark.parametrize("depth", DEPTHS)
def test_deeply_nested_json_user_roles_is_422_problem_not_500(client, make_token, depth):
    token = make_token("root", ("admin",))
    body = '{"roles": ' + "[" * depth + "]" * depth + "}"
    response = client.put(
        "/admin/users/root/roles",
        data=body,
        headers={**bearer(token), "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/problem+json"


ODD_CLAIMS = {
    "jti_with_nul": {"jti": "a\x00b"},
    "jti_over_64": {"jti": "j" * 65},
    "jti_empty": {"jti": ""},
    "jti_not_text": {"jti": 7},
    "exp_1e30": {"exp": 1e30},
    "exp_huge_int": {"exp": 10**30},
    "iat_float": {"iat": time.time()},
    "sub_with_nul": {"sub": "1\x00"},
    "client_id_with_nul": {"client_id": "c\x00"},
}


@pytest.mark.parametrize("changes", ODD_CLAIMS.values(), ids=ODD_CLAIMS.keys())
def test_well_signed_token_with_odd_claim_shapes_is_401_invalid_token(
    client, app, signing_keys_file, changes
):
    claims = make_claims(app.config["ISSUER"], app.config["AUDIENCE"], **changes)
    token = sign(claims, private_key(signing_keys_file))
    response = client.get("/api/documents", headers=bearer(token))
    assert response.status_code == 401, response.get_data(as_text=True)[:300]
    assert response.get_json()["error"] == "invalid_token"


@pytest.mark.parametrize("changes", ODD_CLAIMS.values(), ids=ODD_CLAIMS.keys())
def test_claim_shapes_are_checked_by_the_verifier_itself(app, signing_keys_file, changes):
    """Without a lifetime bound too: the shape check alone refuses them, before any
    caller (live state, introspection, a database) sees the claims."""
    claims = make_claims(app.config["ISSUER"], app.config["AUDIENCE"], **changes)
    token = sign(claims, private_key(signing_keys_file))
    keys = state().keys
    assert access_tokens.decode(token, keys, app.config["ISSUER"], app.config["AUDIENCE"]) is None


def test_well_signed_token_of_normal_shape_still_passes(client, app, signing_keys_file):
    claims = make_claims(app.config["ISSUER"], app.config["AUDIENCE"], jti="j" * 64)
    token = sign(claims, private_key(signing_keys_file))
    assert client.get("/api/documents", headers=bearer(token)).status_code == 200
