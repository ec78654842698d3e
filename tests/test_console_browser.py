"""The admin console in a real browser (SPEC §15): headless Chromium from Debian's package,
driven by Playwright, each page's main flow clicked and typed as a person does it.

Every test also checks the page reported no CSP violation, raised no error and opened no
dialog (``Watched.assert_clean``). The server is the app under a threaded WSGI server in
this process (the ``live_server`` fixture), on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import pytest

from authserver.console import client as console_client
from authserver.services import users
from tests.support import PASSWORD
from tests.support.browser import browser, skip_reason, watch  # noqa: F401 - a fixture

pytestmark = pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")

if skip_reason() is None:
    from playwright.sync_api import expect
else:  # the module still imports, and every test skips with the reason
    expect = None


@pytest.fixture
def site(settings, request):
    """The app served on a free port, with the console's client and an admin, alice."""
    settings["TOKEN_RATE_LIMIT"] = "1000/minute"  # the tests sign in many times
    server = request.getfixturevalue("live_server")
    with server.app.app_context():
        console_client.ensure()
        users.create("alice", PASSWORD, ["admin"])
    return server


def signed_in(browser, site, username="alice"):  # noqa: F811 - the fixture's value
    context = browser.new_context()
    page = watch(context, site.url)
    page.goto()
    page.sign_in(username, PASSWORD)
    expect(page.page.locator("#whoami")).to_have_text(f"Signed in as {username}")
    return page


def test_sign_in_with_a_wrong_password_then_the_right_one(site, browser):  # noqa: F811
    context = browser.new_context()
    console = watch(context, site.url)
    console.goto()
    page = console.page

    console.sign_in("alice", "not the password")
    expect(page.locator("#signin-error")).to_contain_text("Wrong username or password")
    console.sign_in("alice", PASSWORD)

    expect(page.get_by_role("heading", name="Policy", exact=True)).to_be_visible()
    expect(page.locator("#whoami")).to_have_text("Signed in as alice")
    nav = page.get_by_role("navigation")
    for name in ("Policy", "Versions", "Roles", "Users", "Explain", "Audit"):
        expect(nav.get_by_role("link", name=name)).to_be_visible()
    # The tokens live in the page's memory only.
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0
    assert page.evaluate("document.cookie") == ""
    assert context.cookies() == []
    console.assert_clean()
