"""Another team's Flask API, protected by the kit: ``gunicorn tests.kit_app.app:app``.

It imports nothing of the server but ``authserver.resource`` (what a real service would
install) and is configured by its environment: KIT_ISSUER, KIT_CLIENT_ID,
KIT_CLIENT_SECRET (an ``--introspect`` client), KIT_JWKS_REFETCH (seconds, optional).

- ``GET /reports``: needs ``documents:read``; answers the token's sub, scope and roles;
- ``GET /reports/write``: needs ``documents:write``;
- ``GET /reports/editor``: any valid token; 200 when Flask-Principal says it is an editor;
- ``GET /bare``: unprotected, the same work otherwise (the bench's baseline);
- ``GET /healthz``: the process is up; ``GET /kit``: this worker's ``health()``.
"""

from __future__ import annotations

import logging
import os

from flask import Flask, jsonify
from flask_principal import Permission, RoleNeed

from authserver.resource import ResourceServer, current_token, require_scopes

logging.basicConfig(level=logging.INFO, format="%(process)d %(name)s %(message)s")

app = Flask(__name__)
kit = ResourceServer(
    app,
    issuer=os.environ["KIT_ISSUER"],
    client_id=os.environ["KIT_CLIENT_ID"],
    client_secret=os.environ["KIT_CLIENT_SECRET"],
    jwks_refetch_interval=float(os.environ.get("KIT_JWKS_REFETCH", "5")),
)


@app.get("/reports")
@require_scopes("documents:read")
def reports():
    token = current_token()
    return jsonify(sub=token["sub"], scope=token["scope"], roles=token.get("roles", []))


@app.get("/reports/write")
@require_scopes("documents:write")
def write_reports():
    return jsonify(ok=True)


@app.get("/reports/editor")
@require_scopes()
def editor():
    if Permission(RoleNeed("editor")).can():
        return jsonify(editor=True)
    return jsonify(editor=False), 403


@app.get("/bare")
def bare():
    return jsonify(sub="nobody", scope="", roles=[])


@app.get("/healthz")
def healthz():
    return jsonify(status="ok")


@app.get("/kit")
def kit_health():
    return jsonify(pid=os.getpid(), **kit.health())
