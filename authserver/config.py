"""Settings: defaults, a TOML file per environment, AUTHSERVER_* overrides, validated at start.

Every setting is read here once, checked, and put in ``app.config`` under its name without
the ``AUTHSERVER_`` prefix. A bad value stops the start with one line naming the setting.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

PREFIX = "AUTHSERVER_"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
ENVIRONMENTS = ("development", "testing", "production")
# EdDSA is not offered: Authlib 1.9 signs through joserfc without an algorithm list, and
# joserfc 1.8 refuses EdDSA there as "not recommended" (see README, deviations).
SIGNING_ALGORITHMS = ("RS256", "ES256")
#: How long resource servers may cache the JWKS (its Cache-Control max-age), and the margin
#: a new key is published beyond that before it signs (SPEC §13): a cache of any age then
#: holds the new key before a token names it.
JWKS_MAX_AGE = 60
KEY_PUBLISH_MARGIN = 60


class ConfigError(Exception):
    """A setting is missing or wrong; the message is one line that names it."""


@dataclass(frozen=True)
class Setting:
    name: str
    parse: Callable[[Any], Any]
    default: Any = None


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a string")
    return value


def _optional_text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return _text(value)


def _int_between(low: int, high: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, bool | float):  # int(2.5) would quietly make it 2
            raise ValueError("expected a whole number")
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ValueError("expected a whole number") from None
        if not low <= number <= high:
            raise ValueError(f"expected a whole number from {low} to {high}")
        return number

    return parse


def _url(value: Any) -> str:
    """An issuer URL: http(s), a host, no query or fragment (RFC 8414 §2)."""
    text = _text(value).strip().rstrip("/")
    try:
        parts = urlsplit(text)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        host = None
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError(f"expected an http:// or https:// URL with a host, got {text!r}")
    if parts.query or parts.fragment:
        raise ValueError("the issuer URL may not have a query or a fragment")
    return text


def _database_url(value: Any) -> str | None:
    """A SQLAlchemy URL for a backend we ship a driver for: SQLite, or PostgreSQL (psycopg 3).

    A SQLite file must be creatable: its folder exists, or can be made, and is writable.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    text = _optional_text(value)
    if text is None:
        return None
    try:
        url = make_url(text)
    except (ArgumentError, ValueError):
        raise ValueError("not a database URL: expected sqlite:///PATH or postgresql://") from None
    backend, _, driver = url.drivername.partition("+")  # no dialect import for a guess
    if backend in ("postgresql", "postgres"):
        if driver not in ("", "psycopg"):
            raise ValueError(f"unsupported driver {url.drivername!r}; use postgresql://")
        return text
    if backend != "sqlite" or driver not in ("", "pysqlite"):
        raise ValueError(f"unsupported database {url.drivername!r}; use sqlite or postgresql")
    _check_sqlite_file(url.database)
    return text


def _check_sqlite_file(database: str | None) -> None:
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if path.is_dir():
        raise ValueError(f"{database} is a directory, not a database file")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"cannot create the database file {database}: {folder} is not writable")


def _choice(options: tuple[str, ...], fold_case: bool = False) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if fold_case and isinstance(value, str):
            value = value.strip().upper()
        if value not in options:
            raise ValueError(f"expected one of {', '.join(options)}, got {value!r}")
        return value

    return parse


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise ValueError("expected true or false")


def _redis_url(value: Any) -> str | None:
    text = _optional_text(value)
    if text is not None and not text.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError("expected a redis://, rediss:// or unix:// URL")
    return text


def _postgres_url(value: Any) -> str | None:
    """A PostgreSQL URL (the live feed's own connection, e.g. past a pooler)."""
    text = _optional_text(value)
    if text is not None and not text.startswith(("postgresql://", "postgres://")):
        raise ValueError("expected a postgresql:// URL")
    return text


def _rate_limit(value: Any) -> str:
    from limits import parse_many

    text = _text(value)
    try:
        parse_many(text)
    except ValueError:
        raise ValueError("expected a rate such as '30/minute' (limits notation)") from None
    return text


