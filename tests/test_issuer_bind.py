"""Issue 10 item 14: in development the default issuer follows AUTHSERVER_BIND, and when
an http:// issuer and the bind disagree the start says so (one warning line), since strict
clients refuse metadata whose issuer is not where they fetched it (RFC 8414 §3.3)."""

from __future__ import annotations

import subprocess

import pytest
import requests

from authserver.config import issuer_bind_mismatch, load_settings
from tests.support.cli import AUTHSERVER, console_env


@pytest.mark.parametrize(
    ("bind", "issuer"),
    [
        ("127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("0.0.0.0:8001", "http://127.0.0.1:8001"),
        ("localhost:8002", "http://localhost:8002"),
    ],
)
def test_development_issuer_follows_the_bind(bind, issuer):
    settings = load_settings("development", environ={"AUTHSERVER_BIND": bind})
    assert settings["ISSUER"] == issuer
    assert issuer_bind_mismatch(settings, {"AUTHSERVER_BIND": bind}) is None


def test_development_issuer_without_bind_is_the_default():
    assert load_settings("development", environ={})["ISSUER"] == "http://127.0.0.1:5000"


def test_a_unix_socket_bind_leaves_the_default_issuer():
    settings = load_settings("development", environ={"AUTHSERVER_BIND": "unix:/tmp/a.sock"})
    assert settings["ISSUER"] == "http://127.0.0.1:5000"


def test_an_explicit_issuer_wins_over_the_bind():
    environ = {"AUTHSERVER_BIND": "127.0.0.1:8000", "AUTHSERVER_ISSUER": "http://127.0.0.1:9000"}
    assert load_settings("development", environ=environ)["ISSUER"] == "http://127.0.0.1:9000"


def test_production_issuer_does_not_follow_the_bind():
    environ = {"AUTHSERVER_BIND": "10.0.0.11:8000", "AUTHSERVER_ISSUER": "https://id.example.com"}
    assert load_settings("production", environ=environ)["ISSUER"] == "https://id.example.com"


@pytest.mark.parametrize(
    ("bind", "issuer"),
    [
        ("127.0.0.1:8000", "http://127.0.0.1:5000"),
        ("127.0.0.1:8000", "http://example.com:8000"),
        ("0.0.0.0:8000", "http://example.com:9000"),
    ],
)
def test_http_issuer_and_bind_that_disagree_get_one_warning_line(bind, issuer):
    warning = issuer_bind_mismatch({"ISSUER": issuer}, {"AUTHSERVER_BIND": bind})
    assert warning is not None and "\n" not in warning
    assert issuer in warning and "AUTHSERVER_BIND" in warning


@pytest.mark.parametrize(
    ("bind", "issuer"),
    [
        ("10.0.0.11:8000", "https://id.example.com"),  # a TLS proxy in front
        ("0.0.0.0:8000", "http://laptop.lan:8000"),  # every address: any name may reach it
        ("127.0.0.1:8000", "http://localhost:8000"),
    ],
)
def test_agreeing_or_proxied_issuer_gets_no_warning(bind, issuer):
    assert issuer_bind_mismatch({"ISSUER": issuer}, {"AUTHSERVER_BIND": bind}) is None


@pytest.mark.processes
def test_gunicorn_start_warns_once_when_issuer_and_bind_disagree(tmp_path, gunicorns):
    env = console_env(tmp_path, ISSUER="http://127.0.0.1:5999")
    server = gunicorns.start(env, "mismatch", workers=1)

    warnings = [line for line in server.log_text().splitlines() if "warning:" in line]

    assert len(warnings) == 1, server.log_text()
    assert "AUTHSERVER_ISSUER=http://127.0.0.1:5999" in warnings[0]
    assert server.base in warnings[0]  # the address it serves


@pytest.mark.processes
def test_development_gunicorn_advertises_the_bound_issuer(tmp_path, gunicorns):
    env = {**console_env(tmp_path), "AUTHSERVER_ENV": "development"}
    upgrade = subprocess.run([str(AUTHSERVER), "db", "upgrade"], env=env, capture_output=True)
    assert upgrade.returncode == 0, upgrade.stderr
    server = gunicorns.start(env, "follows", workers=1)

    metadata = requests.get(server.url("/.well-known/oauth-authorization-server"), timeout=10)

    assert metadata.json()["issuer"] == server.base
    assert "warning:" not in server.log_text()
