"""The policy loader (SPEC §7): every error and warning, with its exact line and column."""

from __future__ import annotations

import textwrap

import pytest

from authserver.policy import PolicyIssue, load_policy_data, load_policy_yaml
from authserver.policy.loader import MAX_NESTING_MESSAGE


def yaml_text(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def errors(text: str) -> list[tuple[int | None, int | None, str]]:
    result = load_policy_yaml(yaml_text(text))
    assert result.policy is None
    assert not result.ok
    return [(issue.line, issue.column, issue.message) for issue in result.errors]


def only_error(text: str) -> PolicyIssue:
    result = load_policy_yaml(yaml_text(text))
    assert result.policy is None
    assert len(result.errors) == 1, result.errors
    return result.errors[0]


def test_valid_policy_has_no_errors_or_warnings():
    result = load_policy_yaml(
        yaml_text("""
        version: 1
        scopes:
          profile: Read your profile
        roles:
          viewer:
            description: Reads
            scopes: [profile]
        """)
    )
    assert result.ok
    assert result.errors == [] and result.warnings == []
    assert result.policy is not None


# -- 1. YAML syntax --------------------------------------------------------------------------


def test_yaml_syntax_error_points_at_the_problem():
    issue = only_error("""
        version: 1
        scopes:
          profile: Read
           documents:read: Read
        roles: {}
        """)
    assert (issue.line, issue.column) == (4, 18)
    assert issue.message.startswith("YAML syntax error: ")
    assert "mapping values are not allowed" in issue.message


def test_yaml_unclosed_flow_list_is_a_syntax_error():
    issue = only_error("""
        version: 1
        scopes: {profile: Read}
        roles:
          viewer: {scopes: [profile}
        """)
    assert (issue.line, issue.column) == (4, 28)
    assert "did not find expected ',' or ']'" in issue.message


def test_yaml_control_character_position_counts_characters_not_bytes():
    issue = only_error("# ééé\nversion: \x07\n")
    assert (issue.line, issue.column) == (2, 10)
    assert "control characters are not allowed" in issue.message


def test_empty_document_is_an_error():
    issue = only_error("# nothing here\n")
    assert (issue.line, issue.column) == (1, 1)
    assert "empty" in issue.message


def test_second_yaml_document_is_a_syntax_error():
    issue = only_error("""
        version: 1
        ---
        version: 1
        """)
    assert (issue.line, issue.column) == (2, 1)
    assert "single document" in issue.message


# -- 2. duplicate keys, aliases, merge keys, tags --------------------------------------------


def test_duplicate_keys_are_reported_at_every_level():
    assert errors("""
        version: 1
        scopes:
          profile: Read
          profile: Read again
        roles:
          viewer:
            scopes: [profile]
            scopes: [profile]
        version: 1
        """) == [
        (4, 3, "duplicate key 'profile' (first defined on line 3)"),
        (8, 5, "duplicate key 'scopes' (first defined on line 7)"),
        (9, 1, "duplicate key 'version' (first defined on line 1)"),
    ]


def test_duplicate_role_is_reported_and_the_path_names_it():
    issue = only_error("""
        version: 1
        scopes: {profile: Read}
        roles:
          viewer: {scopes: [profile]}
          viewer: {scopes: [profile]}
        """)
    assert (issue.line, issue.column, issue.path) == (5, 3, "roles.viewer")
    assert issue.message == "duplicate key 'viewer' (first defined on line 4)"


def test_key_read_as_another_type_must_be_quoted():
    issue = only_error("""
        version: 1
        scopes: {profile: Read}
        roles:
          yes: {scopes: [profile]}
        """)
    assert (issue.line, issue.column) == (4, 3)
    assert issue.message == "key 'yes' is read as a boolean: quote it"


def test_aliases_are_refused_at_the_alias():
    assert errors("""
        version: 1
        scopes:
          profile: &desc Read
          documents:read: *desc
        roles:
          viewer: {scopes: [profile, documents:read]}
        """) == [(4, 19, "YAML aliases (*desc) are not supported: write the value out")]


def test_recursive_alias_is_refused_without_hanging():
    messages = [message for _, _, message in errors("version: 1\nscopes: &s {a: [*s]}\n")]
    assert "YAML aliases (*s) are not supported: write the value out" in messages


def test_merge_keys_are_refused():
    assert errors("""
        version: 1
        scopes: {profile: Read}
        roles:
          viewer:
            <<: {scopes: [profile]}
        """) == [(5, 5, "merge keys (<<) are not supported: write the keys out")]


def test_non_standard_tags_are_errors():
    assert errors("""
        version: 1
        scopes: {profile: !secret Read}
        roles:
          viewer: !!python/object:os.system {scopes: [profile]}
        """) == [
        (2, 19, "unsupported YAML tag '!secret'"),
        (4, 11, "unsupported YAML tag 'tag:yaml.org,2002:python/object:os.system'"),
    ]


def test_standard_explicit_tags_are_accepted():
    result = load_policy_yaml(
        "version: !!int 1\nscopes: {profile: !!str Read}\n"
        "roles: {viewer: {scopes: [!!str profile]}}\n"
    )
    assert result.ok, result.errors


def test_invalid_value_for_a_standard_tag_is_an_error():
    found = errors("version: !!int one\nscopes: {}\nroles: {}\n")
    assert found[0] == (1, 10, "invalid !!int value 'one'")


# -- 3. unknown keys -------------------------------------------------------------------------


def test_unknown_top_level_key():
    issue = only_error("""
        version: 1
        owner: me
        scopes: {profile: Read}
        roles: {viewer: {scopes: [profile]}}
        """)
    assert (issue.line, issue.column, issue.path) == (2, 1, "owner")
    assert issue.message == (
        "unknown key 'owner' at the top level: expected 'version', 'scopes', 'roles', 'tests'"
    )


def test_unknown_role_key_suggests_the_close_one():
    issue = only_error("""
        version: 1
        scopes: {profile: Read}
        roles:
          viewer:
            scopes: [profile]
            inherit: []
        """)
    assert (issue.line, issue.column, issue.path) == (6, 5, "roles.viewer.inherit")
    assert issue.message == "unknown key 'inherit' in role 'viewer': did you mean 'inherits'?"


# -- 4. undeclared scopes and wildcards ------------------------------------------------------


def test_role_scope_not_declared():
    issue = only_error("""
        version: 1
        scopes:
          profile: Read
          documents:read: Read
        roles:
          viewer:
            scopes: [profile, documnets:read, documents:read]
        """)
    assert (issue.line, issue.column) == (7, 23)
    assert issue.path == "roles.viewer.scopes[1]"
    assert issue.message == "scope 'documnets:read' is not declared under 'scopes'"


def test_wildcard_matching_no_declared_scope():
    issue = only_error("""
        version: 1
        scopes: {profile: Read}
        roles:
          viewer:
            scopes: [profile, "documents:*"]
        """)
    assert (issue.line, issue.column) == (5, 23)
    assert issue.message == "wildcard 'documents:*' matches no declared scope"


@pytest.mark.parametrize("token", ["*", "prof*", "documents:*:x", "documents*"])
def test_star_outside_the_prefix_form_is_not_a_wildcard(token):
    issue = only_error(f"""
        version: 1
        scopes: {{profile: Read, documents:read: Read}}
        roles:
          viewer:
            scopes: [profile, documents:read, "{token}"]
        """)
    assert (issue.line, issue.column) == (5, 39)
    assert issue.message == f"{token!r} is not a valid wildcard: only 'prefix:*' is"


def test_declared_scope_must_not_contain_a_star():
    issue = only_error("""
        version: 1
        scopes:
          profile: Read
          "documents:*": Everything
        roles:
          viewer: {scopes: [profile]}
        """)
    assert (issue.line, issue.column, issue.path) == (4, 3, "scopes.documents:*")
    assert "must not contain '*'" in issue.message


# -- 5. scope-token syntax (RFC 6749 §3.3) ---------------------------------------------------


def test_declared_scope_with_a_space():
    issue = only_error("""
        version: 1
        scopes:
          profile: Read
          "read all": Read everything
        roles:
          viewer: {scopes: [profile]}
        """)
    assert (issue.line, issue.column, issue.path) == (4, 3, "scopes.read all")
    assert "'read all' is not a valid scope (RFC 6749 §3.3): a space is not allowed" in (
        issue.message
    )


@pytest.mark.parametrize(
    ("written", "reason"),
    [
        ("'a\"b'", "a double quote is not allowed"),
        ('"back\\\\slash"', "a backslash is not allowed"),
        ('"caf\u00e9"', "the character 'é' is not allowed"),
        ("''", "a scope must not be empty"),
    ],
)
def test_referenced_scope_breaking_token_syntax(written, reason):
    issue = only_error(f"""
        version: 1
        scopes: {{profile: Read}}
        roles:
          viewer:
            scopes: [profile, {written}]
        """)
    assert (issue.line, issue.column) == (5, 23)
    assert issue.path == "roles.viewer.scopes[1]"
    assert reason in issue.message


# -- 6. unknown inherited role ---------------------------------------------------------------


def test_unknown_inherited_role():
    issue = only_error("""
        version: 1
        scopes: {profile: Read}
        roles:
          viewer: {scopes: [profile]}
          editor:
            inherits: [viewer, veiwer]
        """)
    assert (issue.line, issue.column, issue.path) == (6, 24, "roles.editor.inherits[1]")
    assert issue.message == "role 'editor' inherits unknown role 'veiwer'"


# -- 7. inheritance cycles -------------------------------------------------------------------


def test_inheritance_cycle_is_named_once_at_its_first_link():
    assert errors("""
        version: 1
        scopes: {profile: Read}
        roles:
          a: {inherits: [b], scopes: [profile]}
          b: {inherits: [c]}
          c: {inherits: [x, a]}
          x: {scopes: [profile]}
        """) == [(4, 18, "inheritance cycle: a -> b -> c -> a")]


def test_self_inheritance_is_a_cycle():
    issue = only_error("""
        version: 1
        scopes: {profile: Read}
        roles:
          viewer: {inherits: [viewer], scopes: [profile]}
        """)
    assert (issue.line, issue.column, issue.path) == (4, 23, "roles.viewer.inherits[0]")
    assert issue.message == "inheritance cycle: viewer -> viewer"


def test_two_separate_cycles_are_both_reported():
    found = errors("""
        version: 1
        scopes: {profile: Read}
        roles:
          a: {inherits: [b], scopes: [profile]}
          b: {inherits: [a]}
          c: {inherits: [d]}
          d: {inherits: [c]}
        """)
    assert [message for _, _, message in found] == [
        "inheritance cycle: a -> b -> a",
        "inheritance cycle: c -> d -> c",
    ]


def test_long_inheritance_chain_does_not_hit_the_recursion_limit():
    lines = ["version: 1", "scopes: {profile: Read}", "roles:", "  r0: {scopes: [profile]}"]
    lines += [f"  r{i}: {{inherits: [r{i - 1}]}}" for i in range(1, 5000)]
    result = load_policy_yaml("\n".join(lines) + "\n")
    assert result.ok
    assert result.policy.effective_scopes("r4999") == {"profile"}


# -- 8. wrong types --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "column", "path", "message"),
    [
        ("version: 2\nscopes: {}\nroles: {}\n", 1, 10, "version",
         "version must be the integer 1, got 2"),
        ("version: '1'\nscopes: {}\nroles: {}\n", 1, 10, "version",
         "version must be the integer 1, got '1'"),
        ("version: true\nscopes: {}\nroles: {}\n", 1, 10, "version",
         "version must be the integer 1, got True"),
        ("version: 1\nscopes: [profile]\nroles: {}\n", 2, 9, "scopes",
         "scopes must be a mapping of scope name to description, got list"),
        ("version: 1\nscopes:\n  profile: 5\nroles: {}\n", 3, 12, "scopes.profile",
         "description of scope 'profile' must be a string, got integer"),
        ("version: 1\nscopes:\n  profile:\nroles: {}\n", 3, 11, "scopes.profile",
         "description of scope 'profile' must be a string, got null"),
        ("version: 1\nscopes: {}\nroles: [viewer]\n", 3, 8, "roles",
         "roles must be a mapping of role name to role, got list"),
        ("version: 1\nscopes: {}\nroles:\n  viewer: profile\n", 4, 11, "roles.viewer",
         "role 'viewer' must be a mapping with 'description', 'inherits', 'scopes', "
         "got string"),
        ("version: 1\nscopes: {p: P}\nroles:\n  viewer:\n    scopes: p\n", 5, 13,
         "roles.viewer.scopes", "scopes must be a list of scopes, got string"),
        ("version: 1\nscopes: {p: P}\nroles:\n  v:\n    scopes: [p, 7]\n", 5, 17,
         "roles.v.scopes[1]", "scope must be a string, got integer"),
        ("version: 1\nscopes: {p: P}\nroles:\n  v:\n    scopes: [p]\n    inherits: w\n",
         6, 15, "roles.v.inherits", "inherits must be a list of role names, got string"),
        ("version: 1\nscopes: {p: P}\nroles:\n  v:\n    scopes: [p]\n    description: [a]\n",
         6, 18, "roles.v.description", "description of role 'v' must be a string, got list"),
        ("- version\n- scopes\n", 1, 1, "",
         "a policy must be a mapping with 'version', 'scopes', 'roles', got list"),
        ("version: 1\nroles: {}\n", 1, 1, "scopes", "missing required key 'scopes'"),
        ("# comment\nscopes: {}\nroles: {}\n", 2, 1, "version", "missing required key 'version'"),
    ],
)  # fmt: skip
def test_wrong_types(text, line, column, path, message):
    result = load_policy_yaml(text)
    assert result.policy is None
    assert [(i.line, i.column, i.path, i.message) for i in result.errors] == [
        (line, column, path, message)
    ]


