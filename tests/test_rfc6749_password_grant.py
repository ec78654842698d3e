"""The resource owner password credentials grant (RFC 6749 §4.3) at POST /oauth/token.

Access tokens are checked with PyJWT against the published JWKS, not with our own decoder,
so a token that only our code could read would fail here.
"""

from __future__ import annotations

import base64

import jwt
import pytest
from argon2 import PasswordHasher, Type

from authserver.extensions import db
from authserver.models import User
from authserver.services import clients, policy_store, users
from tests.conftest import PASSWORD, basic_auth
from tests.support.policy_text import without_tests

TOKEN_KEYS = {"access_token", "token_type", "expires_in", "scope", "refresh_token"}


def password_form(username: str = "alice", password: str = PASSWORD, **extra) -> dict:
    return {"grant_type": "password", "username": username, "password": password, **extra}


def verified_claims(client, app, access_token: str) -> tuple[dict, dict]:
    """The JWT's header and claims, verified with PyJWT against /.well-known/jwks.json."""
    header = jwt.get_unverified_header(access_token)
    jwks = jwt.PyJWKSet.from_dict(client.get("/.well-known/jwks.json").get_json())
    key = next(k for k in jwks.keys if k.key_id == header.get("kid"))
    claims = jwt.decode(
        access_token,
        key.key,
        algorithms=["RS256"],
        audience=app.config["AUDIENCE"],
        issuer=app.config["ISSUER"],
        options={"require": ["exp", "iat", "jti", "sub"]},
    )
    return header, claims


# --- success -------------------------------------------------------------------------------


def test_password_grant_success_has_rfc6749_shape_and_no_store(
    app, make_user, token_request
) -> None:
    make_user("alice", ["viewer"])

    response = token_request(**password_form())

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"
    body = response.get_json()
    assert set(body) == TOKEN_KEYS
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == app.config["ACCESS_TOKEN_TTL"]
    assert body["scope"] == "profile documents:read"


def test_password_grant_refresh_token_has_at_least_256_random_bits(
    make_user, token_request
) -> None:
    make_user("alice")

    first = token_request(**password_form()).get_json()["refresh_token"]
    second = token_request(**password_form()).get_json()["refresh_token"]

    raw = base64.urlsafe_b64decode(first + "=" * (-len(first) % 4))
    assert len(raw) * 8 >= 256
    assert first != second


def test_password_grant_access_token_is_rfc9068_jwt_with_identity_claims(
    app, client, make_user, oauth_client, token_request
) -> None:
    user = make_user("alice", ["editor"])

    body = token_request(**password_form()).get_json()
    header, claims = verified_claims(client, app, body["access_token"])

    assert header["typ"] == "at+jwt"
    assert header["alg"] == "RS256"
    assert header["kid"] == client.get("/.well-known/jwks.json").get_json()["keys"][0]["kid"]
    assert claims["iss"] == app.config["ISSUER"]
    assert claims["aud"] == app.config["AUDIENCE"]
    assert claims["sub"] == str(user.id)
    assert claims["client_id"] == oauth_client.client_id
    assert claims["scope"] == body["scope"] == "profile documents:read documents:write"
    assert claims["username"] == "alice"
    assert claims["roles"] == ["editor"]
    assert claims["exp"] - claims["iat"] == app.config["ACCESS_TOKEN_TTL"]
    assert len(claims["jti"]) >= 16


@pytest.fixture
def short_access_ttl(settings) -> int:
    """Asked for before ``app``, so the app is built with it."""
    settings["ACCESS_TOKEN_TTL"] = 120
    return 120


def test_password_grant_access_token_ttl_follows_setting(
    short_access_ttl, app, client, make_user, token_request
) -> None:
    make_user("alice")

    body = token_request(**password_form()).get_json()
    _, claims = verified_claims(client, app, body["access_token"])

    assert body["expires_in"] == 120
    assert claims["exp"] - claims["iat"] == 120


def test_password_grant_each_token_has_a_fresh_jti(app, client, make_user, token_request):
    make_user("alice")

    tokens = [token_request(**password_form()).get_json()["access_token"] for _ in range(2)]

    jtis = {verified_claims(client, app, token)[1]["jti"] for token in tokens}
    assert len(jtis) == 2


