"""The console's server side (SPEC §15): the page and its assets with their cache headers and
Content-Security-Policy, AUTHSERVER_CONSOLE=false, and the built-in ``authserver-console``
client that ``db upgrade`` makes. The browser tests are in test_console_browser.py."""

from __future__ import annotations

import re

import pytest

from authserver.app import create_app
from authserver.console import ASSET_CACHE, STATIC, digest
from authserver.console import client as console_client
from authserver.services import clients, users
from tests.conftest import close_app
from tests.support import PASSWORD
from tests.support.cli import invoke

SCRIPT_OR_STYLE = re.compile(r"<script(?![^>]*\bsrc=)|<style|\sstyle=|\son\w+=", re.IGNORECASE)


def directives(policy: str) -> dict[str, str]:
    return dict(part.strip().split(" ", 1) for part in policy.split(";"))


def test_the_page_is_served_with_a_strict_csp_and_revalidated(client):
    response = client.get("/console/")

    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    csp = directives(response.headers["Content-Security-Policy"])
    assert csp["default-src"] == "'self'"
    assert csp["script-src"] == "'self'"
    assert csp["style-src"] == "'self'"
    assert csp["frame-ancestors"] == "'none'"
    assert csp["base-uri"] == "'none'"
    assert csp["form-action"] == "'self'"
    assert csp["require-trusted-types-for"] == "'script'"
    assert "unsafe" not in response.headers["Content-Security-Policy"]
    page = response.get_data(as_text=True)
    assert SCRIPT_OR_STYLE.search(page) is None  # no inline script, style or handler
    assert f'src="static/{digest()}/app.js"' in page
    assert "http://" not in page and "https://" not in page  # nothing from another origin


def test_the_page_answers_304_to_its_etag(client):
    etag = client.get("/console/").headers["ETag"]

    again = client.get("/console/", headers={"If-None-Match": etag})

    assert again.status_code == 304
    assert "Content-Security-Policy" in again.headers


def test_console_without_its_slash_redirects_to_the_page(client):
    response = client.get("/console")

    assert response.status_code == 308
    assert response.headers["Location"].endswith("/console/")


def test_every_asset_is_cached_for_good_under_its_digest(client):
    page = client.get("/console/").get_data(as_text=True)
    linked = re.findall(r'(?:src|href)="static/[^/"]+/([^"]+)"', page)
    assets = sorted(p.relative_to(STATIC).as_posix() for p in STATIC.rglob("*.[jc]s*"))

    assert {"app.js", "console.css", "dom.js", "session.js"} <= set(linked)
    for name in assets:
        with client.get(f"/console/static/{digest()}/{name}") as response:
            assert response.status_code == 200, name
            assert response.headers["Cache-Control"] == ASSET_CACHE
            assert "Content-Security-Policy" in response.headers
            expected = "text/javascript" if name.endswith(".js") else "text/css"
            assert response.mimetype == expected, name


def test_the_page_preloads_what_the_sign_in_form_needs_and_no_page_module(client):
    page = client.get("/console/").get_data(as_text=True)
    preloaded = re.findall(r'<link rel="modulepreload" href="static/[^/"]+/([^"]+)"', page)

    assert sorted(preloaded) == ["dom.js", "session.js"]


@pytest.mark.parametrize(
    "path",
    [
        "static/0000000000000000/app.js",  # an old digest: never cache it as the new file
        "static/{digest}/index.html",  # the page itself only at /console/
        "static/{digest}/../__init__.py",
        "static/{digest}/nope.js",
    ],
)
def test_other_static_paths_are_404(client, path):
    response = client.get("/console/" + path.format(digest=digest()))

    assert response.status_code == 404
    assert response.is_json


def test_no_module_writes_html_or_uses_storage():
    """Data reaches the page as text only, and tokens stay in memory (SPEC §15)."""
    forbidden = re.compile(
        r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|localStorage|sessionStorage"
        r"|document\.cookie|eval\(|new Function"
    )
    comments = re.compile(r"/\*.*?\*/|^\s*//.*$", re.DOTALL | re.MULTILINE)
    for path in STATIC.rglob("*.js"):
        code = comments.sub("", path.read_text())
        assert forbidden.search(code) is None, path


def test_console_false_serves_no_console(settings):
    app = create_app("testing", {**settings, "CONSOLE": "false"})
    try:
        with app.app_context():
            response = app.test_client().get("/console/")
            assert response.status_code == 404
            assert response.is_json
    finally:
        with app.app_context():
            close_app(app)


def test_the_console_client_is_public_with_only_the_admin_scopes(app):
    outcome = console_client.ensure()

    client = clients.find_any(console_client.CLIENT_ID)
    assert outcome is not None and outcome.startswith("client authserver-console created")
    assert client.is_public
    assert client.grant_type_list == ["password", "refresh_token"]
    scopes = set(client.scope_list)
    assert {"policies:read", "policies:write", "users:read", "users:write", "audit:read"} <= scopes
    assert not any(scope.startswith("documents:") or scope == "profile" for scope in scopes)
    assert console_client.ensure() is None  # idempotent


def test_a_console_token_carries_only_admin_scopes(app, client):
    console_client.ensure()
    users.create("alice", PASSWORD, ["admin"])

    response = client.post(
        "/oauth/token",
        data={
            "grant_type": "password",
            "username": "alice",
            "password": PASSWORD,
            "client_id": console_client.CLIENT_ID,
        },
    )

    assert response.status_code == 200, response.get_json()
    granted = set(response.get_json()["scope"].split())
    assert granted == set(console_client.admin_scopes())
    assert "documents:read" not in granted


def test_ensure_brings_a_stale_console_client_up_to_date(app):
    console_client.ensure()
    stale = clients.find_any(console_client.CLIENT_ID)
    stale.scope = "audit:read"
    stale.grant_types = "password"

    outcome = console_client.ensure()

    assert outcome is not None and "updated" in outcome
    fresh = clients.find_any(console_client.CLIENT_ID)
    assert fresh.scope_list == console_client.admin_scopes()
    assert fresh.grant_type_list == ["password", "refresh_token"]


def test_db_upgrade_makes_the_console_client(runner):
    result = invoke(runner, "db", "upgrade")

    assert result.exit_code == 0, result.output
    assert "client authserver-console created" in result.output
    assert clients.find_any(console_client.CLIENT_ID) is not None
    again = invoke(runner, "db", "upgrade")
    assert again.exit_code == 0
    assert "authserver-console" not in again.output


def test_every_console_file_ships_in_the_package():
    """pyproject.toml's package-data globs cover every file the console serves."""
    import tomllib
    from pathlib import PurePosixPath

    from tests.support import PROJECT

    config = tomllib.loads((PROJECT / "pyproject.toml").read_text())
    globs = config["tool"]["setuptools"]["package-data"]["authserver.console"]
    files = [p.relative_to(STATIC.parent).as_posix() for p in STATIC.rglob("*") if p.is_file()]

    def shipped(name: str) -> bool:  # setuptools' globs: a * never crosses a folder
        path = PurePosixPath(name)
        return any(path.match(g) and len(path.parts) == len(g.split("/")) for g in globs)

    missing = [name for name in files if not shipped(name)]
    assert files and missing == []


def test_db_upgrade_makes_no_console_client_when_the_console_is_off(settings, request):
    settings["CONSOLE"] = "false"
    runner = request.getfixturevalue("runner")

    result = invoke(runner, "db", "upgrade")

    assert result.exit_code == 0, result.output
    assert "authserver-console" not in result.output
    assert clients.find_any(console_client.CLIENT_ID) is None
