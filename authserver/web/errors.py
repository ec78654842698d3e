"""JSON answers for every failure, in the format of the part of the API that failed.

Every failure becomes a :class:`~authserver.services.errors.ServiceError` (Werkzeug's
HTTP errors, database and Redis outages and bugs included) and is rendered by the renderer
its blueprint registered with :func:`render_errors_with`: RFC 9457 problems for the admin
API, RFC 6749 §5.2 JSON for the OAuth endpoints, RFC 6750 JSON (the default) elsewhere.
A URL that matched no route has no blueprint: the blueprint mounted at its path answers.
No request, however malformed, may get Werkzeug's HTML page or a traceback.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from flask.sansio.blueprints import BlueprintSetupState
from limits.errors import StorageError
from redis.exceptions import RedisError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from authserver.services.errors import InternalError, ServiceError, Unavailable

PROBLEM_TYPE = "about:blank"
_RENDERERS = "authserver.error_renderers"

Renderer = Callable[[ServiceError], Response]


class HTTPError(ServiceError):
    """A Werkzeug HTTP error (404, 405, 413...) in the tree, keeping its headers (Allow)."""

    def __init__(self, exc: HTTPException) -> None:
        super().__init__(exc.description or "")
        self.status, self.title = exc.code or 500, exc.name
        self._headers = {
            name: value
            for name, value in exc.get_headers()
            if name.lower() not in {"content-type", "content-length"}
        }

    def headers(self) -> dict[str, str]:
        return self._headers


# -- the three formats --------------------------------------------------------------------


def problem_response(status: int, title: str, detail: str = "", **extra: object) -> Response:
    """An RFC 9457 problem: type, title, status, detail and extra members."""
    body = {"type": PROBLEM_TYPE, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    return response


def oauth_error_response(status: int, error: str, description: str = "") -> Response:
    """RFC 6749 §5.2 JSON, never cached."""
    body = {"error": error}
    if description:
        body["error_description"] = description
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def _with_headers(response: Response, exc: ServiceError) -> Response:
    response.headers.update(exc.headers())
    return response


def render_problem(exc: ServiceError) -> Response:
    """RFC 9457, for the admin API; a protocol code (a bearer-token rejection) is kept as
    the ``error`` member beside its RFC 6750 challenge header."""
    members = exc.members()
    if exc.error is not None:
        members = {**members, "error": exc.error}
    return _with_headers(problem_response(exc.status, exc.title, exc.detail, **members), exc)


def render_oauth(exc: ServiceError) -> Response:
    """RFC 6749 §5.2, for the OAuth endpoints: any client error is ``invalid_request``."""
    if exc.error is not None:
        error = exc.error
    elif exc.status == 503:
        error = "temporarily_unavailable"
    elif exc.status < 500:
        error = "invalid_request"
    else:
        error = _code(exc.title)
    return _with_headers(oauth_error_response(exc.status, error, exc.detail), exc)


def render_json(exc: ServiceError) -> Response:
    """RFC 6750 §3 style JSON, for resource routes and everything else: ``error`` is the
    protocol code when there is one (with its WWW-Authenticate challenge), else the title
    as a code (``not_found``)."""
    error = exc.error or _code(exc.title)
    return _with_headers(oauth_error_response(exc.status, error, exc.detail), exc)


def _code(title: str) -> str:
    return title.lower().replace(" ", "_").replace("'", "")


# -- who renders what ---------------------------------------------------------------------


def render_errors_with(bp: Blueprint, renderer: Renderer) -> None:
    """Answer failures of ``bp``'s routes (and unmatched URLs under its prefix) with
    ``renderer``; call before the blueprint is registered on an app."""

    def record(setup: BlueprintSetupState) -> None:
        renderers = setup.app.extensions.setdefault(_RENDERERS, {})
        name = f"{setup.name_prefix}.{setup.name}".lstrip(".")
        renderers[name] = (setup.url_prefix or "", renderer)

    bp.record_once(record)


def _renderer() -> Renderer:
    """The renderer of the request's blueprint; for a URL no route matched (a 404 or 405
    raised by routing, before any blueprint is known), the one of the blueprint mounted
    at that path."""
    renderers = current_app.extensions.get(_RENDERERS, {})
    for name in request.blueprints:
        if name in renderers:
            return renderers[name][1]
    if request.url_rule is None:
        path = request.path
        for prefix, renderer in renderers.values():
            if prefix and (path == prefix or path.startswith(prefix + "/")):
                return renderer
    return render_json


def render(exc: ServiceError) -> Response:
    """``exc`` in the format of the part of the API the request went to."""
    return _renderer()(exc)


# -- handlers -----------------------------------------------------------------------------


def _handle_http(exc: HTTPException) -> Response:
    return render(HTTPError(exc))


def _handle_service_error(exc: ServiceError) -> Response:
    if exc.status == 503:
        return _unavailable(str(exc))
    return render(exc)


def _unavailable(what: str) -> Response:
    """503 with Retry-After: the request was not carried out and may be retried."""
    current_app.logger.error("%s unavailable", what)
    return render(Unavailable(Unavailable.RETRY_DETAIL))


def _handle_database_down(exc: OperationalError) -> Response:
    return _unavailable(f"database ({type(exc.orig).__name__})")


def _handle_redis_down(exc: Exception) -> Response:
    return _unavailable(f"redis ({type(exc).__name__})")


def _handle_unexpected(exc: Exception) -> Response:
    current_app.logger.exception("unhandled error on %s %s", request.method, request.path)
    return render(InternalError())


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, _handle_http)
    app.register_error_handler(ServiceError, _handle_service_error)
    app.register_error_handler(OperationalError, _handle_database_down)
    app.register_error_handler(RedisError, _handle_redis_down)
    app.register_error_handler(StorageError, _handle_redis_down)
    app.register_error_handler(Exception, _handle_unexpected)
