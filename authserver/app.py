"""The application factory: the one place that wires everything together."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy.exc import ArgumentError

from authserver import production
from authserver.config import PROJECT_ROOT, ConfigError, load_settings


def create_app(env: str | None = None, overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build an app for ``env`` (default AUTHSERVER_ENV or development) with ``overrides``.

    Raises ConfigError, with a one-line message naming the setting, on bad configuration.
    """
    settings = load_settings(env, overrides)
    production.check_settings(settings)
    app = Flask("authserver", instance_path=str(PROJECT_ROOT / "instance"), static_folder=None)
    app.config.update(settings)
    _configure_database(app)
    app.config["MAX_CONTENT_LENGTH"] = settings["MAX_CONTENT_LENGTH"]
    app.config["AUDIENCE"] = settings["AUDIENCE"] or settings["ISSUER"]
    app.json.sort_keys = False
    _configure_logging(app)

    from authserver.database import tune_sqlite
    from authserver.extensions import db, migrate, principal
    from authserver.state import AppState
    from authserver.web import errors, headers, metrics, request_log

    db.init_app(app)
    with app.app_context():
        tune_sqlite(db.engine)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"))
    principal.init_app(app)
    app.extensions["authserver"] = AppState(passwords=_passwords(app), keys=_signing_keys(app))
    errors.init_app(app)
    headers.init_app(app)
    request_log.init_app(app)
    metrics.init_app(app)

    from authserver import resource
    from authserver.api import admin, examples, health, oauth, openapi, wellknown
    from authserver.oauth2 import server
    from authserver.services import policy_store

    server.init_app(app)
    resource.init_app(app)
    for module in (
        wellknown,
        oauth,
        examples,
        health,
        admin,
        openapi,
    ):
        module.init_app(app)
    _init_counters(app)
    policy_store.init_app(app)
    production.check_demo_data(app)
    _guard_authlib_logs()  # after every Authlib module this app uses is imported
    _trust_proxies(app)
    return app


def _trust_proxies(app: Flask) -> None:
    """Behind AUTHSERVER_PROXY_HOPS proxies, take the client address (rate limit, audit,
    request log) from the X-Forwarded-For entry the nearest proxy wrote. With 0 (the
    default) the header is ignored: any client could send it and pick its own address."""
    hops = app.config["PROXY_HOPS"]
    if hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)


def _init_counters(app: Flask) -> None:
    """Lockout counters and the token-endpoint rate limit: in Redis when configured."""
    import redis

    from authserver.services import lockout
    from authserver.state import state
    from authserver.web import ratelimit

    config = app.config
    rules = lockout.LockoutRules(
        config["LOCKOUT_THRESHOLD"],
        config["LOCKOUT_BASE_SECONDS"],
        config["LOCKOUT_MAX_SECONDS"],
        config["LOCKOUT_RESET_SECONDS"],
    )
    app_state = state(app)
    app_state.lockout = lockout.DatabaseCounters(rules)
    if config["REDIS_URL"]:
        app_state.redis = redis.Redis.from_url(
            config["REDIS_URL"], socket_timeout=0.5, socket_connect_timeout=0.5
        )
        app_state.lockout = lockout.FailoverCounters(
            lockout.RedisCounters(rules, app_state.redis),
            app_state.lockout,
            config["REDIS_FAILURE"],
        )
    app_state.limiter = ratelimit.build(config)
    ratelimit.init_app(app, app_state.limiter)


def _configure_database(app: Flask) -> None:
    from authserver.database import database_uri, engine_options

    try:
        uri = database_uri(app.config["DATABASE_URL"], app.instance_path)
    except ArgumentError:
        raise ConfigError("AUTHSERVER_DATABASE_URL: not a database URL") from None
    if uri.startswith("sqlite:///") and ":memory:" not in uri:
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    app.config["SQLALCHEMY_DATABASE_URI"] = uri
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(uri)


def _configure_logging(app: Flask) -> None:
    from flask.logging import default_handler

    from authserver.web.log_format import JSONFormatter, use_json_handler

    app.logger.setLevel(app.config["LOG_LEVEL"])
    default_handler.setFormatter(JSONFormatter())  # every app line is one JSON object
    use_json_handler(app.logger)  # the same, finding the request's stream once per line
    # Authlib logs whole tokens at DEBUG ("Issue token ..."): never let that through.
    logging.getLogger("authlib").setLevel(max(logging.INFO, logging.getLogger().level))


class _DropAuthlibDebug(logging.Filter):
    """Authlib logs whole tokens and raw usernames (often a mistyped password) at DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.INFO


_AUTHLIB_FILTER = _DropAuthlibDebug()


def _guard_authlib_logs() -> None:
    """Attach the filter to every Authlib logger: a logger's filters see only its own
    records, not its children's, and a logging config could set any of them to DEBUG."""
    for name in ["authlib", *list(logging.root.manager.loggerDict)]:
        if name == "authlib" or name.startswith("authlib."):
            logger = logging.getLogger(name)
            if _AUTHLIB_FILTER not in logger.filters:
                logger.addFilter(_AUTHLIB_FILTER)


def _passwords(app: Flask):
    from authserver.security.passwords import Passwords

    return Passwords(
        time_cost=app.config["ARGON2_TIME_COST"],
        memory_cost=app.config["ARGON2_MEMORY_COST"],
        parallelism=app.config["ARGON2_PARALLELISM"],
    )


def _signing_keys(app: Flask):
    from authserver.security.access_tokens import CLOCK_SKEW
    from authserver.security.keys import SigningKeyError, SigningKeys

    path = app.config["SIGNING_KEYS"] or os.path.join(app.instance_path, "signing-keys.json")
    app.config["SIGNING_KEYS"] = path
    try:  # SPEC §13: retired keys leave after the TTL plus skew; created only in development
        return SigningKeys.load_or_create(
            path,
            app.config["SIGNING_ALG"],
            retain_seconds=app.config["ACCESS_TOKEN_TTL"] + CLOCK_SKEW,
            create=app.config["ENV"] != "production",
        )
    except SigningKeyError as exc:
        raise ConfigError(f"AUTHSERVER_SIGNING_KEYS: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"AUTHSERVER_SIGNING_KEYS: cannot use {path}: {exc.strerror}") from None
