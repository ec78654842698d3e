"""Helpers shared by the admin policy tests (no tests here)."""

from __future__ import annotations

from pathlib import Path

from authserver.services import policy_store
from tests.support.http import bearer  # noqa: F401 (admin tests import it from here)

DEFAULT_YAML = (Path(__file__).resolve().parents[2] / "policies" / "roles.yaml").read_text()
YAML = "application/yaml"
PROBLEM = "application/problem+json"


def writing(headers: dict, version: int | str | None, content_type: str = YAML) -> dict:
    """``headers`` plus Content-Type and If-Match naming ``version`` (None: no If-Match)."""
    result = {**headers, "Content-Type": content_type}
    if version is not None:
        result["If-Match"] = f'"{version}"' if isinstance(version, int) else version
    return result


def live(client, headers: dict) -> tuple[int, dict]:
    """The newest version in the store and the live document as GET /admin/policy shows it,
    after checking the two agree (the ETag names the newest version)."""
    version = policy_store.newest_version()
    response = client.get("/admin/policy", headers=headers)
    assert response.status_code == 200
    assert response.headers["ETag"] == f'"{version}"'
    return version, response.get_json()


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert body["status"] == status
    assert body["type"] and body["title"]
    return body
