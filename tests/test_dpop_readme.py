"""The README's DPoP example (joserfc + requests) runs as printed against a real server,
with and without server nonces."""

from __future__ import annotations

import re

import pytest

from authserver.services import clients, users
from tests.conftest import PASSWORD
from tests.support import PROJECT

MARKER = "<!-- readme-dpop-example -->"


def readme_example() -> str:
    text = (PROJECT / "README.md").read_text()
    block = re.search(r"```python\n(.*?)```", text[text.index(MARKER) :], re.S)
    assert block is not None
    return block[1]


@pytest.mark.parametrize("nonce", [False, True])
def test_readme_dpop_example_runs(live_server, capsys, nonce):
    live_server.app.config["DPOP_NONCE"] = nonce
    with live_server.app.app_context():
        _, secret = clients.create(
            "demo client", ["password", "refresh_token"], client_id="demo-client"
        )
        users.create("alice", PASSWORD, ("viewer",))
    code = readme_example().replace('"http://127.0.0.1:5000"', repr(live_server.url))
    scope: dict = {"SECRET": secret, "PASSWORD": PASSWORD}
    exec(compile(code, "README.md", "exec"), scope)  # noqa: S102 - our own README
    assert "'username': 'alice'" in capsys.readouterr().out
    assert scope["token"]["token_type"] == "DPoP"
