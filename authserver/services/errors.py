"""The one error tree: every failure we answer on purpose is a :class:`ServiceError`.

Each class carries its HTTP status and a human title (RFC 9110's reason phrase, or a more
specific one such as "Invalid policy"); the instance carries a detail that is safe to show
to whoever asked, and any extra members (``errors``, ``current_version``...). Services
raise these without knowing who asked: the CLI prints the detail as one line; the web
layer renders the same error as an RFC 9457 problem under /admin, RFC 6749 §5.2 JSON at
the OAuth endpoints and RFC 6750 JSON at resource routes (``authserver.web.errors``).
"""

from __future__ import annotations


class ServiceError(Exception):
    """Base class: ``status``, ``title``, a safe ``detail`` and extra ``members()``.

    ``error`` is a protocol error code (RFC 6749 §5.2, RFC 6750 §3.1) when the raiser
    chose one; renderers that need a code derive it otherwise.
    """

    status: int = 400
    title: str = "Bad Request"
    error: str | None = None

    def __init__(self, detail: str = "", **extra: object) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.extra = extra

    def members(self) -> dict[str, object]:
        """Extra members of the problem body, beside type, title, status and detail."""
        return dict(self.extra)

    def headers(self) -> dict[str, str]:
        """Response headers the error implies (a challenge, Retry-After)."""
        return {}


class BadRequest(ServiceError):
    status, title = 400, "Bad Request"


class Unauthorized(ServiceError):
    status, title = 401, "Unauthorized"


class Forbidden(ServiceError):
    status, title = 403, "Forbidden"


class NotFound(ServiceError):
    status, title = 404, "Not Found"


class Conflict(ServiceError):
    status, title = 409, "Conflict"


class PreconditionFailed(ServiceError):
    """The write was based on a state that is no longer current (RFC 9110 §15.5.13)."""

    status, title = 412, "Precondition Failed"


class UnsupportedMediaType(ServiceError):
    status, title = 415, "Unsupported Media Type"


class Invalid(ServiceError):
    """Well-formed but unacceptable content (RFC 9110 §15.5.21)."""

    status, title = 422, "Unprocessable Content"


class PreconditionRequired(ServiceError):
    """A write without the precondition it must carry (RFC 6585 §3)."""

    status, title = 428, "Precondition Required"


class InternalError(ServiceError):
    """A bug: the detail is generic on purpose, the traceback goes to the log only."""

    status, title = 500, "Internal Server Error"

    def __init__(self, detail: str = "The server could not complete the request.") -> None:
        super().__init__(detail)


class Unavailable(ServiceError):
    """A backing service (database, Redis) is down: the request may be retried shortly.

    The message names what is down, for the log and the CLI; an HTTP answer shows only
    :data:`RETRY_DETAIL` with ``Retry-After``.
    """

    status, title = 503, "Service Unavailable"
    RETRY_DETAIL = "The service is temporarily unavailable; retry shortly."
    RETRY_AFTER = 5

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.RETRY_AFTER)}
