"""Screenshots of the admin console's main pages, and its first-load time, from the same
headless Chromium the browser tests drive (Debian's ``chromium``, through Playwright).

    .venv/bin/python docs/console/make_screenshots.py            # both
    .venv/bin/python docs/console/make_screenshots.py --measure  # load time only
    .venv/bin/python docs/console/make_screenshots.py --shots    # screenshots only

It builds a throwaway server (SQLite in a temporary folder, the app under a threaded WSGI
server, or ``--gunicorn`` for the production server), fills it with demo data through the
admin API, and writes ``docs/console/*.png``.

The load figure is the browser's own Navigation Timing for ``/console/`` in a fresh
context (an empty cache, as a first visit): ``loadEventEnd`` and the console's
``console:ready`` mark (the sign-in form drawn), with the bytes transferred for the page
and every resource (Resource Timing ``transferSize``). It prints the median and the worst
of ``--runs`` loads.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import statistics
import sys
import tempfile
import threading
from pathlib import Path

import requests
from werkzeug.serving import make_server

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from authserver.app import create_app  # noqa: E402
from authserver.console import client as console_client  # noqa: E402
from authserver.extensions import db  # noqa: E402
from authserver.services import clients, policy_store, users  # noqa: E402

PASSWORD = "console demo password"
VIEWPORT = {"width": 1280, "height": 860}
EXTRA_ROLE = """  auditor:                  # reads the audit trail, nothing else
    description: Reads the audit trail
    scopes: [audit:read]
"""
EXTRA_TESTS = """tests:
  - name: viewers never write
    roles: [viewer]
    grants: [profile, documents:read]
    denies: [documents:write, documents:delete]
  - name: auditors only read the trail
    roles: [auditor]
    grants: [audit:read]
    denies: [users:write, policies:write]
