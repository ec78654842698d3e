"""Errors raised by services; the CLI prints them as one line, the admin API as problems."""


class ServiceError(Exception):
    """Base class: the message is safe to show to the operator who asked."""

    status = 400


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    status = 409


class Invalid(ServiceError):
    status = 422


class Unavailable(ServiceError):
    """A backing service (database, Redis) is down: the request may be retried shortly."""

    status = 503
