"""HTTP for the versioned policy, shared by the policy and roles views: ETags and If-Match.

The ETag of the policy and of every role is the live policy version (``"7"``). Every
write needs ``If-Match`` naming the version it edited: without it 428, with an older
version 412 (RFC 9110 §13.1.1, RFC 6585 §3), so that no admin silently overwrites another's
edit. ``If-Match: *`` is refused with 428 on purpose: it would allow exactly that lost
update. Which version is the newest is the store's answer, never a look taken here; the
order of the answers (404, then 428 and 412, then 422) is :func:`policy_admin._write`'s.
"""

from __future__ import annotations

from flask import Response, current_app, jsonify, request

from authserver.api.admin import params
from authserver.resource import required_scope_names
from authserver.services.errors import UnsupportedMediaType
from authserver.services.policy_admin import JSON, MAX_COMMENT, YAML, Saved, WriteOptions

YAML_TYPES = ("application/yaml", "text/yaml", "application/x-yaml")
BODY_TYPES = (*YAML_TYPES, "application/json")
MAX_ETAG_DIGITS = 10  # a version is a 32-bit number


def wants_yaml() -> bool:
    """Whether the client prefers YAML to JSON (JSON for ``*/*``)."""
    best = request.accept_mimetypes.best_match(["application/json", *YAML_TYPES])
    return best in YAML_TYPES


def yaml_response(text: str) -> Response:
    return Response(text, mimetype="application/yaml")


def tagged(response: Response, version: int) -> Response:
    """Strong ETag naming the policy version; a GET with If-None-Match may get 304."""
    response.set_etag(str(version))
    response.vary.add("Accept")
    response.make_conditional(request)  # in place: 304 when If-None-Match names it
    return response


def body_kind() -> str:
    """YAML or JSON, from Content-Type; anything else is 415 naming what is supported."""
    if request.mimetype in YAML_TYPES:
        return YAML
    if request.mimetype == "application/json":
        return JSON
    raise UnsupportedMediaType(
        "send the body as application/yaml (or text/yaml, application/x-yaml) or application/json",
        supported=list(BODY_TYPES),
    )


def write_options() -> WriteOptions:
    """The options of a write from this request: If-Match, the token's user, the query."""
    expected = _if_match()
    comment = params.text_param("comment")  # no control characters: PostgreSQL refuses NUL
    if comment is not None and len(comment) > MAX_COMMENT:
        raise params.invalid_param("comment", f"at most {MAX_COMMENT} characters")
    return WriteOptions(
        actor=params.actor(),
        comment=comment or None,
        strip_roles=params.flag_param("strip_roles"),
        expected=expected,
        conditional=True,
        required=frozenset(required_scope_names(current_app)),
    )


def _if_match() -> frozenset[int] | None:
    """The versions If-Match names (strong ETags only); None when it is absent or ``*``,
    which the write refuses with 428 once it knows that what it names exists.

    Names that are no version (``"abc"``, ``W/"1"``) are simply not the live one: 412.
    """
    if "If-Match" not in request.headers or request.if_match.star_tag:
        return None
    return frozenset(
        int(tag)
        for tag in request.if_match
        if tag.isascii() and tag.isdigit() and len(tag) <= MAX_ETAG_DIGITS
    )


def saved_response(saved: Saved, body: dict | None = None, status: int = 200) -> Response:
    """The answer to a write: ``body`` (the new policy by default), what changed, warnings,
    roles taken from users, and the new version as the ETag."""
    if body is None:
        body = {"version": saved.version, "policy": saved.policy.to_document()}
    body = {
        **body,
        "previous": saved.previous,
        "summary": saved.diff.summary(),
        "warnings": [issue.to_dict() for issue in saved.warnings],
    }
    if saved.stripped:
        body["stripped_roles"] = [
            {"role": role, "users": count} for role, count in sorted(saved.stripped.items())
        ]
    response = jsonify(body)
    response.status_code = status
    response.set_etag(str(saved.version))
    return response