SETTINGS: tuple[Setting, ...] = (
    Setting("DATABASE_URL", _database_url),
    Setting("REDIS_URL", _redis_url),
    Setting("ISSUER", _url, "http://127.0.0.1:5000"),
    Setting("AUDIENCE", _optional_text),
    Setting("POLICY_FILE", _text, "policies/roles.yaml"),
    Setting("SIGNING_KEYS", _optional_text),
    Setting("SIGNING_ALG", _choice(SIGNING_ALGORITHMS), "RS256"),
    Setting("ACCESS_TOKEN_TTL", _int_between(30, 86_400), 900),
    Setting("KEY_PUBLISH_SECONDS", _int_between(0, 604_800), JWKS_MAX_AGE + KEY_PUBLISH_MARGIN),
    Setting("REFRESH_TOKEN_TTL", _int_between(60, 31_536_000), 2_592_000),
    Setting("REFRESH_REUSE_GRACE", _int_between(0, 60), 0),
    Setting("TOKEN_RATE_LIMIT", _rate_limit, "30/minute"),
    Setting("LOCKOUT_THRESHOLD", _int_between(3, 30), 10),
    Setting("MIN_PASSWORD_LENGTH", _int_between(1, 1024), 8),
    Setting("METRICS", _choice(("on", "off")), "on"),
    Setting("METRICS_TOKEN", _optional_text),
    Setting("LOCKOUT_BASE_SECONDS", _int_between(1, 86_400), 60),
    Setting("LOCKOUT_MAX_SECONDS", _int_between(1, 86_400), 900),
    Setting("LOCKOUT_RESET_SECONDS", _int_between(60, 604_800), 43_200),
    Setting("REDIS_FAILURE", _choice(("fallback", "closed")), "fallback"),
    Setting("ARGON2_TIME_COST", _int_between(1, 20), 2),
    Setting("ARGON2_MEMORY_COST", _int_between(8, 4_194_304), 19_456),
    Setting("ARGON2_PARALLELISM", _int_between(1, 16), 1),
    Setting("MAX_CONTENT_LENGTH", _int_between(1_024, 10_485_760), 65_536),
    Setting("REQUEST_LOG", _boolean, True),
    Setting("PROXY_HOPS", _int_between(0, 5), 0),
    Setting("LIVE_FEED_URL", _postgres_url),
    Setting("LIVE_STALE_MS", _int_between(50, 1000), 500),
    Setting("LIVE_HEARTBEAT_MS", _int_between(10, 1000), 200),
    Setting("DPOP_NONCE", _boolean, False),
    Setting("CONSOLE", _boolean, True),
    Setting("LOG_LEVEL", _choice(("DEBUG", "INFO", "WARNING", "ERROR"), fold_case=True), "INFO"),
)


def config_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where ``<env>.toml`` files live: AUTHSERVER_CONFIG_DIR or the project's config/."""
    environ = os.environ if environ is None else environ
    return Path(environ.get(PREFIX + "CONFIG_DIR") or PROJECT_ROOT / "config")


def _file_values(env: str, environ: Mapping[str, str]) -> tuple[Path, dict[str, Any]]:
    folder = config_dir(environ)
    if PREFIX + "CONFIG_DIR" in environ and not folder.is_dir():
        raise ConfigError(f"{PREFIX}CONFIG_DIR: {folder} is not a directory")
    path = folder / f"{env}.toml"
    if not path.exists():
        return path, {}
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{PREFIX}ENV={env}: cannot read {path}: {exc}") from None
    return path, {str(key).upper(): value for key, value in data.items()}


def _check_together(settings: Mapping[str, Any]) -> None:
    """Settings that are valid alone but not together."""
    if settings["ARGON2_MEMORY_COST"] < 8 * settings["ARGON2_PARALLELISM"]:
        raise ConfigError(
            f"{PREFIX}ARGON2_MEMORY_COST: argon2 needs at least 8 KiB per lane, "
            f"{8 * settings['ARGON2_PARALLELISM']} for {PREFIX}ARGON2_PARALLELISM="
            f"{settings['ARGON2_PARALLELISM']}"
        )
    if settings["LIVE_HEARTBEAT_MS"] >= settings["LIVE_STALE_MS"]:
        raise ConfigError(
            f"{PREFIX}LIVE_HEARTBEAT_MS: must be below {PREFIX}LIVE_STALE_MS "
            f"({settings['LIVE_STALE_MS']}), or every decision would ask the database"
        )
    if settings["LOCKOUT_BASE_SECONDS"] > settings["LOCKOUT_MAX_SECONDS"]:
        raise ConfigError(
            f"{PREFIX}LOCKOUT_MAX_SECONDS: must be at least {PREFIX}LOCKOUT_BASE_SECONDS "
            f"({settings['LOCKOUT_BASE_SECONDS']})"
        )