# --- client authentication -----------------------------------------------------------------


@pytest.fixture
def public_client(app):
    client, secret = clients.create("spa", ["password", "refresh_token"], public=True)
    assert secret is None
    return client


def client_auth(method: str, client_id: str, secret: str | None) -> tuple[dict, dict]:
    """(headers, extra form fields) for a client authentication method."""
    if method == "client_secret_basic":
        return basic_auth(client_id, secret), {}
    if method == "client_secret_post":
        return {}, {"client_id": client_id, "client_secret": secret}
    return {}, {"client_id": client_id}


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_confidential_client_authenticates_with_secret_method(
    client, make_user, oauth_client, method
) -> None:
    make_user("alice")
    headers, extra = client_auth(method, oauth_client.client_id, oauth_client.secret)

    response = client.post("/oauth/token", data=password_form(**extra), headers=headers)

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["token_type"] == "Bearer"


def test_public_client_authenticates_with_none(client, make_user, public_client) -> None:
    make_user("alice")

    response = client.post("/oauth/token", data=password_form(client_id=public_client.client_id))

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["refresh_token"]


@pytest.mark.parametrize(
    "method, secret",
    [
        ("client_secret_basic", "anything"),
        ("client_secret_post", "anything"),
        ("client_secret_basic", ""),
    ],
)
def test_public_client_with_secret_method_is_invalid_client(
    client, make_user, public_client, method, secret
) -> None:
    make_user("alice")
    headers, extra = client_auth(method, public_client.client_id, secret)

    response = client.post("/oauth/token", data=password_form(**extra), headers=headers)

    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"


def test_confidential_client_without_secret_is_invalid_client(
    client, make_user, oauth_client
) -> None:
    make_user("alice")

    response = client.post("/oauth/token", data=password_form(client_id=oauth_client.client_id))

    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    "method, expect_challenge",
    [("client_secret_basic", True), ("client_secret_post", False)],
)
def test_wrong_client_secret_is_401_invalid_client(
    client, make_user, oauth_client, method, expect_challenge
) -> None:
    make_user("alice")
    headers, extra = client_auth(method, oauth_client.client_id, oauth_client.secret + "x")

    response = client.post("/oauth/token", data=password_form(**extra), headers=headers)

    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"
    assert response.headers["Cache-Control"] == "no-store"
    if expect_challenge:
        assert response.headers["WWW-Authenticate"].lower().startswith("basic")


@pytest.mark.parametrize(
    "client_id",
    ["no-such-client", "x" * 5000, "nul\x00byte", "ünïcödé"],
    ids=["unknown", "very-long", "nul-byte", "non-ascii"],
)
def test_unknown_client_id_is_401_invalid_client(client, make_user, client_id) -> None:
    make_user("alice")

    response = client.post(
        "/oauth/token", data=password_form(), headers=basic_auth(client_id, "secret")
    )

    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"


def test_client_without_password_grant_is_unauthorized_client(client, make_user) -> None:
    make_user("alice")
    refresh_only, secret = clients.create("refresh only", ["refresh_token"])

    response = client.post(
        "/oauth/token",
        data=password_form(),
        headers=basic_auth(refresh_only.client_id, secret),
    )

    assert response.status_code == 400
    assert response.get_json()["error"] == "unauthorized_client"


# --- resource owner authentication ---------------------------------------------------------


def test_wrong_password_unknown_user_and_disabled_user_get_identical_answers(
    make_user, token_request
) -> None:
    make_user("alice")
    make_user("bob")
    users.set_disabled("bob", True)

    answers = [
        token_request(**password_form("alice", "wrong password")),
        token_request(**password_form("nobody")),
        token_request(**password_form("bob")),
    ]

    assert [a.status_code for a in answers] == [400, 400, 400]
    assert answers[0].get_json()["error"] == "invalid_grant"
    assert answers[0].get_data() == answers[1].get_data() == answers[2].get_data()
    assert {a.headers["Cache-Control"] for a in answers} == {"no-store"}


