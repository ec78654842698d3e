"""The application factory: the one place that wires everything together."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import redis
from flask import Flask
from flask.logging import default_handler
from sqlalchemy.exc import ArgumentError
from werkzeug.middleware.proxy_fix import ProxyFix

from authserver import console, production, resource
from authserver.api import admin, changes, examples, health, oauth, openapi, wellknown
from authserver.config import PROJECT_ROOT, ConfigError, load_settings
from authserver.database import database_uri, engine_options, tune_sqlite
from authserver.extensions import db, migrate, principal
from authserver.oauth2 import bearer, server
from authserver.security.access_tokens import CLOCK_SKEW, TokenVerifier
from authserver.security.keys import SigningKeyError, SigningKeys
from authserver.security.passwords import Passwords
from authserver.services import lockout, policy_store
from authserver.state import AppState
from authserver.web import edge, errors, metrics, ratelimit
from authserver.web.application import AuthServerFlask
from authserver.web.json_provider import JSONProvider
from authserver.web.log_format import JSONFormatter, use_json_handler

BLUEPRINT_MODULES = (wellknown, oauth, changes, examples, health, admin, openapi, console)


def create_app(env: str | None = None, overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build an app for ``env`` (default AUTHSERVER_ENV or development) with ``overrides``.

    Raises ConfigError, with a one-line message naming the setting, on bad configuration.
    """
    # The order is what each step needs from the ones before it:
    # - settings are checked (production refusals) before anything is created or logged;
    # - AppState is complete before any init_app, route or check can read it;
    # - each WSGI middleware wraps the ones added before it, and ProxyFix comes last, so it
    #   is the outermost: the edge layer (security headers, request log, timer) inside it, and the
    #   rate limit and audit inside Flask, all see the client address it resolved;
    # - Authlib's log filter once every Authlib module this app uses has been imported.
    # (Inside oauth2.server.build, our token generator replaces the default one Authlib's
    # init_app registers, so it comes after it.)
    settings = load_settings(env, overrides)
    production.check_settings(settings)
    app = AuthServerFlask(
        "authserver", instance_path=str(PROJECT_ROOT / "instance"), static_folder=None
    )
    app.config.update(settings)
    app.config["AUDIENCE"] = settings["AUDIENCE"] or settings["ISSUER"]
    app.json = JSONProvider(app)
    _configure_logging(app)
    _init_database(app)
    app_state = _build_state(app)
    app.extensions["authserver"] = app_state
    _init_web(app, app_state)
    resource.init_app(app, principal)
    for module in BLUEPRINT_MODULES:
        module.init_app(app)
    policy_store.init_app(app)
    production.check_demo_data(app)
    _guard_authlib_logs()
    _trust_proxies(app)
    return app


def _build_state(app: Flask) -> AppState:
    """Every per-app object, built here and nowhere else (see state.py)."""
    config = app.config
    keys = _signing_keys(app)
    return AppState(
        passwords=_passwords(config),
        keys=keys,
        token_verifier=TokenVerifier(
            keys,
            config["ISSUER"],
            config["AUDIENCE"],
            max_lifetime=config["ACCESS_TOKEN_TTL"] + CLOCK_SKEW,  # SPEC §13
        ),
        authorization_server=server.build(app),
        resource_protector=bearer.build_protector(app),
        lockout=_lockout_counters(config),
        rate_limit=ratelimit.build(config),
    )


def _init_web(app: Flask, app_state: AppState) -> None:
    """Error handlers, the one WSGI layer (security headers, request id, timer and log
    line), /metrics and the token count, the token rate limit."""
    errors.init_app(app)
    edge.init_app(app)
    metrics.init_app(app)
    ratelimit.init_app(app, app_state.rate_limit)


def _init_database(app: Flask) -> None:
    """Bind Flask-SQLAlchemy and Flask-Migrate; SQLite gets its pragmas on every connection."""
    try:
        uri = database_uri(app.config["DATABASE_URL"], app.instance_path)
    except ArgumentError:
        raise ConfigError("AUTHSERVER_DATABASE_URL: not a database URL") from None
    if uri.startswith("sqlite:///") and ":memory:" not in uri:
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    app.config["SQLALCHEMY_DATABASE_URI"] = uri
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(uri)
    db.init_app(app)
    with app.app_context():
        tune_sqlite(db.engine)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"))
    principal.init_app(app)


def _passwords(config: Mapping[str, Any]) -> Passwords:
    return Passwords(
        time_cost=config["ARGON2_TIME_COST"],
        memory_cost=config["ARGON2_MEMORY_COST"],
        parallelism=config["ARGON2_PARALLELISM"],
    )


def _signing_keys(app: Flask) -> SigningKeys:
    """The key file of AUTHSERVER_SIGNING_KEYS, or one in the instance folder (development).
    SPEC §13: created when missing only outside production; retired keys are trusted for
    ACCESS_TOKEN_TTL plus the clock skew after their retirement."""
    path = app.config["SIGNING_KEYS"] or os.path.join(app.instance_path, "signing-keys.json")
    app.config["SIGNING_KEYS"] = path
    try:
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


def _lockout_counters(
    config: Mapping[str, Any],
) -> lockout.DatabaseCounters | lockout.FailoverCounters:
    """Per-account failure counters: in Redis when configured, failing over as
    AUTHSERVER_REDIS_FAILURE says; else in the database."""
    rules = lockout.LockoutRules(
        config["LOCKOUT_THRESHOLD"],
        config["LOCKOUT_BASE_SECONDS"],
        config["LOCKOUT_MAX_SECONDS"],
        config["LOCKOUT_RESET_SECONDS"],
    )
    in_database = lockout.DatabaseCounters(rules)
    if not config["REDIS_URL"]:
        return in_database
    client = redis.Redis.from_url(
        config["REDIS_URL"], socket_timeout=0.5, socket_connect_timeout=0.5
    )
    return lockout.FailoverCounters(
        lockout.RedisCounters(rules, client), in_database, config["REDIS_FAILURE"]
    )


def _trust_proxies(app: Flask) -> None:
    """Behind AUTHSERVER_PROXY_HOPS proxies, take the client address (rate limit, audit,
    request log) from the X-Forwarded-For entry the nearest proxy wrote. With 0 (the
    default) the header is ignored: any client could send it and pick its own address."""
    hops = app.config["PROXY_HOPS"]
    if hops:
        # Flask's documented way to add WSGI middleware; mypy sees a method being replaced.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]


def _configure_logging(app: Flask) -> None:
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
