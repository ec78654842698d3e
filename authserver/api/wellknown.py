"""RFC 8414 authorization server metadata and the public JWKS."""

from __future__ import annotations

from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from flask import Blueprint, Flask, Response, current_app, jsonify

from authserver.config import JWKS_MAX_AGE
from authserver.models.client import CLIENT_AUTH_METHODS, GRANT_TYPES
from authserver.resource import dpop
from authserver.services import policy_store
from authserver.state import state

bp = Blueprint("wellknown", __name__, url_prefix="/.well-known")

# Listed only when the app serves them (view endpoint name -> path).
OPTIONAL_ENDPOINTS = {"revocation": "/oauth/revoke", "introspection": "/oauth/introspect"}


class Metadata(AuthorizationServerMetadata):
    """Authlib's RFC 8414 validator, except that no response type is a valid answer.

    This server has no authorization endpoint (no grant it serves needs one), so the
    honest value of ``response_types_supported`` is an empty list.
    """

    def validate_response_types_supported(self) -> None:
        if not isinstance(self.get("response_types_supported"), list):
            raise ValueError('"response_types_supported" MUST be a JSON array')


def metadata(issuer: str, scopes: list[str], algorithms: list[str], endpoints: set[str]) -> dict:
    """The RFC 8414 document, checked with Authlib's validator."""
    document = Metadata(
        issuer=issuer,
        token_endpoint=f"{issuer}/oauth/token",
        jwks_uri=f"{issuer}/.well-known/jwks.json",
        grant_types_supported=list(GRANT_TYPES),
        response_types_supported=[],
        token_endpoint_auth_methods_supported=CLIENT_AUTH_METHODS,
        scopes_supported=scopes,
        access_token_signing_alg_values_supported=sorted(set(algorithms)),
        dpop_signing_alg_values_supported=list(dpop.ALGORITHMS),  # RFC 9449 §5.1
    )
    for name, path in OPTIONAL_ENDPOINTS.items():
        if name in endpoints:
            document[f"{name}_endpoint"] = issuer + path
            document[f"{name}_endpoint_auth_methods_supported"] = CLIENT_AUTH_METHODS
    document.validate()
    return dict(document)


@bp.get("/oauth-authorization-server")
def authorization_server() -> Response:
    _, policy = policy_store.live_policy()
    issuer = current_app.config["ISSUER"]
    served = {name for name in OPTIONAL_ENDPOINTS if f"oauth.{name}" in current_app.view_functions}
    keys = state().keys
    keys.reload_if_changed()
    document = metadata(issuer, list(policy.scopes), keys.algorithms, served)
    if "changes.changes" in current_app.view_functions:  # the live change feed (SPEC §18)
        document["changes_endpoint"] = f"{issuer}/oauth/changes"
    response = jsonify(document)
    response.headers["Cache-Control"] = "public, max-age=60"
    return response


@bp.get("/jwks.json")
def jwks() -> Response:
    """The active key, keys published ahead of signing, retired keys still trusted (SPEC
    §13). AUTHSERVER_KEY_PUBLISH_SECONDS outlasts this max-age, so a cache never lacks the
    key of a token."""
    keys = state().keys
    keys.reload_if_changed()
    response = jsonify(keys.public_jwks())
    response.headers["Cache-Control"] = f"public, max-age={JWKS_MAX_AGE}"
    return response


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