@pytest.mark.parametrize(
    "username, password",
    [
        ("alice", "p" * 60_000),
        ("a" * 60_000, PASSWORD),
        ("al\x00ice", PASSWORD),
        ("alice", "pass\x00word"),
        ("ålice", PASSWORD),
        ("", PASSWORD),
        ("alice", ""),
    ],
    ids=[
        "long-password",
        "long-username",
        "nul-in-username",
        "nul-in-password",
        "non-ascii-username",
        "empty-username",
        "empty-password",
    ],
)
def test_odd_credentials_are_invalid_grant_not_500(
    make_user, token_request, username, password
) -> None:
    make_user("alice")

    response = token_request(**password_form(username, password))

    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_grant"


@pytest.mark.parametrize("missing", ["username", "password"])
def test_missing_credential_parameter_is_invalid_request(
    make_user, token_request, missing
) -> None:
    make_user("alice")
    form = password_form()
    del form[missing]

    response = token_request(**form)

    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


def test_password_grant_non_ascii_password_round_trips(make_user, token_request) -> None:
    make_user("alice", password="pässwörd 🔑")

    response = token_request(**password_form(password="pässwörd 🔑"))

    assert response.status_code == 200, response.get_json()


# --- rehash at login (SPEC §10) --------------------------------------------------------------

OTHER_HASHERS = {
    "more-time": PasswordHasher(time_cost=2, memory_cost=8, parallelism=1),
    "more-memory": PasswordHasher(time_cost=1, memory_cost=16, parallelism=1),
    "argon2i": PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, type=Type.I),
}


def stored_hash(username: str) -> str:
    db.session.expire_all()
    return users.get(username).password_hash


def store_hash(username: str, value: str) -> None:
    users.get(username).password_hash = value
    db.session.commit()


@pytest.mark.parametrize("hasher", OTHER_HASHERS.values(), ids=OTHER_HASHERS.keys())
def test_login_rehashes_a_hash_with_other_parameters(
    app, make_user, token_request, hasher
) -> None:
    make_user("alice")
    old = hasher.hash(PASSWORD)
    store_hash("alice", old)

    response = token_request(**password_form())

    assert response.status_code == 200, response.get_json()
    new = stored_hash("alice")
    assert new != old
    assert new.startswith("$argon2id$v=19$m=8,t=1,p=1$")
    assert token_request(**password_form()).status_code == 200


def test_failed_login_leaves_an_old_hash_alone(make_user, token_request) -> None:
    make_user("alice")
    old = OTHER_HASHERS["more-time"].hash(PASSWORD)
    store_hash("alice", old)

    response = token_request(**password_form(password="wrong"))

    assert response.status_code == 400
    assert stored_hash("alice") == old


def test_login_with_current_parameters_keeps_the_hash(make_user, token_request) -> None:
    make_user("alice")
    before = stored_hash("alice")

    assert token_request(**password_form()).status_code == 200

    assert stored_hash("alice") == before


def test_user_model_never_holds_the_plaintext_password(make_user) -> None:
    make_user("alice")

    row = db.session.execute(db.select(User.password_hash)).scalar_one()

    assert PASSWORD not in row
    assert row.startswith("$argon2id$")


# --- granting rule (SPEC §7): requested ∩ roles ∩ client scopes --------------------------------

ADMIN_SCOPES = (
    "profile documents:read documents:write documents:delete policies:read policies:write "
    "users:read users:write clients:read clients:write audit:read"
)


@pytest.mark.parametrize(
    "roles, requested, granted",
    [
        (["viewer"], None, "profile documents:read"),
        (["editor"], None, "profile documents:read documents:write"),
        (["admin"], None, ADMIN_SCOPES),
        (["viewer"], "documents:read", "documents:read"),
        (["viewer"], "documents:read documents:write", "documents:read"),
        (["viewer"], "documents:read profile", "profile documents:read"),
        (["viewer"], "profile  profile", "profile"),
        (["editor"], "documents:write", "documents:write"),
        (["viewer", "editor"], "documents:write", "documents:write"),
    ],
    ids=[
        "none-asked-viewer",
        "none-asked-editor-inherits",
        "none-asked-admin-wildcards",
        "subset",
        "unheld-scope-dropped",
        "declared-order",
        "duplicates-and-spaces",
        "own-scope",
        "several-roles",
    ],
)
def test_password_grant_grants_requested_and_held_scopes(
    app, client, make_user, token_request, roles, requested, granted
) -> None:
    make_user("alice", roles)
    extra = {"scope": requested} if requested is not None else {}

    response = token_request(**password_form(**extra))

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["scope"] == granted
    assert verified_claims(client, app, body["access_token"])[1]["scope"] == granted


