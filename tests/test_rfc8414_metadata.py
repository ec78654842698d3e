"""RFC 8414 authorization server metadata and the public JWKS it points at."""

from __future__ import annotations

import jwt
import pytest
import requests
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from oauthlib.oauth2 import LegacyApplicationClient
from requests_oauthlib import OAuth2Session

from authserver.extensions import db
from authserver.models import PolicyVersion
from authserver.oauth2.grants import PasswordGrant, RefreshGrant
from authserver.services import policy_store
from tests.conftest import PASSWORD
from tests.support.policy import ALL_SPEC_SCOPES

METADATA_PATH = "/.well-known/oauth-authorization-server"
PUBLIC_MEMBERS = {"kty", "kid", "use", "alg", "n", "e", "crv", "x", "y"}
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}
POLICY_SCOPES = ALL_SPEC_SCOPES  # the default policy's scopes, in document order


@pytest.fixture
def metadata(client) -> dict:
    response = client.get(METADATA_PATH)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.get_json()


def test_metadata_names_issuer_and_endpoints_under_it(app, metadata) -> None:
    issuer = app.config["ISSUER"]

    assert metadata["issuer"] == issuer
    assert metadata["token_endpoint"] == f"{issuer}/oauth/token"
    assert metadata["jwks_uri"] == f"{issuer}/.well-known/jwks.json"


def test_metadata_lists_what_the_token_endpoint_accepts(metadata) -> None:
    assert metadata["grant_types_supported"] == ["password", "refresh_token", "client_credentials"]
    assert set(metadata["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
        "none",
    }
    assert (
        set(metadata["token_endpoint_auth_methods_supported"])
        == set(PasswordGrant.TOKEN_ENDPOINT_AUTH_METHODS)
        == set(RefreshGrant.TOKEN_ENDPOINT_AUTH_METHODS)
    )
    assert metadata["response_types_supported"] == []
    assert metadata["access_token_signing_alg_values_supported"] == ["RS256"]


def test_metadata_is_valid_per_authlib_rfc8414_except_response_types(metadata) -> None:
    """Every RFC 8414 rule Authlib checks, but one: with no authorization endpoint the
    honest ``response_types_supported`` is empty, which Authlib reads as missing."""
    document = AuthorizationServerMetadata(metadata)
    validators = [name for name in dir(document) if name.startswith("validate_")]
    assert len(validators) > 20
    for name in validators:
        if name not in {"validate", "validate_response_types_supported"}:
            getattr(document, name)()


def test_metadata_scopes_supported_is_the_live_policy(metadata) -> None:
    assert metadata["scopes_supported"] == POLICY_SCOPES


def test_metadata_scopes_follow_a_new_policy_version(client) -> None:
    source = db.session.get(PolicyVersion, 1).source.replace(
        "  audit:read: Read the audit trail\n",
        "  audit:read: Read the audit trail\n  reports:read: Read reports\n",
    )
    source = source.replace("scopes: [profile, documents:read]", "scopes: [profile, reports:read]")
    policy_store.save_version(source, actor="test")

    scopes = client.get(METADATA_PATH).get_json()["scopes_supported"]

    assert scopes == [*POLICY_SCOPES, "reports:read"]


def test_metadata_advertises_only_endpoints_the_app_serves(app, metadata) -> None:
    issuer = app.config["ISSUER"]
    served = {rule.rule for rule in app.url_map.iter_rules() if "POST" in rule.methods}
    for name in ("token_endpoint", "revocation_endpoint", "introspection_endpoint"):
        if name in metadata:
            assert metadata[name].startswith(issuer)
            assert metadata[name].removeprefix(issuer) in served, name


def test_metadata_is_cacheable_json(client) -> None:
    response = client.get(METADATA_PATH)

    assert "no-store" not in response.headers.get("Cache-Control", "")
    assert response.headers["Content-Type"].startswith("application/json")


# --- JWKS ---------------------------------------------------------------------------------------


def test_jwks_has_only_public_members(client) -> None:
    response = client.get("/.well-known/jwks.json")

    assert response.status_code == 200
    keys = response.get_json()["keys"]
    assert keys
    for key in keys:
        assert set(key) <= PUBLIC_MEMBERS, key
        assert not set(key) & PRIVATE_MEMBERS
        assert key["use"] == "sig"
        assert key["alg"] == "RS256"
        assert key["kid"]
    assert len({key["kid"] for key in keys}) == len(keys)


def test_jwks_has_no_private_member_anywhere_in_the_document(client) -> None:
    text = client.get("/.well-known/jwks.json").get_data(as_text=True)

    for member in PRIVATE_MEMBERS:
        assert f'"{member}"' not in text


# --- discovery against a real server -------------------------------------------------------


def test_client_library_discovers_and_uses_the_endpoints(
    live_server, make_user, oauth_client, monkeypatch
) -> None:
    """requests-oauthlib's LegacyApplicationClient, driven only by the metadata document."""
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # plain http on loopback
    make_user("alice", ["viewer"])
    document = requests.get(live_server.url + METADATA_PATH, timeout=10).json()
    assert document["issuer"] == live_server.url
    session = OAuth2Session(client=LegacyApplicationClient(client_id=oauth_client.client_id))

    token = session.fetch_token(
        token_url=document["token_endpoint"],
        username="alice",
        password=PASSWORD,
        client_id=oauth_client.client_id,
        client_secret=oauth_client.secret,
    )
    refreshed = session.refresh_token(
        document["token_endpoint"],
        auth=(oauth_client.client_id, oauth_client.secret),
    )

    assert token["scope"] == ["profile", "documents:read"]
    assert refreshed["refresh_token"] != token["refresh_token"]
    jwks = requests.get(document["jwks_uri"], timeout=10).json()

    kid = jwt.get_unverified_header(refreshed["access_token"])["kid"]
    assert kid in {key["kid"] for key in jwks["keys"]}
    me = session.get(live_server.url + "/api/me", timeout=10)
    assert me.status_code == 200
    assert me.json()["username"] == "alice"
