"""The one policy write path (services.policy_admin -> policy_store.commit_version).

The store alone decides staleness, in the insert; every writer (admin API, CLI) gets the
same validation, held-role check and audit event.
"""

from __future__ import annotations

import pytest

from authserver.extensions import db
from authserver.models import PolicyVersion
from authserver.policy import load_policy_yaml
from authserver.services import audit, policy_admin, policy_store, users
from authserver.services.policy_admin import YAML, WriteOptions
from authserver.services.policy_errors import RolesInUse, Stale
from authserver.services.policy_store import NewVersion
from tests.support.admin import DEFAULT_YAML, bearer, writing
from tests.support.cli import assert_one_line_error, invoke

WITH_AUDITOR = DEFAULT_YAML + "  auditor:\n    scopes: [audit:read]\n"


def version_events() -> list:
    events, _ = audit.search(audit.AuditQuery(kind="policy.version"), 50)
    return sorted(events, key=lambda event: event.details["version"])


def test_commit_version_on_a_base_that_is_not_the_newest_is_stale_and_writes_nothing(app):
    policy_store.save_version(WITH_AUDITOR, actor="root", expected=1)
    policy = load_policy_yaml(DEFAULT_YAML).policy
    with pytest.raises(Stale) as caught:
        policy_store.commit_version(NewVersion(DEFAULT_YAML, policy, 1), "root")
    assert caught.value.current == 2 and caught.value.members() == {"current_version": 2}
    assert policy_store.newest_version() == 2
    assert db.session.query(PolicyVersion).count() == 2
    assert len(version_events()) == 2


def test_check_expected_accepts_a_list_naming_the_live_version(app):
    policy_store.check_expected(2, None)
    policy_store.check_expected(2, {7, 2})
    for named in (set(), {0}, {1}, {3}):
        with pytest.raises(Stale) as caught:
            policy_store.check_expected(2, named)
        assert caught.value.current == 2


def test_a_stale_write_takes_no_role_from_anyone(app, make_user):
    policy_store.save_version(WITH_AUDITOR, actor="root", expected=1)
    make_user("carol", ("auditor",))
    policy_store.save_version(WITH_AUDITOR.replace("Reads documents", "Reads"), expected=2)
    options = WriteOptions("root", strip_roles=True, expected=frozenset({2}))
    with pytest.raises(Stale):
        policy_admin.replace_policy(DEFAULT_YAML, YAML, options)
    assert users.get("carol").roles == ["auditor"]
    assert policy_store.newest_version() == 3


def test_roles_in_use_rolls_the_new_version_back(app, make_user):
    policy_store.save_version(WITH_AUDITOR, actor="root", expected=1)
    make_user("carol", ("auditor",))
    with pytest.raises(RolesInUse) as caught:
        policy_admin.restore(1, WriteOptions("root", expected=frozenset({2})))
    assert caught.value.members()["roles"] == [{"role": "auditor", "users": 1}]
    assert policy_store.newest_version() == 2
    saved = policy_admin.restore(1, WriteOptions("root", strip_roles=True))
    assert (saved.version, saved.stripped) == (3, {"auditor": 1})
    assert version_events()[-1].details["stripped_roles"] == {"auditor": 1}


def test_cli_apply_and_admin_put_record_the_same_event(client, runner, make_token, tmp_path):
    headers = bearer(make_token("root", ("admin",)))
    response = client.put(
        "/admin/policy?comment=why", headers=writing(headers, 1), data=WITH_AUDITOR
    )
    assert response.status_code == 200, response.get_json()
    path = tmp_path / "roles.yaml"
    path.write_text(DEFAULT_YAML, encoding="utf-8")
    result = invoke(runner, "policies", "apply", "--comment", "why", str(path))
    assert result.exit_code == 0, result.output
    by_api, by_cli = version_events()[1:]
    assert (by_api.actor, by_cli.actor) == ("root", "cli")
    assert set(by_api.details) == set(by_cli.details)
    assert by_api.details["comment"] == by_cli.details["comment"] == "why"
    assert by_api.details["diff"]["roles_added"] == by_cli.details["diff"]["roles_removed"]
    assert policy_store.get_version(3).comment == "why"