def bind_issuer(bind: str) -> str | None:
    """The http:// issuer a gunicorn bind address is reached at (``0.0.0.0`` and ``[::]``
    as the loopback address); None for a unix socket or an address with no port."""
    host, sep, port = bind.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or bind.startswith(("unix:", "fd://")):
        return None
    host = {"0.0.0.0": "127.0.0.1", "[::]": "[::1]"}.get(host, host)
    return f"http://{host}:{port}"


def issuer_bind_mismatch(settings: Mapping[str, Any], environ: Mapping[str, str]) -> str | None:
    """A warning when AUTHSERVER_BIND and an http:// AUTHSERVER_ISSUER name different
    addresses: clients reach an http issuer directly, and strict ones (RFC 8414 §3.3)
    refuse metadata whose issuer is not where they fetched it. An https issuer is taken
    to be a TLS proxy in front of the bind, and is not compared."""
    bind = environ.get(PREFIX + "BIND") or "127.0.0.1:5000"
    bound, issuer = bind_issuer(bind), settings["ISSUER"]
    if bound is None or not issuer.startswith("http://") or _same_place(issuer, bind, bound):
        return None
    return (
        f"warning: {PREFIX}ISSUER={issuer} but {PREFIX}BIND serves {bound}: clients that "
        "check the issuer (RFC 8414 §3.3) will refuse it; set both to the same address"
    )


def _same_place(issuer: str, bind: str, bound: str) -> bool:
    """Whether the issuer names the bound port, and the bound host unless the bind
    listens on every address (then any host name may reach it)."""
    loopback = {"localhost": "127.0.0.1"}
    mine, theirs = urlsplit(issuer), urlsplit(bound)
    if (mine.port or 80) != theirs.port:
        return False
    if bind.strip().startswith(("0.0.0.0:", "[::]:")):
        return True
    host = mine.hostname or ""
    return loopback.get(host, host) == loopback.get(theirs.hostname or "", theirs.hostname)


def load_settings(
    env: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Merge defaults, the env's TOML file, AUTHSERVER_* variables and overrides; validate.

    Raises ConfigError with one line that names the AUTHSERVER_ setting (and where the bad
    value came from) at the first bad value.
    """
    environ = os.environ if environ is None else environ
    env = env or environ.get(PREFIX + "ENV") or "development"
    if env not in ENVIRONMENTS:
        raise ConfigError(f"{PREFIX}ENV: expected one of {', '.join(ENVIRONMENTS)}, got {env!r}")
    raw: dict[str, Any] = {s.name: s.default for s in SETTINGS}
    sources = {name: "default" for name in raw}
    known = {s.name for s in SETTINGS}
    path, values = _file_values(env, environ)
    for name, value in values.items():
        if name not in known:
            raise ConfigError(f"{PREFIX}{name}: unknown setting in {path}")
        raw[name], sources[name] = value, str(path)
    for setting in SETTINGS:
        if PREFIX + setting.name in environ:
            raw[setting.name] = environ[PREFIX + setting.name]
            sources[setting.name] = "environment"
    for name, value in (overrides or {}).items():
        raw[name.upper().removeprefix(PREFIX)] = value
        sources[name.upper().removeprefix(PREFIX)] = "overrides"
    settings: dict[str, Any] = {"ENV": env}
    for setting in SETTINGS:
        try:
            settings[setting.name] = setting.parse(raw[setting.name])
        except ValueError as exc:
            where = sources[setting.name]
            raise ConfigError(f"{PREFIX}{setting.name} ({where}): {exc}") from None
    _check_together(settings)
    if env == "development" and sources["ISSUER"] == "default" and PREFIX + "BIND" in environ:
        settings["ISSUER"] = bind_issuer(environ[PREFIX + "BIND"]) or settings["ISSUER"]
    for name, value in raw.items():
        if name not in known:
            settings[name] = value  # Flask's own keys (TESTING, ...) pass through untouched
    return settings
