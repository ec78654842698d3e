"""The example resources: /api/me and /api/documents, protected by scopes."""

from __future__ import annotations

from typing import TypeGuard

from flask import Blueprint, Flask, Response, abort, jsonify, request
from sqlalchemy import select

from authserver.extensions import db
from authserver.models import Document
from authserver.resource import current_token, require_scopes
from authserver.web.errors import render_errors_with, render_json

bp = Blueprint("examples", __name__, url_prefix="/api")
render_errors_with(bp, render_json)  # RFC 6750 JSON, WWW-Authenticate on token errors

MAX_TITLE = 200
MAX_BODY = 20_000


@bp.get("/me")
@require_scopes()
def me() -> Response:
    """Who the token speaks for: a user (``username`` set), or a client alone after the
    client_credentials grant (``sub`` is its client_id, ``username`` null, SPEC §16)."""
    token = current_token()
    return jsonify(
        sub=token["sub"],
        username=token.get("username"),
        client_id=token["client_id"],
        scope=token.get_scope(),
        roles=token.get("roles", []),
    )


@bp.get("/documents")
@require_scopes("documents:read")
def list_documents() -> Response:
    documents = db.session.execute(select(Document).order_by(Document.id)).scalars()
    return jsonify(documents=[document.to_dict() for document in documents])


@bp.get("/documents/<int:document_id>")
@require_scopes("documents:read")
def get_document(document_id: int) -> Response:
    return jsonify(_document_or_404(document_id).to_dict())


@bp.post("/documents")
@require_scopes("documents:write")
def create_document() -> tuple[Response, int]:
    try:
        data = request.get_json(silent=True)
    except RecursionError:  # nested too deep to parse: not a 500 (``silent`` misses it)
        data = None
    if not isinstance(data, dict):
        abort(400, "The body must be a JSON object {title, body}.")
    title, body = data.get("title"), data.get("body")
    if not _storable(title, MAX_TITLE) or not title.strip():
        abort(400, f"'title' must be a non-empty string of at most {MAX_TITLE} characters.")
    if not _storable(body, MAX_BODY):
        abort(400, f"'body' must be a string of at most {MAX_BODY} characters.")
    token = current_token()  # a client_credentials token has no username (SPEC §16)
    owner = token.get("username") or f"client:{token['client_id']}"
    document = Document(title=title, body=body, owner=owner)
    db.session.add(document)
    db.session.commit()
    return jsonify(document.to_dict()), 201


@bp.delete("/documents/<int:document_id>")
@require_scopes("documents:delete")
def delete_document(document_id: int) -> tuple[str, int]:
    db.session.delete(_document_or_404(document_id))
    db.session.commit()
    return "", 204


def _storable(value: object, max_length: int) -> TypeGuard[str]:
    """A string of at most ``max_length`` characters that every database can store.

    JSON may carry ``\\u0000`` (PostgreSQL text refuses NUL) and lone surrogates such as
    ``\\ud800`` (not encodable as UTF-8): both made the INSERT fail with a 500.
    """
    if not isinstance(value, str) or len(value) > max_length or "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _document_or_404(document_id: int) -> Document:
    document = db.session.get(Document, document_id) if document_id < 2**31 else None
    if document is None:
        abort(404, f"No document {document_id}.")
    return document


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
