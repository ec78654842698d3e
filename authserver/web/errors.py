"""JSON errors for every failure: RFC 6749 §5.2 under /oauth, RFC 9457 under /admin, else JSON.

No request, however malformed, may get Werkzeug's HTML page or a traceback.
"""

from __future__ import annotations

from flask import Flask, Response, jsonify, request
from limits.errors import StorageError
from redis.exceptions import RedisError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable

from authserver.services.errors import ServiceError

PROBLEM_TYPE = "about:blank"


class ProblemError(Exception):
    """An RFC 9457 problem raised by admin views: status, title, detail and extra members."""

    def __init__(self, status: int, title: str, detail: str = "", **extra: object) -> None:
        super().__init__(detail or title)
        self.status, self.title, self.detail, self.extra = status, title, detail, extra


def problem_response(status: int, title: str, detail: str = "", **extra: object) -> Response:
    body = {"type": PROBLEM_TYPE, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    return response


def oauth_error_response(status: int, error: str, description: str = "") -> Response:
    body = {"error": error}
    if description:
        body["error_description"] = description
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def _error_code(exc: HTTPException) -> str:
    if request.path.startswith("/oauth/") and exc.code == 503:
        return "temporarily_unavailable"
    if request.path.startswith("/oauth/") and (exc.code or 500) < 500:
        return "invalid_request"
    return (exc.name or "error").lower().replace(" ", "_").replace("'", "")


def _handle_http(exc: HTTPException) -> Response:
    status = exc.code or 500
    if request.path.startswith("/admin"):
        response = problem_response(status, exc.name, exc.description or "")
    else:
        response = oauth_error_response(status, _error_code(exc), exc.description or "")
    for name, value in exc.get_headers():
        if name.lower() not in {"content-type", "content-length"}:
            response.headers[name] = value
    return response


def _unavailable(what: str) -> Response:
    """503 with Retry-After: the request was not carried out and may be retried."""
    from flask import current_app

    current_app.logger.error("%s unavailable", what)
    return _handle_http(
        ServiceUnavailable("The service is temporarily unavailable; retry shortly.", retry_after=5)
    )


def _handle_database_down(exc: OperationalError) -> Response:
    return _unavailable(f"database ({type(exc.orig).__name__})")


def _handle_redis_down(exc: Exception) -> Response:
    return _unavailable(f"redis ({type(exc).__name__})")


def _handle_service_error(exc: ServiceError) -> Response:
    if exc.status == 503:
        return _unavailable(str(exc))
    if request.path.startswith("/admin"):
        return problem_response(exc.status, type(exc).__name__, str(exc))
    return oauth_error_response(exc.status, "invalid_request", str(exc))


def _handle_unexpected(exc: Exception) -> Response:
    from flask import current_app

    current_app.logger.exception("unhandled error on %s %s", request.method, request.path)
    return _handle_http(InternalServerError("The server could not complete the request."))


def _handle_problem(exc: ProblemError) -> Response:
    return problem_response(exc.status, exc.title, exc.detail, **exc.extra)


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, _handle_http)
    app.register_error_handler(ProblemError, _handle_problem)
    app.register_error_handler(OperationalError, _handle_database_down)
    app.register_error_handler(ServiceError, _handle_service_error)
    app.register_error_handler(RedisError, _handle_redis_down)
    app.register_error_handler(StorageError, _handle_redis_down)
    app.register_error_handler(Exception, _handle_unexpected)