# -- every error at once, and warnings -------------------------------------------------------


def test_several_errors_are_all_reported_in_document_order():
    assert errors("""
        version: 3
        scopes:
          profile: Read
          profile: Again
          "bad scope": x
        roles:
          viewer:
            scopes: [profile, nope]
            colour: blue
          editor:
            inherits: [ghost, editor]
          admin: []
        """) == [
        (1, 10, "version must be the integer 1, got 3"),
        (4, 3, "duplicate key 'profile' (first defined on line 3)"),
        (5, 3, "'bad scope' is not a valid scope (RFC 6749 §3.3): a space is not allowed; "
               "use printable ASCII other than space, '\"' and '\\'"),
        (8, 23, "scope 'nope' is not declared under 'scopes'"),
        (9, 5, "unknown key 'colour' in role 'viewer': expected 'description', 'inherits', "
               "'scopes'"),
        (11, 16, "role 'editor' inherits unknown role 'ghost'"),
        (11, 23, "inheritance cycle: editor -> editor"),
        (12, 10, "role 'admin' must be a mapping with 'description', 'inherits', 'scopes', "
                 "got list"),
    ]  # fmt: skip


def test_warnings_for_a_role_granting_nothing_and_an_ungranted_scope():
    result = load_policy_yaml(
        yaml_text("""
        version: 1
        scopes:
          profile: Read
          audit:read: Read the audit trail
        roles:
          viewer: {scopes: [profile]}
          guest: {}
          visitor:
            inherits: [guest]
        """)
    )
    assert result.ok and result.policy is not None
    assert [(w.line, w.column, w.path, w.message) for w in result.warnings] == [
        (4, 3, "scopes.audit:read", "scope 'audit:read' is not granted by any role"),
        (7, 3, "roles.guest", "role 'guest' grants no scope"),
        (8, 3, "roles.visitor", "role 'visitor' grants no scope"),
    ]