def test_cli_apply_without_a_comment_says_what_it_did(runner, tmp_path):
    path = tmp_path / "roles.yaml"
    path.write_text(WITH_AUDITOR, encoding="utf-8")
    assert invoke(runner, "policies", "apply", str(path)).exit_code == 0
    assert policy_store.get_version(2).comment == "policy replaced"


def test_put_role_on_an_older_existing_version_is_412_not_a_lost_update(client, make_token):
    headers = bearer(make_token("root", ("admin",)))
    first = client.put(
        "/admin/roles/auditor",
        headers=writing(headers, 1, "application/json"),
        data='{"scopes": ["audit:read"]}',
    )
    assert first.status_code == 201
    second = client.put(
        "/admin/roles/viewer",
        headers=writing(headers, 1, "application/json"),
        data='{"scopes": ["profile"]}',
    )
    assert second.status_code == 412
    assert second.get_json()["current_version"] == 2
    assert "auditor" in policy_store.live_policy()[1].roles


# -- the order of the answers (docs/admin-api.md, RFC 9110 §13.2.1) -----------------------


@pytest.fixture
def admin(make_token) -> dict:
    return bearer(make_token("root", ("admin",)))


@pytest.mark.parametrize("if_match", [None, 7, 1])
def test_what_a_write_names_must_exist_before_its_precondition_counts(client, admin, if_match):
    policy_store.save_version(WITH_AUDITOR, actor="root", expected=1)  # If-Match "1" is stale
    delete = client.delete("/admin/roles/ghost", headers=writing(admin, if_match))
    assert delete.status_code == 404, delete.get_json()
    restore = client.post("/admin/policy/versions/9/restore", headers=writing(admin, if_match))
    assert restore.status_code == 404, restore.get_json()


@pytest.mark.parametrize(
    "path, body",
    [("/admin/policy", "version: [nope"), ("/admin/roles/editor", "scopes: [ghost]")],
)
def test_a_stale_write_is_412_before_its_body_is_read(client, admin, path, body):
    policy_store.save_version(WITH_AUDITOR, actor="root", expected=1)
    response = client.put(path, headers=writing(admin, 1), data=body)
    assert response.status_code == 412, response.get_json()
    assert client.put(path, headers=writing(admin, None), data=body).status_code == 428
    assert client.put(path, headers=writing(admin, 2), data=body).status_code == 422


def test_a_write_leaves_its_version_live_in_this_process_without_a_reparse(app, monkeypatch):
    saved = policy_admin.replace_policy(WITH_AUDITOR, YAML, WriteOptions("root"))
    monkeypatch.setattr(policy_store, "load_policy_yaml", None)  # a reparse would fail
    assert policy_store.live_policy() == (2, saved.policy)
    assert policy_store.live_policy()[1] == load_policy_yaml(policy_store.live_source()).policy


@pytest.mark.parametrize("comment", ["a%00b", "tab%09here", "x" * 501])
def test_a_comment_with_control_characters_or_too_long_is_400(client, admin, comment):
    response = client.put(
        f"/admin/policy?comment={comment}", headers=writing(admin, 1), data=WITH_AUDITOR
    )
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["invalid_params"][0]["name"] == "comment"
    assert policy_store.newest_version() == 1


@pytest.mark.parametrize("comment", ["two\nlines", "x" * 501])
def test_cli_refuses_the_same_comments_in_one_line(runner, tmp_path, comment):
    path = tmp_path / "roles.yaml"
    path.write_text(WITH_AUDITOR, encoding="utf-8")
    result = invoke(runner, "policies", "apply", "--comment", comment, str(path))
    assert_one_line_error(result, "comment: at most 500 printable characters")
    assert policy_store.newest_version() == 1


def test_a_json_body_with_a_huge_number_is_422_not_500(client, admin):
    for path in ("/admin/policy", "/admin/roles/editor"):
        body = '{"version": ' + "1" * 5000 + "}"
        response = client.put(path, headers=writing(admin, 1, "application/json"), data=body)
        assert response.status_code == 422, response.get_data(as_text=True)
        assert "too many digits" in response.get_json()["errors"][0]["message"]