@pytest.mark.parametrize(
    "roles, requested",
    [
        (["viewer"], "reports:read"),
        (["admin"], "documents:read reports:read"),
        (["admin"], "documents:*"),
        (["viewer"], "documents:write"),
        (["viewer"], "documents:write audit:read"),
        ([], None),
        ([], "profile"),
        (["viewer"], 'bad"scope'),
        (["viewer"], "caf\u00e9"),
    ],
    ids=[
        "undeclared",
        "undeclared-beside-declared",
        "wildcard-is-not-a-request",
        "only-unheld",
        "several-unheld",
        "no-roles-none-asked",
        "no-roles",
        "rfc6749-3.3-syntax",
        "non-ascii",
    ],
)
def test_password_grant_without_grantable_scope_is_invalid_scope(
    make_user, token_request, roles, requested
) -> None:
    make_user("alice", roles)
    extra = {"scope": requested} if requested is not None else {}

    response = token_request(**password_form(**extra))

    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_scope"
    assert not db.session.execute(db.text("SELECT count(*) FROM refresh_families")).scalar()


@pytest.mark.parametrize(
    "roles, requested, granted",
    [
        (["editor"], None, "documents:read documents:write"),
        (["admin"], None, "documents:read documents:write"),
        (["viewer"], None, "documents:read"),
        (["editor"], "documents:write", "documents:write"),
        (["editor"], "profile documents:read", "documents:read"),
    ],
    ids=["editor", "admin", "viewer-lacks-write", "subset", "outside-client-dropped"],
)
def test_restricted_client_grants_only_its_scopes(
    client, make_user, roles, requested, granted
) -> None:
    make_user("alice", roles)
    restricted, secret = clients.create(
        "docs app", ["password", "refresh_token"], scope="documents:read documents:write"
    )
    extra = {"scope": requested} if requested is not None else {}

    response = client.post(
        "/oauth/token",
        data=password_form(**extra),
        headers=basic_auth(restricted.client_id, secret),
    )

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["scope"] == granted


def test_restricted_client_asking_only_outside_its_scopes_is_invalid_scope(
    client, make_user
) -> None:
    make_user("alice", ["admin"])
    restricted, secret = clients.create("docs app", ["password"], scope="documents:read")

    response = client.post(
        "/oauth/token",
        data=password_form(scope="audit:read"),
        headers=basic_auth(restricted.client_id, secret),
    )

    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_scope"


def test_password_grant_issues_from_the_newest_policy_version(make_user, token_request) -> None:
    make_user("alice", ["viewer"])
    assert token_request(**password_form()).get_json()["scope"] == "profile documents:read"
    # viewers reading the audit trail breaks a shipped policy test (SPEC §14): drop them
    source = without_tests(policy_store.live_source()).replace(
        "scopes: [profile, documents:read]", "scopes: [profile, documents:read, audit:read]"
    )
    policy_store.save_version(source, actor="test")

    response = token_request(**password_form())

    assert response.get_json()["scope"] == "profile documents:read audit:read"


# --- refresh tokens only for clients that may refresh ---------------------------------------


def test_client_without_refresh_grant_gets_no_refresh_token(client, make_user) -> None:
    make_user("alice")
    password_only, secret = clients.create("password only", ["password"])

    response = client.post(
        "/oauth/token",
        data=password_form(),
        headers=basic_auth(password_only.client_id, secret),
    )

    assert response.status_code == 200, response.get_json()
    assert "refresh_token" not in response.get_json()
    assert not db.session.execute(db.text("SELECT count(*) FROM refresh_families")).scalar()