def test_warnings_are_not_given_alongside_errors():
    result = load_policy_yaml("version: 1\nscopes: {a: A}\nroles: {r: {scopes: a}}\n")
    assert len(result.errors) == 1
    assert result.warnings == []


# -- the JSON variant ------------------------------------------------------------------------


def test_json_document_errors_have_paths_and_no_position():
    result = load_policy_data(
        {
            "version": 1,
            "scopes": {"profile": "Read", "bad scope": "x"},
            "roles": {"viewer": {"scopes": ["profile"], "inherits": ["ghost"]}, "x": "y"},
        }
    )
    assert result.policy is None
    assert [(i.line, i.column, i.path) for i in result.errors] == [
        (None, None, "scopes.bad scope"),
        (None, None, "roles.x"),
        (None, None, "roles.viewer.inherits[0]"),
    ]
    assert result.errors[2].format("body") == (
        "body: roles.viewer.inherits[0]: role 'viewer' inherits unknown role 'ghost'"
    )


def test_json_document_loads_to_the_same_policy_as_yaml():
    text = yaml_text("""
        version: 1
        scopes: {profile: Read, documents:read: Read}
        roles:
          viewer: {scopes: [profile]}
          editor: {inherits: [viewer], scopes: ["documents:*"]}
        """)
    from_yaml = load_policy_yaml(text).policy
    from_json = load_policy_data(from_yaml.to_document())
    assert from_json.ok and from_json.policy == from_yaml


