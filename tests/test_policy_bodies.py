"""Request bodies and policy edits as plain functions (authserver.policy.bodies, .edits)."""

from __future__ import annotations

import json

import pytest

from authserver.policy import load_policy_yaml
from authserver.policy.bodies import JSON, YAML, BodyError, decode, parse_json, read_role
from authserver.policy.edits import from_body, with_role, without_role
from tests.support.admin import DEFAULT_YAML
from tests.support.policy_text import without_tests

BASE = load_policy_yaml(without_tests(DEFAULT_YAML)).policy


def messages(exc: BodyError) -> list[str]:
    return [issue.message for issue in exc.issues]


def test_parse_json_reports_every_duplicate_key_with_its_path():
    text = '{"a": 1, "a": 2, "b": {"c": [{"d": 1, "d": 2}]}}'
    with pytest.raises(BodyError) as caught:
        parse_json(text, ("roles", "x"))
    assert [(i.path, i.message) for i in caught.value.issues] == [
        ("roles.x.a", "duplicate key 'a'"),
        ("roles.x.b.c[0].d", "duplicate key 'd'"),
    ]


def test_parse_json_gives_plain_data_where_the_first_key_would_win():
    assert parse_json(b'{"a": {"b": [1, {"c": null}]}}') == {"a": {"b": [1, {"c": None}]}}
    assert type(parse_json('{"a": {}}')["a"]) is dict


def test_parse_json_syntax_error_has_line_and_column():
    with pytest.raises(BodyError) as caught:
        parse_json('{"a": 1,\n  oops}')
    (issue,) = caught.value.issues
    assert (issue.line, issue.column) == (2, 3)
    assert issue.message.startswith("JSON syntax error")


@pytest.mark.parametrize(
    "text", ["[" * 100_000 + "]" * 100_000, '{"a": ' * 5000 + "1" + "}" * 5000]
)
def test_parse_json_too_deep_is_a_body_error(text):
    with pytest.raises(BodyError) as caught:
        parse_json(text)
    assert "nested too deeply" in messages(caught.value)[0]


def test_decode_refuses_bytes_that_are_not_utf8():
    with pytest.raises(BodyError) as caught:
        decode(b"ok \xff")
    assert messages(caught.value) == ["the body is not UTF-8 (byte 3)"]


def test_read_role_yaml_locates_paths_in_the_body():
    role = read_role("editor", "scopes: [a]\ninherits: [b]\ninherits: []\n", YAML)
    assert role.data == {"scopes": ["a"], "inherits": ["b"]}
    assert role.locate is not None
    assert role.locate(("roles", "editor", "inherits"), True) == (2, 1)
    assert role.locate(("roles", "viewer"), True) == (None, None)
    assert [(e.line, e.path) for e in role.errors] == [(3, "roles.editor.inherits")]


def test_read_role_drops_read_only_members_but_not_a_different_name():
    body = {"name": "editor", "scopes": [], "effective_scopes": ["x"], "inherited_by": []}
    assert read_role("editor", json.dumps(body), JSON).data == {"scopes": []}
    with pytest.raises(BodyError) as caught:
        read_role("editor", json.dumps({"name": "boss"}), JSON)
    assert caught.value.issues[0].path == "roles.editor.name"


@pytest.mark.parametrize("name", ["a\x00b", "r" * 101])
def test_read_role_refuses_names_users_could_not_hold(name):
    with pytest.raises(BodyError, match="error"):
        read_role(name, "{}", JSON)


def test_from_body_json_is_stored_as_the_policys_yaml():
    revision = from_body(json.dumps(BASE.to_document()), JSON)
    assert revision.policy == BASE
    assert load_policy_yaml(revision.source).policy == BASE


def test_from_body_refusal_is_an_invalid_revision_not_an_exception():
    revision = from_body(b"\xff", YAML)
    assert revision.policy is None and revision.source == ""
    assert "not UTF-8" in revision.result.errors[0].message


def test_with_role_validates_the_whole_policy_once_with_body_positions():
    text = "scopes: [documents:write, nope]\ninherits: [viewer]\n"
    revision = with_role(BASE, "editor", text, YAML)
    assert revision.policy is None
    assert [(e.line, e.column, e.path) for e in revision.result.errors] == [
        (1, 27, "roles.editor.scopes[1]")
    ]


def test_with_role_adds_a_role():
    revision = with_role(BASE, "auditor", '{"scopes": ["audit:read"]}', JSON)
    assert revision.policy.effective_scopes("auditor") == {"audit:read"}
    assert load_policy_yaml(revision.source).policy == revision.policy


def test_without_role_is_refused_while_a_role_inherits_it():
    revision = without_role(BASE, "viewer")
    assert [e.path for e in revision.result.errors] == ["roles.editor.inherits[0]"]
    assert without_role(BASE, "admin").policy.roles.keys() == {"viewer", "editor"}


def test_parse_json_refuses_an_integer_too_long_to_convert():
    with pytest.raises(BodyError) as caught:
        parse_json('{"version": ' + "1" * 5000 + "}")
    assert messages(caught.value) == ["a number in the body has too many digits"]
