"""No lost update: parallel PUTs carrying the same ETag, against a real threaded server.

Exactly one writer wins; the others are told (412) that the policy moved on, whether they
lost at the If-Match check or at the insert of the next version number.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import requests

from authserver.extensions import db
from authserver.services import clients, policy_store, users
from tests.conftest import PASSWORD
from tests.support.admin import DEFAULT_YAML

WRITERS = 10
ROUNDS = 3


def _admin_token(live_server) -> str:
    with live_server.app.app_context():
        users.create("root", PASSWORD, ["admin"])
        client, secret = clients.create("race", ["password"])
        client_id = client.client_id
        db.session.remove()
    response = requests.post(
        f"{live_server.url}/oauth/token",
        data={"grant_type": "password", "username": "root", "password": PASSWORD},
        auth=(client_id, secret),
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def _body(round_: int, writer: int) -> str:
    return DEFAULT_YAML.replace("Reads documents", f"Reads documents (round {round_}, {writer})")


def _race(url: str, token: str, etag: str, round_: int) -> list[requests.Response]:
    barrier = threading.Barrier(WRITERS)
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/yaml",
        "If-Match": etag,
    }

    def put(writer: int) -> requests.Response:
        with requests.Session() as session:
            barrier.wait(timeout=10)
            return session.put(
                f"{url}/admin/policy", data=_body(round_, writer), headers=headers, timeout=60
            )

    with ThreadPoolExecutor(WRITERS) as pool:
        return list(pool.map(put, range(WRITERS)))


def test_parallel_puts_with_one_etag_one_wins_the_rest_are_412(live_server):
    token = _admin_token(live_server)
    for round_ in range(1, ROUNDS + 1):
        etag = f'"{round_}"'
        responses = _race(live_server.url, token, etag, round_)
        statuses = sorted(response.status_code for response in responses)
        assert statuses == [200] + [412] * (WRITERS - 1), [r.text for r in responses]
        winner = next(r for r in responses if r.status_code == 200)
        assert winner.headers["ETag"] == f'"{round_ + 1}"'
        for loser in responses:
            if loser.status_code == 412:
                assert loser.headers["Content-Type"] == "application/problem+json"
                assert loser.json()["current_version"] == round_ + 1
        description = winner.json()["policy"]["roles"]["viewer"]["description"]
        with live_server.app.app_context():
            assert policy_store.newest_version() == round_ + 1  # one new version, no more
            source = policy_store.live_source()
            db.session.remove()
        assert f"description: {description}\n" in source


def test_role_and_policy_writers_race_on_the_same_version(live_server):
    """Every writer goes through the same conditional insert: policy PUTs, role PUTs and
    restores carrying one ETag: one wins, the rest are 412."""
    token = _admin_token(live_server)
    headers = {"Authorization": f"Bearer {token}", "If-Match": '"1"'}
    yaml_headers = {**headers, "Content-Type": "application/yaml"}
    json_headers = {**headers, "Content-Type": "application/json"}
    requests_ = [
        ("put", "/admin/policy", yaml_headers, _body(1, 0)),
        ("put", "/admin/roles/auditor", json_headers, '{"scopes": ["audit:read"]}'),
        ("put", "/admin/roles/viewer", json_headers, '{"scopes": ["profile"]}'),
        ("post", "/admin/policy/versions/1/restore", headers, None),
    ] * (WRITERS // 4 + 1)
    requests_ = requests_[:WRITERS]
    barrier = threading.Barrier(WRITERS)

    def send(index: int) -> requests.Response:
        method, path, request_headers, data = requests_[index]
        with requests.Session() as session:
            barrier.wait(timeout=10)
            return session.request(
                method, live_server.url + path, headers=request_headers, data=data, timeout=60
            )

    with ThreadPoolExecutor(WRITERS) as pool:
        responses = list(pool.map(send, range(WRITERS)))
    winners = [r for r in responses if r.status_code in (200, 201)]
    assert len(winners) == 1, [r.text for r in responses]
    assert sorted(r.status_code for r in responses if r not in winners) == [412] * (WRITERS - 1)
    assert winners[0].headers["ETag"] == '"2"'
    with live_server.app.app_context():
        assert policy_store.newest_version() == 2
        db.session.remove()