"""
PEOPLE = [
    ("alice", ["admin"]),
    ("bob", ["editor"]),
    ("carol", ["viewer"]),
    ("dave", ["editor"]),
    ("erin", ["viewer"]),
    ("frank", ["viewer"]),
    ("grace", ["admin"]),
    ("heidi", ["viewer"]),
]

CLIENTS = [
    ("reports-exporter", ["client_credentials"], ["viewer"], False),
    ("nightly-backup", ["client_credentials"], ["editor"], False),
    ("legacy-sync", ["client_credentials"], [], False),
    ("mobile-app", ["password", "refresh_token"], [], True),
]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def build_site(folder: Path, port: int):
    """A migrated SQLite database with the console client and demo users; the app."""
    import flask_migrate

    base = f"http://127.0.0.1:{port}"
    settings = {
        "DATABASE_URL": f"sqlite:///{folder / 'console.db'}",
        "SIGNING_KEYS": str(folder / "keys.json"),
        "ISSUER": base,
        "TOKEN_RATE_LIMIT": "1000/minute",
        "REQUEST_LOG": "false",
        "LOG_LEVEL": "WARNING",
    }
    app = create_app("development", settings)
    with app.app_context():
        flask_migrate.upgrade()
        policy_store.seed_if_empty()
        console_client.ensure()
        for name, roles in PEOPLE:
            users.create(name, PASSWORD, roles)
        users.set_disabled("frank", True)
        for name, grants, roles, public in CLIENTS:
            clients.create(name, grants, roles=roles, public=public, client_id=name)
        clients.set_disabled("legacy-sync", True)
    return app, base, settings


def token(base: str, username: str = "alice") -> str:
    answer = requests.post(
        f"{base}/oauth/token",
        data={
            "grant_type": "password",
            "username": username,
            "password": PASSWORD,
            "client_id": console_client.CLIENT_ID,
        },
        timeout=10,
    )
    answer.raise_for_status()
    return answer.json()["access_token"]


def with_role(text: str, role: str) -> str:
    """``text`` with ``role`` (indented YAML) at the end of its ``roles:`` mapping."""
    lines = text.rstrip("\n").split("\n")
    start = lines.index("roles:")
    end = next(
        (n for n in range(start + 1, len(lines)) if lines[n][:1] not in ("", " ", "#")),
        len(lines),
    )
    return "\n".join([*lines[:end], role.rstrip("\n"), *lines[end:]]) + "\n"


def in_roles(text: str, old: str, new: str) -> str:
    """``text`` with the first ``old`` under ``roles:`` replaced by ``new``."""
    at = text.index(old, text.index("\nroles:\n"))
    return text[:at] + new + text[at + len(old) :]


def history(base: str) -> None:
    """A few policy versions and audit events made through the admin API, as an admin would."""
    headers = {"Authorization": f"Bearer {token(base)}"}
    live = requests.get(
        f"{base}/admin/policy", headers={**headers, "Accept": "application/yaml"}, timeout=10
    )
    text = with_role(live.text, EXTRA_ROLE)
    if not re.search(r"^tests:", text, re.MULTILINE):
        text = text.rstrip("\n") + "\n" + EXTRA_TESTS
    put = requests.put(
        f"{base}/admin/policy",
        params={"comment": "add an auditor role"},
        data=text.encode(),
        headers={**headers, "If-Match": live.headers["ETag"], "Content-Type": "application/yaml"},
        timeout=10,
    )
    if put.status_code != 200:
        sys.exit(f"the demo policy edit was refused: {put.text}")
    requests.put(
        f"{base}/admin/users/heidi/roles", json={"roles": ["auditor"]}, headers=headers, timeout=10
    ).raise_for_status()
    requests.post(
        f"{base}/oauth/token",
        data={"grant_type": "password", "username": "bob", "password": "wrong", "client_id": "x"},
        timeout=10,
    )


def serve(app, port: int):
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


def launch(playwright):
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        sys.exit("no chromium binary on PATH: apt-get install chromium")
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    return playwright.chromium.launch(executable_path=path, args=args)


def sign_in(page, base: str) -> None:
    page.goto(f"{base}/console/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.locator("#whoami").wait_for()


def shots(browser, base: str) -> list[str]:
    """Drive each page as a person would and save a screenshot of it."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(15_000)
    made = []

    def shoot(name: str) -> None:
        page.wait_for_timeout(200)
        page.screenshot(path=str(HERE / f"{name}.png"), full_page=True)
        made.append(f"{name}.png")

    page.goto(f"{base}/console/")
    page.get_by_label("Username").wait_for()
    shoot("signin")
    sign_in(page, base)

    editor = page.get_by_label("Policy (YAML)")
    page.locator("#check-status").filter(has_text="Valid").wait_for()
    live = editor.input_value()
    editor.fill(in_roles(live, "[documents:write]", "[documents:write, documents:remove]"))
    page.locator("#problems li.error").first.wait_for()
    shoot("policy-error")
    editor.fill(in_roles(live, "[documents:write]", "[documents:write, documents:delete]"))
    page.locator("#impact table").wait_for()
    shoot("policy-impact")

    # A second admin, on the same version, saves first: this one gets the 412 flow.
    other = context.browser.new_context(viewport=VIEWPORT).new_page()
    sign_in(other, base)
    other_editor = other.get_by_label("Policy (YAML)")
    other.locator("#check-status").filter(has_text="Valid").wait_for()
    other_editor.fill(
        in_roles(live, "description: Reads documents", "description: Reads every document")
    )
    other.locator("#check-status").filter(has_text="Review").wait_for()
    other.get_by_role("button", name="Save as version 3").click()
    other.locator("#status").filter(has_text="is live").wait_for()
    other.context.close()
    page.get_by_label("Comment (stored with the version)").fill("editors may delete")
    page.get_by_role("button", name="Save as version 3").click()
    page.locator("#conflict").wait_for()
    shoot("policy-conflict")
    page.get_by_role("button", name="Reapply my edit on version 3").click()
    page.locator("#check-status").filter(has_text="Review").wait_for()
    page.get_by_role("button", name="Save as version 4").click()
    page.locator("#status").filter(has_text="is live").wait_for()

    page.get_by_role("link", name="Versions").click()
    page.get_by_role("button", name="Show the diff").click()
    page.locator("#version-diff h2").wait_for()
    shoot("versions")

    page.get_by_role("link", name="Roles").click()
    page.locator("#role-graph").wait_for()
    page.locator("#role-graph g.node[data-role=editor]").click()
    shoot("roles")

    page.get_by_role("link", name="Users").click()
    page.get_by_role("button", name="Manage alice").wait_for()
    page.get_by_label("Username starts with").press_sequentially("B", delay=50)  # no Enter
    page.locator("#users tbody tr").filter(has_text="alice").wait_for(state="detached")
    page.get_by_role("button", name="Manage bob").click()
    page.locator("#user-detail h2").wait_for()
    shoot("users")

    page.get_by_role("link", name="Explain").click()
    page.get_by_label("User").fill("carol")
    page.get_by_label("Scopes").fill("documents:read documents:write")
    page.get_by_role("button", name="Explain").click()
    page.locator("#explain-verdict").wait_for()
    shoot("explain")

    page.get_by_role("link", name="Audit").click()
    page.locator("#audit tbody tr").first.wait_for()
    page.locator("#audit tbody tr button").first.click()
    page.locator("#audit-detail h2").wait_for()
    shoot("audit")

    page.get_by_role("link", name="Clients").click()
    page.get_by_role("button", name="Manage reports-exporter").click()
    page.get_by_role("button", name="Rotate secret").click()
    page.locator("#new-secret").wait_for()
    shoot("clients")
    context.close()
    return made


