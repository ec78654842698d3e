"""DPoP end to end with a third-party client: Node's oauth4webapi (tests/node/dpop.mjs)
against a real server (SPEC §17): a password grant with a DPoP key, a protected call, a
public client's refresh with the same key and with another (refused), the bound token
refused as Bearer, and the server-nonce flow."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from authserver.services import clients, users
from tests.conftest import PASSWORD, LiveServer, serve_app
from tests.support.node import run_script
from tests.support.tokens import token_claims

pytestmark = pytest.mark.processes


@pytest.fixture
def nonce_server(settings) -> Iterator[LiveServer]:
    yield from serve_app(settings, DPOP_NONCE=True)


def _public_client(server: LiveServer, name: str, mode: str) -> dict[str, str]:
    with server.app.app_context():
        client, _ = clients.create(name, ["password", "refresh_token"], public=True)
        if users.find("alice") is None:
            users.create("alice", PASSWORD, ("viewer",))
        return {
            "mode": mode,
            "issuer": server.url,
            "client_id": client.client_id,
            "username": "alice",
            "password": PASSWORD,
        }


def test_oauth4webapi_dpop_flow(live_server):
    result = run_script("dpop.mjs", _public_client(live_server, "node dpop", "flow"))
    assert "ES256" in result["algs"]
    assert result["login"] == {"token_type": "dpop", "has_refresh": True}
    assert result["me"]["status"] == 200 and result["me"]["body"]["username"] == "alice"
    assert result["refresh"] == {"token_type": "dpop"}
    assert result["meAgain"] == {"status": 200}
    assert result["otherRefresh"] == {"error": "invalid_grant", "status": 400}
    assert result["asBearer"]["status"] == 401
    assert result["asBearer"]["challenge"].startswith('Bearer error="invalid_token"')
    assert result["sameKeyAfter"] == {"token_type": "dpop"}
    assert token_claims(result["accessToken"])["cnf"] == {"jkt": result["jkt"]}


def test_oauth4webapi_dpop_nonce_flow(nonce_server):
    result = run_script("dpop.mjs", _public_client(nonce_server, "node nonce", "nonce"))
    assert result["first"] == {"error": "use_dpop_nonce", "nonceError": True}
    assert result["login"] == {"token_type": "dpop"}
    assert result["me"] == {"status": 200}
