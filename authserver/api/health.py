"""/healthz (the process answers) and /readyz (database, signing keys and policy are usable)."""

from __future__ import annotations

from flask import Blueprint, Flask, Response, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from authserver import live
from authserver.extensions import db
from authserver.services import policy_store
from authserver.services.errors import ServiceError
from authserver.state import state

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok")


def _checks() -> dict[str, str]:
    """Each check in a few words. /readyz is public: the names of exception classes, never
    their messages (SQL, hosts, paths) or a traceback."""
    checks = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except SQLAlchemyError as exc:
        db.session.rollback()
        checks["database"] = f"unavailable ({type(exc).__name__})"
    keys = state().keys
    keys.reload_if_changed()
    # SPEC §13: a broken key file does not make the instance unready (every instance shares
    # the file; it serves on with the last good keys): the check says so, and the log why.
    checks["signing_keys"] = f"last good keys in use ({keys.problem})" if keys.problem else "ok"
    if checks["database"] == "ok":
        try:
            version, _ = policy_store.live_policy()
            checks["policy"] = f"version {version}"
        except ServiceError as exc:  # messages written for the operator
            checks["policy"] = f"unavailable ({exc})"
        except SQLAlchemyError as exc:  # e.g. no schema: `authserver db upgrade` not run
            db.session.rollback()
            checks["policy"] = f"unavailable ({type(exc).__name__})"
    else:
        checks["policy"] = "unknown"
    checks["live_feed"] = _live_feed() if checks["database"] == "ok" else "unknown"
    return checks


def _live_feed() -> str:
    """SPEC §12: "ok", "local" (SQLite), "starting" or "lost". A lost feed leaves the
    instance ready: it decides by asking the database instead (within the bound, slower);
    the metric ``authserver_live_feed_up`` says so too."""
    try:
        return live.feed_status()
    except SQLAlchemyError as exc:
        db.session.rollback()
        return f"unavailable ({type(exc).__name__})"


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    checks = _checks()
    ready = checks["database"] == "ok" and checks["policy"].startswith("version")
    response = jsonify(status="ready" if ready else "unavailable", checks=checks)
    if not ready:
        response.headers["Retry-After"] = "5"
    return response, 200 if ready else 503


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
