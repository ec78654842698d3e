"""Headless Chromium for the console's tests (no tests here), driven by Playwright.

The browser is Debian's ``chromium`` package (``shutil.which("chromium")``), launched through
Playwright's ``executable_path``: Playwright's own browser download is not reachable here and
is never run. Without Playwright or without the binary the browser tests skip, saying which
is missing and how to get it.

``Watched`` wraps a page and records everything a test must be able to fail on: CSP
violations (the ``securitypolicyviolation`` event and Chromium's "Refused to ..." console
lines), uncaught page errors, dialogs (an ``alert`` from injected markup) and every request
the page made (an ``<img src=x>`` would ask for ``x``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

CHROMIUM_NAMES = ("chromium", "chromium-browser")

# Installed before any script of the page runs; CDP-injected, so the page's CSP allows it.
WATCH_SCRIPT = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
    const where = `${e.sourceFile}:${e.lineNumber}`;
    window.__violations.push(`${e.violatedDirective} ${e.blockedURI} ${where}`);
});
"""


def chromium_path() -> str | None:
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def skip_reason() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "browser tests: Playwright for Python is not installed (pip install -e '.[test]')"
    if chromium_path() is None:
        return (
            "browser tests: no chromium binary on PATH (apt-get install chromium; .ci/run does it)"
        )
    return None


def launch_browser() -> Iterator[Any]:
    """One headless Chromium (conftest's fixture ``browser``); each test opens its
    own contexts (an empty cache, no cookies or storage: a fresh profile)."""
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    args = ["--no-sandbox"] if os.geteuid() == 0 else []  # Chromium's sandbox refuses root
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path(), args=args)
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Watched:
    """A page and what it did: CSP violations, errors, dialogs and requests."""

    page: Any
    base: str
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    responses: list[Any] = field(default_factory=list)

    def violations(self) -> list[str]:
        """CSP violations the page reported, by event and by console line."""
        events = self.page.evaluate("window.__violations || []")
        refused = [
            m for m in self.console_errors if "Content Security Policy" in m or "Refused to" in m
        ]
        return [*events, *refused]

    def assert_clean(self) -> None:
        """No CSP violation, no uncaught error, no dialog on this page so far."""
        assert self.violations() == []
        assert self.page_errors == []
        assert self.dialogs == []

    def goto(self, path: str = "/console/") -> None:
        self.page.goto(self.base + path)

    def sign_in(self, username: str, password: str) -> None:
        """Type the credentials and press the button, as a person does."""
        page = self.page
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()

    def token_responses(self) -> list[dict]:
        """The JSON bodies of the token endpoint's successful answers, in order."""
        bodies = []
        for response in self.responses:
            if response.url.endswith("/oauth/token") and response.status == 200:
                bodies.append(response.json())
        return bodies


def watch(context: Any, base: str) -> Watched:
    """A new page of ``context`` with every listener a test needs."""
    context.add_init_script(WATCH_SCRIPT)
    page = context.new_page()
    watched = Watched(page, base)
    page.on(
        "console",
        lambda message: (
            watched.console_errors.append(message.text)
            if message.type in ("error", "warning")
            else None
        ),
    )
    page.on("pageerror", lambda error: watched.page_errors.append(str(error)))

    def on_dialog(dialog: Any) -> None:
        watched.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("request", lambda request: watched.requests.append(request.url))
    page.on("response", lambda response: watched.responses.append(response))
    page.set_default_timeout(20_000)
    return watched


class Held:
    """The page's requests to one admin API path, held unanswered until ``release``: a slow
    server, deterministically (a page's load still pending while the user goes on)."""

    def __init__(self, watched: Watched, path: str) -> None:
        self.watched = watched
        self.path = path
        self.routes: list[Any] = []
        watched.page.route(self._matches, self._hold)

    def _hold(self, route: Any) -> None:
        self.routes.append(route)

    def _matches(self, url: str) -> bool:
        return url.split("?", 1)[0].endswith(self.path)

    def expect(self) -> Any:
        """A context: the action inside it makes the page ask for the held path."""
        return self.watched.page.expect_request(lambda request: self._matches(request.url))

    def release(self) -> None:
        """Answer every held request (the server's real answers), and hold no more."""
        page = self.watched.page
        page.evaluate("0")  # a round trip: the route handler has run for every request seen
        assert self.routes, f"the page asked for nothing under {self.path}"
        for route in self.routes:
            route.continue_()
        self.routes.clear()
        page.unroute(self._matches, self._hold)
