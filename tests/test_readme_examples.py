"""Issue 10 item 19: the README's policy examples ship in ``policies/examples/`` and its
commands run verbatim: each ``$ authserver policies ...`` line of the README is run from the
project root and its output compared with the lines the README shows under it."""

from __future__ import annotations

import json
import re

import pytest

from authserver.services import clients, users
from tests.conftest import PASSWORD
from tests.support.admin import bearer, writing
from tests.support.cli import PROJECT, invoke

README = (PROJECT / "README.md").read_text(encoding="utf-8")
COMMAND = re.compile(r"^\$ authserver (policies (?:check|apply) \S+)(?:\s+#.*)?$")


def readme_commands() -> list[tuple[list[str], list[str]]]:
    """Each ``$ authserver policies check|apply FILE`` of the README and the lines it shows
    as the answer (up to the next ``$`` line or the end of the block)."""
    found: list[tuple[list[str], list[str]]] = []
    lines = README.splitlines()
    for index, line in enumerate(lines):
        match = COMMAND.match(line)
        if not match:
            continue
        shown = []
        for following in lines[index + 1 :]:
            if following.startswith(("$ ", "```")):
                break
            shown.append(following)
        found.append((match.group(1).split(), shown))
    return found


COMMANDS = readme_commands()


def test_the_readme_names_its_examples_and_they_ship():
    named = set(re.findall(r"policies/examples/[\w.-]+\.yaml", README))
    assert {f"policies/examples/{n}.yaml" for n in ("bad", "cycle", "ok", "smaller")} <= named
    assert all((PROJECT / path).is_file() for path in named), named
    assert len(COMMANDS) >= 4


@pytest.mark.parametrize(("args", "shown"), COMMANDS, ids=[" ".join(a) for a, _ in COMMANDS])
def test_readme_policy_command_prints_what_the_readme_shows(
    runner, make_user, monkeypatch, args, shown
):
    monkeypatch.chdir(PROJECT)
    if args[1] == "apply":  # the README's walk-through: bob (demo) and dana hold editor
        make_user("bob", ("editor",))
        make_user("dana", ("editor",))

    result = invoke(runner, *args)

    assert result.output.splitlines() == shown
    assert result.exit_code == (0 if shown[-1].endswith("warning(s))") else 1)


def test_readme_put_of_an_invalid_policy_answers_what_the_readme_shows(client, make_token):
    command = re.search(r"--data-binary @(policies/examples/\S+) \S+/admin/policy\n(.*)\n", README)
    assert command, "the README's PUT /admin/policy example"
    admin = bearer(make_token("root", ("admin",), scope=None))
    body = (PROJECT / command.group(1)).read_bytes()

    response = client.put("/admin/policy", headers=writing(admin, 1), data=body)

    assert response.status_code == 422
    assert response.get_json() == json.loads(command.group(2))


def test_readme_requests_oauthlib_auto_refresh_with_credentials_works(live_server, monkeypatch):
    """The README's requests-oauthlib advice: OAUTHLIB_INSECURE_TRANSPORT=1 for plain http
    on a laptop, and the client's credentials in ``auto_refresh_kwargs`` for auto-refresh."""
    from oauthlib.oauth2 import LegacyApplicationClient
    from requests_oauthlib import OAuth2Session

    assert "OAUTHLIB_INSECURE_TRANSPORT=1" in README and "auto_refresh_kwargs" in README
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    with live_server.app.app_context():
        users.create("alice", PASSWORD, ["viewer"])
        made, secret = clients.create("laptop app", ["password", "refresh_token"])
        client_id = made.client_id
    token_url = f"{live_server.url}/oauth/token"
    credentials = {"client_id": client_id, "client_secret": secret}
    updated = []
    session = OAuth2Session(
        client=LegacyApplicationClient(client_id=client_id),
        auto_refresh_url=token_url,
        auto_refresh_kwargs=credentials,
        token_updater=updated.append,
    )
    first = session.fetch_token(token_url, username="alice", password=PASSWORD, **credentials)
    session.token = {**first, "expires_in": -10, "expires_at": 1}  # expired: refresh at next use

    response = session.get(f"{live_server.url}/api/me", timeout=10)

    assert response.status_code == 200, response.text
    assert len(updated) == 1 and updated[0]["refresh_token"] != first["refresh_token"]
