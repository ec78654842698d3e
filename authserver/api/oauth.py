"""POST /oauth/token: Authlib answers, after our checks on the raw request."""

from __future__ import annotations

from flask import Blueprint, Flask, Response, request
from werkzeug.exceptions import BadRequest

from authserver.errors import oauth_error_response
from authserver.oauth2.request_checks import RequestRejected, check_form_request
from authserver.state import state

bp = Blueprint("oauth", __name__, url_prefix="/oauth")


def rejection_response(exc: RequestRejected) -> Response:
    response = oauth_error_response(exc.status, exc.error, exc.description)
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="authserver"'
    return response


@bp.post("/token")
def token() -> Response:
    try:
        check_form_request(request)
    except RequestRejected as exc:
        return rejection_response(exc)
    except BadRequest:
        return oauth_error_response(400, "invalid_request", "the body is not a valid form")
    return state().authorization_server.create_token_response()


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