MEASURE = """() => {
    const nav = performance.getEntriesByType("navigation")[0];
    const resources = performance.getEntriesByType("resource");
    const ready = performance.getEntriesByName("console:ready")[0];
    return {
        load: nav.loadEventEnd - nav.startTime,
        ready: ready ? ready.startTime : null,
        ttfb: nav.responseStart - nav.startTime,
        bytes: nav.transferSize + resources.reduce((sum, r) => sum + r.transferSize, 0),
        body: nav.encodedBodySize + resources.reduce((sum, r) => sum + r.encodedBodySize, 0),
        requests: 1 + resources.length,
        cached: resources.filter((r) => r.transferSize === 0).length,
    };
}"""


def measure(browser, base: str, runs: int) -> dict:
    """First loads of /console/ with an empty cache (a fresh context each run)."""
    results = []
    for _ in range(runs + 1):
        context = browser.new_context(viewport=VIEWPORT)
        page = context.new_page()
        page.goto(f"{base}/console/", wait_until="load")
        page.get_by_label("Username").wait_for()
        page.wait_for_function("performance.getEntriesByType('navigation')[0].loadEventEnd > 0")
        results.append(page.evaluate(MEASURE))
        context.close()
    results = results[1:]  # the first warms the server's caches (the page, the digest)
    loads = sorted(r["load"] for r in results)
    readies = sorted(r["ready"] for r in results)
    last = results[-1]
    summary = {
        "runs": runs,
        "load_median_ms": round(statistics.median(loads), 1),
        "load_p90_ms": round(loads[int(0.9 * (len(loads) - 1))], 1),
        "load_max_ms": round(loads[-1], 1),
        "ready_median_ms": round(statistics.median(readies), 1),
        "ready_max_ms": round(readies[-1], 1),
        "ttfb_median_ms": round(statistics.median(r["ttfb"] for r in results), 1),
        "bytes_transferred": last["bytes"],
        "body_bytes": last["body"],
        "requests": last["requests"],
        "served_from_cache": last["cached"],
    }
    return summary


def gunicorn_server(folder: Path, settings: dict, port: int):
    import subprocess

    env = {**os.environ, **{f"AUTHSERVER_{k}": v for k, v in settings.items()}}
    env["AUTHSERVER_ENV"] = "development"
    project = HERE.parent.parent
    env["AUTHSERVER_BIND"] = f"127.0.0.1:{port}"
    process = subprocess.Popen(
        # The project's own gunicorn settings (2 sync workers by default), as `make run`.
        [
            str(project / ".venv/bin/gunicorn"),
            "-c",
            str(project / "config/gunicorn.conf.py"),
            "--no-control-socket",
            "wsgi:app",
        ],
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(folder / "gunicorn.log", "w"),  # noqa: SIM115 - lives with the process
    )
    import time

    for _ in range(600):
        try:
            requests.get(f"http://127.0.0.1:{port}/console/", timeout=1)
            return process
        except requests.RequestException:
            time.sleep(0.1)
    process.kill()
    sys.exit(f"gunicorn did not start: see {folder / 'gunicorn.log'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shots", action="store_true", help="screenshots only")
    parser.add_argument("--measure", action="store_true", help="load time only")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--gunicorn", action="store_true", help="measure under gunicorn")
    args = parser.parse_args()
    both = not (args.shots or args.measure)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        port = free_port()
        app, base, settings = build_site(folder, port)
        server, thread = serve(app, port)
        process = None
        try:
            history(base)
            with sync_playwright() as playwright:
                browser = launch(playwright)
                if args.shots or both:
                    for name in shots(browser, base):
                        print(f"wrote docs/console/{name}")
                if args.measure or both:
                    target = base
                    if args.gunicorn:
                        gport = free_port()
                        process = gunicorn_server(folder, settings, gport)
                        target = f"http://127.0.0.1:{gport}"
                    where = (
                        "gunicorn, config/gunicorn.conf.py"
                        if args.gunicorn
                        else "threaded werkzeug"
                    )
                    summary = measure(browser, target, args.runs)
                    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
                    print(f"first load of /console/ with an empty cache ({where}):")
                    print(f"  machine: {os.cpu_count()} cores, load average {load} at the end")
                    for key, value in summary.items():
                        print(f"  {key}: {value}")
                browser.close()
        finally:
            if process is not None:
                process.terminate()
                process.wait(timeout=10)
            server.shutdown()
            thread.join(timeout=5)
            with app.app_context():
                db.session.remove()
                db.engine.dispose()


if __name__ == "__main__":
    main()