def test_json_top_level_must_be_an_object():
    result = load_policy_data(["version"])
    assert [(i.line, i.path, i.message) for i in result.errors] == [
        (None, "", "a policy must be a mapping with 'version', 'scopes', 'roles', got list")
    ]


def test_issue_format():
    assert PolicyIssue(3, 7, "roles.a", "boom").format("roles.yaml") == "roles.yaml:3:7: boom"
    assert PolicyIssue(None, None, "roles.a", "boom").format("body") == "body: roles.a: boom"
    assert PolicyIssue(None, None, "", "boom").format("body") == "body: boom"


def test_deeply_nested_yaml_is_an_error_not_a_crash():
    text = "version: 1\nscopes: {}\nroles:\n  r:\n    description: " + "[" * 950 + "]" * 950
    result = load_policy_yaml(text)
    assert result.policy is None
    assert [issue.message for issue in result.errors] == [MAX_NESTING_MESSAGE]


@pytest.mark.parametrize("name", ["has space", "nul\x00", "x" * 101, "tab\tname"])
def test_role_name_with_space_control_or_over_100_characters_is_an_error(name):
    document = {"version": 1, "scopes": {"a": "A"}, "roles": {name: {"scopes": ["a"]}}}
    result = load_policy_data(document)
    assert result.policy is None
    assert any(
        "role name must be an ASCII letter, then letters" in i.message for i in result.errors
    )
