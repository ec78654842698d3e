"""POST /oauth/token: Authlib answers, after our checks on the raw request."""

from __future__ import annotations

from collections.abc import Callable

from authlib.integrations.flask_oauth2 import AuthorizationServer
from flask import Blueprint, Flask, Response, current_app, request
from werkzeug.exceptions import BadRequest

from authserver.oauth2.request_checks import RequestRejected, check_form_request
from authserver.state import state
from authserver.web import metrics
from authserver.web.errors import render_errors_with, render_oauth
from authserver.web.forms import parse_urlencoded

bp = Blueprint("oauth", __name__, url_prefix="/oauth")
render_errors_with(bp, render_oauth)  # RFC 6749 §5.2 JSON, even for a 404 or 405 here


def _checked(respond: Callable[[AuthorizationServer], Response]) -> Response:
    """Run ``respond`` after our checks on the raw request; every answer is no-store.

    A rejection is rendered here rather than raised, so the token endpoint counts it.
    """
    # The request itself, not its proxy: the checks read a dozen of its attributes.
    real = request._get_current_object()  # type: ignore[attr-defined]
    try:
        parse_urlencoded(real, current_app.debug)  # the form Authlib reads, parsed once, fast
        check_form_request(real)
    except RequestRejected as exc:
        return render_oauth(exc)
    except BadRequest:
        return render_oauth(RequestRejected("invalid_request", "the body is not a valid form"))
    response = respond(state().authorization_server)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


@bp.post("/token")
def token() -> Response:
    response = _checked(lambda server: server.create_token_response())
    metrics.count_token_request(request.form.get("grant_type"), response)
    return response


@bp.post("/revoke", endpoint="revocation")
def revoke() -> Response:
    """RFC 7009: 200 for a revoked or an unknown token alike."""
    return _checked(lambda server: server.create_endpoint_response("revocation"))


@bp.post("/introspect", endpoint="introspection")
def introspect() -> Response:
    """RFC 7662: the token's claims when active, else exactly {"active": false}."""
    return _checked(lambda server: server.create_endpoint_response("introspection"))


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
