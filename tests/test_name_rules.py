"""Issue 10 item 9 (SPEC §10): names people read and compare cannot impersonate each other.

Role names are ASCII (a letter, then letters, digits, ``_``, ``-``, ``.``, at most 64),
the same rule on every path: PUT /admin/policy (YAML and JSON), PUT /admin/roles/<name>,
``policies check``/``apply``. Usernames are compared after NFKC and case folding; a name
with another script, a look-alike, a control or a bidi character is refused.
"""

from __future__ import annotations

import json

import pytest
import yaml

from authserver.policy import load_policy_data
from authserver.policy.schema import ROLE_NAME_RULE, is_role_name
from authserver.services import users
from authserver.services.errors import Conflict, Invalid
from tests.support.admin import DEFAULT_YAML, assert_problem, bearer, writing
from tests.support.cli import assert_one_line_error, invoke

LOOK_ALIKES = {
    "cyrillic_a": "\u0430dmin",
    "fullwidth_a": "\uff41dmin",
    "cyrillic_e": "vi\u0435wer",
    "bidi_override": "admin\u202e",
    "zero_width": "ad\u200bmin",
    "nul": "ad\x00min",
    "space": "has space",
    "leading_digit": "1admin",
    "over_64": "r" * 65,
}
GOOD = ["viewer", "a", "Team.Lead-2_x", "r" * 64]


@pytest.mark.parametrize("name", LOOK_ALIKES.values(), ids=LOOK_ALIKES.keys())
def test_look_alike_role_name_is_refused_by_the_rule(name):
    assert not is_role_name(name)


@pytest.mark.parametrize("name", GOOD)
def test_ascii_role_name_is_accepted_by_the_rule(name):
    assert is_role_name(name)


def policy_with_role(name: str) -> dict:
    data = yaml.safe_load(DEFAULT_YAML)
    data["roles"][name] = {"scopes": ["profile"]}
    return data


@pytest.mark.parametrize("name", LOOK_ALIKES.values(), ids=LOOK_ALIKES.keys())
def test_look_alike_role_name_is_refused_by_the_policy_loader(name):
    result = load_policy_data(policy_with_role(name))
    assert result.policy is None
    assert any(ROLE_NAME_RULE in issue.message for issue in result.errors)


def test_default_policy_still_loads():
    assert load_policy_data(yaml.safe_load(DEFAULT_YAML)).policy is not None


@pytest.fixture
def admin(make_token) -> dict:
    return bearer(make_token("root", ("admin",)))


@pytest.mark.parametrize("name", ["\u0430dmin", "\uff41dmin", "vi\u0435wer", "admin\u202e"])
def test_look_alike_role_name_is_422_on_whole_policy_put_json(client, admin, name):
    response = client.put(
        "/admin/policy",
        headers=writing(admin, 1, "application/json"),
        data=json.dumps(policy_with_role(name)),
    )
    body = assert_problem(response, 422)
    assert ROLE_NAME_RULE in json.dumps(body, ensure_ascii=False)


@pytest.mark.parametrize("name", ["\u0430dmin", "\uff41dmin", "vi\u0435wer", "admin\u202e"])
def test_look_alike_role_name_is_422_on_whole_policy_put_yaml(client, admin, name):
    text = yaml.safe_dump(policy_with_role(name), allow_unicode=True)
    response = client.put("/admin/policy", headers=writing(admin, 1), data=text.encode())
    assert_problem(response, 422)


@pytest.mark.parametrize("name", ["\u0430dmin", "\uff41dmin", "vi\u0435wer", "admin\u202e"])
def test_look_alike_role_name_is_refused_on_role_put_with_the_same_rule(client, admin, name):
    response = client.put(
        f"/admin/roles/{name}",
        headers=writing(admin, 1, "application/json"),
        data=json.dumps({"scopes": ["profile"]}),
    )
    body = assert_problem(response, 422)
    assert ROLE_NAME_RULE in json.dumps(body, ensure_ascii=False)


def test_look_alike_role_name_is_refused_by_policies_check(runner, tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(policy_with_role("\u0430dmin"), allow_unicode=True))
    result = invoke(runner, "policies", "check", str(path))
    assert result.exit_code == 1
    assert ROLE_NAME_RULE in result.output + result.stderr


# -- usernames ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["\u0430lice", "b\u043eb", "alice\u202e", "al\u200bice", "al\x00ice", "\u0430\u0431"]
)
def test_username_with_another_script_or_control_is_refused(app, name):
    with pytest.raises(Invalid):
        users.create(name, "long enough password")


@pytest.mark.parametrize("twin", ["Alice", "ALICE", "\uff41lice", "\uff21LICE"])
def test_username_equal_after_nfkc_and_casefold_is_refused(app, twin):
    users.create("alice", "long enough password")
    with pytest.raises(Conflict):
        users.create(twin, "long enough password")


def test_fullwidth_username_is_stored_in_its_nfkc_form(app):
    user = users.create("\uff42ob", "long enough password")
    assert user.username == "bob"


def test_cli_refuses_look_alike_username_with_one_line(runner):
    result = invoke(runner, "users", "create", "\u0430lice", input="long enough password\n")
    assert_one_line_error(result, "username")
