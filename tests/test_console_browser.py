"""The admin console in a real browser (SPEC §15): headless Chromium from Debian's package,
driven by Playwright, each page's main flow clicked and typed as a person does it.

Every test also checks that the page reported no CSP violation, raised no error and opened
no dialog (``Watched.assert_clean``). The server is the app under a threaded WSGI server in
this process (the ``live_server`` fixture), on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import re

import pytest
import requests
from sqlalchemy import select

from authserver.console import client as console_client
from authserver.extensions import db
from authserver.models import AuditEvent, User, UserRole
from authserver.services import audit, clients, policy_store, users
from authserver.services.policy_admin import WriteOptions, put_role
from tests.support import PASSWORD
from tests.support.browser import Held, skip_reason, watch

# Chromium runs as processes of its own: `make test-quick` (-m "not processes") leaves these out.
pytestmark = [
    pytest.mark.processes,
    pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or ""),
]

if skip_reason() is None:
    from playwright.sync_api import expect

    # A loaded CI machine (two cores, several suites) can take seconds to paint a page:
    # waits are for a state, so a generous bound costs nothing when the page is quick.
    expect.set_options(timeout=20_000)
else:  # the module still imports, and every test skips with the reason
    expect = None

HOSTILE = "<img src=x onerror=alert(1)><script>alert(2)</script>"
PAGES = ("Policy", "Versions", "Roles", "Users", "Explain", "Audit", "Clients")


@pytest.fixture
def site(settings, request):
    """The app served on a free port, with the console's client, an admin (alice) and an
    editor (bob)."""
    settings["TOKEN_RATE_LIMIT"] = "1000/minute"  # the tests sign in many times
    server = request.getfixturevalue("live_server")
    with server.app.app_context():
        console_client.ensure()
        users.create("alice", PASSWORD, ["admin"])
        users.create("bob", PASSWORD, ["editor"])
    return server


def audit_events(subject: str) -> list:
    return list(
        db.session.execute(select(AuditEvent).where(AuditEvent.subject == subject)).scalars()
    )


def in_app(site, function, *args, **kwargs):
    """Run ``function`` against the served app's database (the test's own view of it)."""
    with site.app.app_context():
        try:
            return function(*args, **kwargs)
        finally:
            db.session.remove()


def open_console(browser, site):
    """A fresh browser context (empty cache and storage) on the console's sign-in page."""
    console = watch(browser.new_context(), site.url)
    console.goto()
    return console


def signed_in(browser, site, username="alice"):
    console = open_console(browser, site)
    console.sign_in(username, PASSWORD)
    expect(console.page.locator("#whoami")).to_have_text(f"Signed in as {username}")
    return console


def go(console, name: str) -> None:
    """Click a page's link in the navigation and wait for its heading."""
    page = console.page
    page.get_by_role("navigation").get_by_role("link", name=name).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(name)


def checked_valid(page) -> None:
    expect(page.locator("#check-status")).to_contain_text("Valid")


def in_roles(text: str, old: str, new: str) -> str:
    """``text`` with the first ``old`` under its ``roles:`` key replaced by ``new`` (the
    policy's ``tests:`` may hold the same words, before or after the roles)."""
    start = text.index("\nroles:\n")
    at = text.index(old, start)
    return text[:at] + new + text[at + len(old) :]


def editor_line(text: str, fragment: str) -> int:
    """The 1-based number of the first line of ``text`` containing ``fragment``."""
    return next(n for n, line in enumerate(text.split("\n"), 1) if fragment in line)


# -- sign-in and session -----------------------------------------------------------------


def test_sign_in_with_a_wrong_password_then_the_right_one(site, browser):
    console = open_console(browser, site)
    page = console.page

    console.sign_in("alice", "not the password")
    expect(page.locator("#signin-error")).to_contain_text("Wrong username or password")
    expect(page.get_by_label("Password")).to_have_value("")
    console.sign_in("alice", PASSWORD)

    expect(page.get_by_role("heading", name="Policy", exact=True)).to_be_visible()
    expect(page.locator("#whoami")).to_have_text("Signed in as alice")
    nav = page.get_by_role("navigation")
    for name in PAGES:
        expect(nav.get_by_role("link", name=name)).to_be_visible()
    # The tokens live in the page's memory only.
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0
    assert page.evaluate("document.cookie") == ""
    assert page.context.cookies() == []
    console.assert_clean()


def test_an_account_without_admin_scopes_is_told_so(site, browser):
    in_app(site, users.create, "carol", PASSWORD, ["viewer"])
    console = open_console(browser, site)

    console.sign_in("carol", PASSWORD)

    expect(console.page.locator("#signin-error")).to_contain_text("holds no admin scope")
    expect(console.page.get_by_role("navigation").get_by_role("link")).to_have_count(0)
    console.assert_clean()


def test_sign_out_revokes_the_refresh_token(site, browser):
    console = signed_in(browser, site)
    page = console.page
    [login] = console.token_responses()
    assert login["scope"].split() == in_app(site, console_client.admin_scopes)

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.locator("#status")).to_contain_text("Signed out")  # once both are revoked
    revoked = [r for r in console.responses if r.url.endswith("/oauth/revoke")]
    assert [r.status for r in revoked] == [200, 200]

    refresh = requests.post(
        f"{site.url}/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": login["refresh_token"],
            "client_id": console_client.CLIENT_ID,
        },
        timeout=10,
    )
    assert refresh.status_code == 400
    assert refresh.json()["error"] == "invalid_grant"
    me = requests.get(
        f"{site.url}/api/me",
        headers={"Authorization": f"Bearer {login['access_token']}"},
        timeout=10,
    )
    assert me.status_code == 401  # the access token was revoked too
    console.assert_clean()


def test_the_session_refreshes_before_the_access_token_expires(settings, request, browser):
    settings["ACCESS_TOKEN_TTL"] = 30  # the shortest allowed: a refresh at half-life
    site = request.getfixturevalue("site")
    console = signed_in(browser, site)
    page = console.page

    with page.expect_request(
        lambda r: r.url.endswith("/oauth/token") and "refresh_token" in (r.post_data or ""),
        timeout=30_000,
    ) as refreshed:
        pass
    assert "grant_type=refresh_token" in refreshed.value.post_data
    expect(page.locator("#whoami")).to_have_text("Signed in as alice")
    go(console, "Users")  # the new access token works
    expect(page.locator("#users")).to_contain_text("bob")
    assert len(console.token_responses()) == 2
    console.assert_clean()


def test_pages_follow_the_scopes_a_refresh_brings(site, browser):
    options = WriteOptions(actor="test")
    in_app(site, put_role, "support", "scopes: [users:read]\n", "yaml", options)
    console = signed_in(browser, site)
    page = console.page
    go(console, "Users")

    in_app(site, users.set_roles, "alice", ["support"])  # her tokens are cut off now (§12)
    page.get_by_role("button", name="Search").click()  # 401, a refresh, narrower scopes

    expect(page.locator("#status")).to_contain_text("Your scopes changed")
    expect(page.get_by_role("navigation").get_by_role("link")).to_have_text(["Users"])
    expect(page.locator("#users")).to_contain_text("bob")
    assert page.get_by_role("button", name="Save roles").count() == 0
    page.get_by_role("button", name="Manage bob").click()
    expect(
        page.get_by_text("Read only: changing users needs the users:write scope")
    ).to_be_visible()
    console.assert_clean()


def test_the_console_is_usable_with_the_keyboard_alone(site, browser):
    console = open_console(browser, site)
    page = console.page
    expect(page.get_by_label("Username")).to_be_focused()

    page.keyboard.type("alice")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.locator("#whoami")).to_have_text("Signed in as alice")
    page.get_by_role("link", name="Users").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Users")
    page.get_by_label("Username starts with").focus()
    page.keyboard.type("bob")
    page.keyboard.press("Enter")
    expect(page.locator("#users tbody tr")).to_have_count(1)

    expect(page.get_by_role("button", name="Manage bob")).to_be_visible()
    console.assert_clean()


def test_a_nav_link_focused_while_the_first_page_loads_keeps_the_focus(site, browser):
    """A quick keyboard user is on the Users link before the Policy page (shown after
    sign-in) has loaded: the page finishing its load must not take the focus from the link,
    or their Enter lands on the page and the navigation is lost."""
    console = open_console(browser, site)
    page = console.page
    policy = Held(console, "/admin/policy")  # a slow server: the page is still loading
    page.keyboard.type("alice")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    with policy.expect():
        page.keyboard.press("Enter")
    users_link = page.get_by_role("navigation").get_by_role("link", name="Users")
    users_link.focus()

    policy.release()
    expect(page.get_by_role("heading", level=1)).to_have_text("Policy")
    expect(users_link).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Users")
    expect(page.locator("#users")).to_contain_text("bob")
    console.assert_clean()


def test_a_keyboard_user_moves_on_while_a_page_loads_and_lands_where_they_chose(site, browser):
    """Enter on a link, then Tab and Enter again before that page has loaded: the focus stays
    in the navigation (the links are not redrawn under it) and the page that loads late
    replaces nothing."""
    console = signed_in(browser, site)
    page = console.page
    expect(page.get_by_role("heading", level=1)).to_have_text("Policy")
    nav = page.get_by_role("navigation")
    held = Held(console, "/admin/users")
    nav.get_by_role("link", name="Users").focus()
    with held.expect():
        page.keyboard.press("Enter")
    expect(nav.get_by_role("link", name="Users")).to_be_focused()
    expect(nav.get_by_role("link", name="Users")).to_have_attribute("aria-current", "page")

    page.keyboard.press("Tab")
    expect(nav.get_by_role("link", name="Explain")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Explain")
    with page.expect_event("requestfinished", lambda r: r.url.split("?")[0].endswith("/users")):
        held.release()  # the Users page's answer, late
    page.evaluate("0")
    assert page.locator("#users").count() == 0
    assert page.get_by_role("heading", level=1).inner_text() == "Explain"
    expect(page.locator("#main")).to_be_focused()
    console.assert_clean()


# -- policy ----------------------------------------------------------------------------------


def test_a_policy_mistake_is_shown_at_its_line_then_fixed_previewed_and_saved(site, browser):
    console = signed_in(browser, site)
    page = console.page
    editor = page.get_by_label("Policy (YAML)")
    checked_valid(page)
    live = editor.input_value()
    line = editor_line(in_roles(live, "[documents:write]", "[HERE]"), "[HERE]")

    editor.fill(in_roles(live, "[documents:write]", "[documents:write, documents:dlete]"))

    expect(page.locator("#check-status")).to_contain_text("1 problem")
    expect(page.locator(".gutter li").nth(line - 1)).to_have_class("error")
    problem = page.locator("#problems li.error")
    expect(problem).to_contain_text(f"Line {line}")
    expect(problem).to_contain_text("documents:dlete")
    expect(page.get_by_role("button", name=re.compile(r"^Save"))).to_be_disabled()
    # Clicking the error selects the faulty scope to the end of its line: type the fix.
    problem.get_by_role("button", name=re.compile(f"^Line {line}")).click()
    page.keyboard.type("documents:delete]")
    assert editor.input_value() == in_roles(
        live, "[documents:write]", "[documents:write, documents:delete]"
    )

    checked_valid(page)
    impact = page.locator("#impact")
    expect(impact).to_contain_text("Users with roles editor")
    expect(impact).to_contain_text("documents:delete")
    expect(impact).to_contain_text("bob")
    expect(page.locator("#preview-diff")).to_contain_text("Role editor changed")
    page.get_by_label("Comment (stored with the version)").fill("editors may delete")
    page.get_by_role("button", name="Save as version 2").click()

    expect(page.locator("#status")).to_contain_text("Saved: version 2 is live.")
    expect(page.locator("#policy-version")).to_have_text("Editing live version 2.")
    assert in_app(site, policy_store.newest_version) == 2
    assert "[documents:write, documents:delete]" in in_app(site, policy_store.live_source)
    console.assert_clean()


def with_policy_test(text: str, entry: str) -> str:
    """``text`` with one more entry in its ``tests:`` list (made when it has none)."""
    if re.search(r"^tests:", text, re.MULTILINE):
        return re.sub(r"^(tests:.*\n)", lambda m: m.group(1) + entry, text, count=1, flags=re.M)
    return text.rstrip("\n") + "\ntests:\n" + entry


def test_policy_tests_results_are_shown_before_saving(site, browser):
    console = signed_in(browser, site)
    page = console.page
    editor = page.get_by_label("Policy (YAML)")
    checked_valid(page)
    entry = "  - name: viewers never write\n    roles: [viewer]\n    denies: [documents:write]\n"

    editor.fill(with_policy_test(editor.input_value(), entry))
    expect(page.locator("#tests")).to_contain_text("✓ passed: viewers never write")
    text = editor.input_value()
    viewer = "[profile, documents:read]"
    editor.fill(in_roles(text, viewer, "[profile, documents:read, documents:write]"))

    failed = page.locator("#tests li.failed", has_text="viewers never write")
    expect(failed).to_contain_text("✗ failed: viewers never write")
    error = page.locator("#problems li.error", has_text="viewers never write")
    line = editor_line(text, "viewers never write") + 2  # its denies: line
    expect(error.first).to_contain_text(f"Line {line}")
    expect(page.locator(".gutter li").nth(line - 1)).to_have_class("error")
    expect(page.locator("#check-status")).to_contain_text("cannot be saved")
    expect(page.get_by_role("button", name=re.compile(r"^Save"))).to_be_disabled()
    console.assert_clean()


def test_two_admins_editing_one_version_the_second_gets_the_412_flow(site, browser):
    first = signed_in(browser, site)
    second = signed_in(browser, site)
    for console in (first, second):
        checked_valid(console.page)
    a, b = first.page, second.page
    live = a.get_by_label("Policy (YAML)").input_value()

    a.get_by_label("Policy (YAML)").fill(
        in_roles(live, "description: Reads documents", "description: Reads every document")
    )
    checked_valid(a)
    a.get_by_role("button", name="Save as version 2").click()
    expect(a.locator("#status")).to_contain_text("version 2 is live")

    b.get_by_label("Policy (YAML)").fill(
        in_roles(live, "[documents:write]", "[documents:write, documents:delete]")
    )
    checked_valid(b)
    b.get_by_role("button", name="Save as version 2").click()

    conflict = b.locator("#conflict")
    expect(conflict).to_be_visible()
    expect(conflict).to_contain_text("Someone else saved the policy meanwhile")
    expect(conflict).to_contain_text("Role viewer changed")
    expect(conflict).to_contain_text("Reads every document")
    assert in_app(site, policy_store.newest_version) == 2  # nothing of b's was stored
    b.get_by_role("button", name="Reapply my edit on version 2").click()

    expect(conflict).to_be_hidden()
    merged = b.get_by_label("Policy (YAML)").input_value()
    assert "Reads every document" in merged
    assert "[documents:write, documents:delete]" in merged
    checked_valid(b)
    b.get_by_role("button", name="Save as version 3").click()
    expect(b.locator("#status")).to_contain_text("version 3 is live")
    stored = in_app(site, policy_store.live_source)
    assert "Reads every document" in stored and "documents:delete]" in stored
    first.assert_clean()
    second.assert_clean()


def test_overlapping_edits_are_marked_for_the_admin_to_resolve(site, browser):
    first = signed_in(browser, site)
    second = signed_in(browser, site)
    for console in (first, second):
        checked_valid(console.page)
    a, b = first.page, second.page
    live = a.get_by_label("Policy (YAML)").input_value()
    a.get_by_label("Policy (YAML)").fill(
        in_roles(live, "[documents:write]", "[documents:write, profile]")
    )
    checked_valid(a)
    a.get_by_role("button", name="Save as version 2").click()
    expect(a.locator("#status")).to_contain_text("version 2 is live")
    b.get_by_label("Policy (YAML)").fill(
        in_roles(live, "[documents:write]", "[documents:write, documents:delete]")
    )
    checked_valid(b)

    b.get_by_role("button", name="Save as version 2").click()
    b.get_by_role("button", name="Reapply my edit on version 2").click()

    expect(b.locator("#status")).to_contain_text("resolve the marked lines")
    text = b.get_by_label("Policy (YAML)").input_value()
    start = editor_line(text, "<<<<<<< your edit")
    end = editor_line(text, ">>>>>>> the new live version")
    error = b.locator("#problems li.error").first
    expect(error).to_contain_text("YAML syntax error")
    line = int(re.search(r"Line (\d+)", error.inner_text()).group(1))
    assert start <= line <= end  # the parser stops in the marked region
    resolved = re.sub(
        r"<<<<<<< your edit\n.*?>>>>>>> the new live version\n",
        "    scopes: [documents:write, documents:delete, profile]\n",
        text,
        flags=re.DOTALL,
    )
    b.get_by_label("Policy (YAML)").fill(resolved)
    checked_valid(b)
    b.get_by_role("button", name="Save as version 3").click()
    expect(b.locator("#status")).to_contain_text("version 3 is live")
    assert "[documents:write, documents:delete, profile]" in in_app(site, policy_store.live_source)
    first.assert_clean()
    second.assert_clean()


def test_removing_a_held_role_asks_before_taking_it_from_its_users(site, browser):
    options = WriteOptions(actor="test")
    in_app(site, put_role, "reporter", "scopes: [documents:read]\n", "yaml", options)
    in_app(site, users.set_roles, "bob", ["editor", "reporter"])
    console = signed_in(browser, site)
    page = console.page
    editor = page.get_by_label("Policy (YAML)")
    checked_valid(page)

    editor.fill(re.sub(r"  reporter:\n(    .*\n)+", "", editor.input_value()))
    expect(page.locator("#impact")).to_contain_text(
        "Roles this edit removes are still held: reporter (1)"
    )
    page.get_by_role("button", name="Save as version 3").click()
    expect(page.get_by_role("alert")).to_contain_text("reporter (held by 1)")
    assert in_app(site, policy_store.newest_version) == 2
    page.get_by_label("Take these roles from their users when saving").check()
    page.get_by_role("button", name="Save as version 3").click()

    expect(page.locator("#status")).to_contain_text("Saved: version 3 is live.")
    assert in_app(site, lambda: users.find("bob").roles) == ["editor"]
    console.assert_clean()


def test_a_signed_in_user_with_only_policies_read_sees_no_save_control(site, browser):
    options = WriteOptions(actor="test")
    in_app(site, put_role, "reader", "scopes: [policies:read]\n", "yaml", options)
    in_app(site, users.create, "paula", PASSWORD, ["reader"])
    console = signed_in(browser, site, "paula")
    page = console.page

    nav = page.get_by_role("navigation")
    expect(nav.get_by_role("link")).to_have_text(["Policy", "Versions", "Roles"])
    checked_valid(page)
    expect(page.get_by_text("Read only: saving needs the policies:write scope")).to_be_visible()
    assert page.get_by_role("button", name=re.compile("Save")).count() == 0
    go(console, "Versions")
    expect(page.locator("#versions tbody tr")).to_have_count(2)
    assert page.get_by_role("button", name=re.compile("Restore")).count() == 0
    console.assert_clean()


# -- versions, roles ---------------------------------------------------------------------------


def test_a_version_restored_from_the_versions_page(site, browser):
    options = WriteOptions(actor="test", comment="add a reporter role")
    in_app(site, put_role, "reporter", "scopes: [documents:read]\n", "yaml", options)
    console = signed_in(browser, site)
    page = console.page
    go(console, "Versions")
    expect(page.locator("#versions tbody tr")).to_have_count(2)
    expect(page.locator("#versions")).to_contain_text("add a reporter role")

    page.get_by_label("From").select_option("1")
    page.get_by_label("To").select_option("2")
    page.get_by_role("button", name="Show the diff").click()
    expect(page.locator("#version-diff")).to_contain_text("Roles added: reporter")
    page.get_by_role("button", name="Restore version 1").click()
    page.get_by_role("button", name="Yes, restore version 1").click()

    expect(page.locator("#status")).to_contain_text("Version 1 restored: version 3 is live.")
    expect(page.locator("#versions tbody tr")).to_have_count(3)
    expect(page.locator("#versions tbody tr").first).to_contain_text("restored version 1")
    text = in_app(site, policy_store.live_source)
    assert text == in_app(site, policy_store.source_at, 1)
    console.assert_clean()


def test_older_versions_load_on_demand(site, browser):
    for n in range(21):
        options = WriteOptions(actor="test", comment=f"edit {n}")
        in_app(
            site,
            put_role,
            "reporter",
            f"description: take {n}\nscopes: [profile]\n",
            "yaml",
            options,
        )
    console = signed_in(browser, site)
    page = console.page
    go(console, "Versions")
    rows = page.locator("#versions tbody tr")
    expect(rows).to_have_count(20)  # a page
    expect(rows.first).to_contain_text("22 (live)")

    page.get_by_role("button", name="Load older versions").click()

    expect(rows).to_have_count(22)
    expect(rows.last).to_contain_text("seeded from")
    expect(page.get_by_role("button", name="Load older versions")).to_be_hidden()
    console.assert_clean()


def test_the_roles_page_draws_the_inheritance_graph_and_effective_scopes(site, browser):
    console = signed_in(browser, site)
    page = console.page
    go(console, "Roles")

    graph = page.locator("svg#role-graph")
    expect(graph.locator("g.node")).to_have_count(3)
    expect(graph.locator("line.edge")).to_have_count(2)  # editor -> viewer, admin -> editor
    assert graph.evaluate("g => g.namespaceURI") == "http://www.w3.org/2000/svg"
    graph.locator("g.node[data-role=editor]").click()

    detail = page.locator("#role-detail")
    expect(detail.get_by_role("heading")).to_have_text("Role editor")
    expect(detail.locator("ul.scopes li")).to_have_text(
        ["profile", "documents:read", "documents:write"]
    )
    graph.locator("g.node[data-role=viewer]").focus()
    page.keyboard.press("Enter")
    expect(detail.get_by_role("heading")).to_have_text("Role viewer")
    console.assert_clean()


# -- users, explain, audit ----------------------------------------------------------------------


def test_a_users_roles_edited_and_the_user_disabled(site, browser):
    console = signed_in(browser, site)
    page = console.page
    go(console, "Users")
    expect(page.locator("#users tbody tr")).to_have_count(2)

    page.get_by_role("button", name="Manage bob").click()
    detail = page.locator("#user-detail")
    detail.get_by_label("viewer").check()
    detail.get_by_label("editor").uncheck()
    detail.get_by_role("button", name="Save roles").click()
    expect(page.locator("#status")).to_contain_text("bob now holds: viewer.")  # redrawn
    expect(page.locator("#user-facts")).to_have_text("Roles: viewer. Status: active.")
    page.get_by_role("button", name="Disable").click()
    expect(page.locator("#status")).to_contain_text("bob is disabled")
    expect(page.locator("#user-facts")).to_have_text("Roles: viewer. Status: disabled.")
    expect(page.get_by_role("button", name="Enable")).to_be_visible()

    bob = in_app(site, lambda: (users.find("bob").roles, users.find("bob").disabled))
    assert bob == (["viewer"], True)
    expect(page.locator("#users")).to_contain_text("disabled")
    console.assert_clean()


def test_a_locked_user_unlocked_and_a_users_tokens_revoked(site, browser):
    in_app(site, users.create, "carol", PASSWORD, ["viewer"])

    def login(password: str) -> requests.Response:
        data = {"grant_type": "password", "username": "carol", "password": password}
        data["client_id"] = console_client.CLIENT_ID
        return requests.post(f"{site.url}/oauth/token", data=data, timeout=10)

    assert login(PASSWORD).status_code == 400  # carol holds no admin scope: invalid_scope
    for _ in range(10):  # AUTHSERVER_LOCKOUT_THRESHOLD's default
        login("wrong password")
    console = signed_in(browser, site)
    page = console.page
    go(console, "Users")
    expect(page.locator("#users tbody tr", has_text="carol")).to_contain_text("locked until")

    page.get_by_role("button", name="Manage carol").click()
    page.get_by_role("button", name="Unlock").click()
    expect(page.locator("#status")).to_contain_text("carol is unlocked.")
    expect(page.locator("#user-facts")).to_have_text("Roles: viewer. Status: active.")
    assert in_app(site, lambda: users.find("carol") is not None)
    page.get_by_role("button", name="Revoke tokens").click()
    expect(page.locator("#status")).to_contain_text("of carol ended.")
    kinds = in_app(site, lambda: [e.kind for e in audit_events("user:carol")])
    assert "user.unlocked" in kinds and "user.tokens_revoked" in kinds
    console.assert_clean()


def test_users_are_paged_and_searched(site, browser):
    for n in range(25):
        in_app(site, users.create, f"user{n:02d}", PASSWORD, ["viewer"])
    console = signed_in(browser, site)
    page = console.page
    go(console, "Users")
    rows = page.locator("#users tbody tr")
    expect(rows).to_have_count(20)

    page.get_by_role("button", name="Next page").click()
    expect(rows).to_have_count(7)  # 27 users, 20 a page
    expect(page.locator("#users caption")).to_have_text("Users, page 2")
    page.get_by_role("button", name="Previous page").click()
    expect(rows).to_have_count(20)
    page.get_by_label("Holding role").select_option("editor")  # searches at once
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("bob")
    assert users_requests(console)[-1].endswith("role=editor")
    console.assert_clean()


def test_explain_shows_the_path_that_grants_and_why_not(site, browser):
    console = signed_in(browser, site)
    page = console.page
    go(console, "Explain")

    page.get_by_label("User").fill("bob")
    page.get_by_label("Scopes").fill("documents:read documents:delete")
    page.get_by_role("button", name="Explain").click()

    expect(page.locator("#explain-verdict")).to_have_text("Granted: documents:read")
    result = page.locator("#explain-result")
    expect(result).to_contain_text("✓ documents:read")
    expect(result).to_contain_text("editor → viewer")
    expect(result).to_contain_text("✗ documents:delete: no role of the user grants it")
    page.get_by_label("User").fill("nobody")
    page.get_by_role("button", name="Explain").click()
    expect(result.get_by_role("alert")).to_contain_text("nobody")
    console.assert_clean()


def test_audit_filters_pages_and_detail(site, browser):
    console = signed_in(browser, site)
    page = console.page
    go(console, "Audit")
    rows = page.locator("#audit tbody tr")
    expect(rows.first).to_contain_text("login.success")

    page.get_by_label("Kind").fill("user.created")
    page.get_by_role("button", name="Apply filters").click()
    expect(rows).to_have_count(2)
    for n in range(2):
        expect(rows.nth(n).locator("td.kind")).to_have_text("user.created")
    page.get_by_label("Subject").fill("user:bob")
    page.get_by_role("button", name="Apply filters").click()
    expect(rows).to_have_count(1)
    rows.first.get_by_role("button").click()
    detail = page.locator("#audit-detail")
    expect(detail.get_by_role("heading", level=2)).to_contain_text("user.created")
    expect(detail.locator("pre")).to_contain_text('"editor"')
    page.get_by_label("Since (UTC)").fill("2999-01-01")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.locator("#audit-results")).to_contain_text("No event matches these filters.")
    page.get_by_label("Since (UTC)").fill("yesterday")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.locator("#audit-results").get_by_role("alert")).to_contain_text("since")
    console.assert_clean()


def test_audit_pages_go_older_and_back(site, browser):
    for n in range(30):  # 30 user.created events, plus those of the fixture and the login
        in_app(site, audit.record, "user.created", "cli", f"user:u{n:02d}")
    console = signed_in(browser, site)
    page = console.page
    go(console, "Audit")
    rows = page.locator("#audit tbody tr")
    expect(rows).to_have_count(25)
    first = rows.first.get_by_role("button")  # "Details of event N"
    newest = first.inner_text()

    page.get_by_role("button", name="Older events").click()
    expect(first).not_to_have_text(newest)
    expect(page.get_by_role("button", name="Older events")).to_be_disabled()
    older = rows.count()
    page.get_by_role("button", name="Newer events").click()
    expect(first).to_have_text(newest)
    expect(page.get_by_role("button", name="Newer events")).to_be_disabled()
    total = in_app(site, lambda: db.session.execute(select(AuditEvent.id)).all())
    assert 25 + older == len(total)
    console.assert_clean()


# -- hardening -----------------------------------------------------------------------------------


def _hostile_data() -> None:
    """A role description and a username holding markup. The service refuses such a
    username, so the row is written as an older release or an import might have left it:
    the console must show whatever the API returns as text."""
    options = WriteOptions(actor="test")
    body = f"description: '{HOSTILE}'\nscopes: [documents:read]\n"
    put_role("hostile", body, "yaml", options)
    user = User(username=HOSTILE, password_hash="x", role_rows=[UserRole(role="hostile")])
    db.session.add(user)
    audit.record("user.created", "cli", f"user:{HOSTILE}", {"note": HOSTILE}, commit=False)
    db.session.commit()


def test_markup_in_data_is_shown_as_text_with_no_dialog_and_no_request(site, browser):
    in_app(site, _hostile_data)
    console = signed_in(browser, site)
    page = console.page

    go(console, "Roles")
    page.locator("g.node[data-role=hostile]").click()
    expect(page.locator("#role-detail .description")).to_have_text(HOSTILE)
    go(console, "Users")
    expect(page.locator("#users td.username").first).to_have_text(HOSTILE)
    page.get_by_role("button", name=f"Manage {HOSTILE}").click()
    expect(page.locator("#user-detail h2")).to_have_text(f"User {HOSTILE}")
    go(console, "Audit")
    expect(page.locator("#audit")).to_contain_text(f"user:{HOSTILE}")
    page.locator("#audit tbody tr", has_text=HOSTILE).get_by_role("button").click()
    expect(page.locator("#audit-detail pre")).to_contain_text(HOSTILE)

    assert page.locator("main img, main script").count() == 0
    assert not [url for url in console.requests if url.rstrip("/").endswith("/x")]
    console.assert_clean()  # no alert() dialog, no CSP violation


UNLABELLED = """() => [...document.querySelectorAll("input, select, textarea, button")]
    .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute("aria-label")
                   && !(e.tagName === "BUTTON" && e.textContent.trim()))
    .map((e) => e.outerHTML.slice(0, 80))"""


def test_no_page_reports_a_csp_violation_and_every_field_is_labelled(site, browser):
    console = open_console(browser, site)
    page = console.page
    assert page.evaluate(UNLABELLED) == []  # the sign-in form
    console.sign_in("alice", PASSWORD)

    for name in PAGES:
        go(console, name)
        page.wait_for_load_state("networkidle")
        assert page.evaluate(UNLABELLED) == [], name
    console.assert_clean()
    # The check itself: an inline script is refused, and reported.
    page.evaluate(
        "() => { try { const s = document.createElement('script'); s.src = 'data:,1'; "
        "document.head.append(s); } catch (e) {} }"
    )
    page.wait_for_function("window.__violations.length > 0")
    assert console.violations()


# -- search as you type, clients -------------------------------------------------------------


def users_requests(console) -> list[str]:
    return [url for url in console.requests if "/admin/users?" in url]


def test_users_are_found_by_prefix_as_the_admin_types(site, browser):
    for name in ("carol", "Carla", "CARMEN", "dave", "oscar"):
        in_app(site, users.create, name, PASSWORD, ["viewer"])
    in_app(site, users.create, "carl", PASSWORD, ["editor"])
    console = signed_in(browser, site)
    page = console.page
    go(console, "Users")
    rows = page.locator("#users td.username")
    expect(rows).to_have_count(8)
    before = len(users_requests(console))

    page.get_by_label("Username starts with").press_sequentially("cAR", delay=20)  # no Enter

    expect(rows).to_have_text(["CARMEN", "Carla", "carl", "carol"], use_inner_text=True)
    asked = users_requests(console)[before:]
    assert asked[-1].endswith("q=cAR")  # the prefix as typed: the server ignores case
    assert len(asked) < 3  # debounced: not one request per key
    page.get_by_label("Holding role").select_option("viewer")  # combines with the prefix
    expect(rows).to_have_text(["CARMEN", "Carla", "carol"])
    page.get_by_label("Username starts with").press_sequentially("o")
    expect(rows).to_have_text(["carol"])
    page.get_by_label("Username starts with").fill("x_")
    expect(page.locator("#user-results")).to_contain_text("No user matches.")
    console.assert_clean()


def client_token(site, client_id: str, secret: str) -> requests.Response:
    return requests.post(
        f"{site.url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
        timeout=10,
    )


def make_client(site, name: str = "reports", roles=("viewer",)) -> str:
    def create() -> str:
        _, secret = clients.create(name, ["client_credentials"], roles=roles, client_id=name)
        return secret

    return in_app(site, create)


def manage_client(console, name: str) -> None:
    go(console, "Clients")
    console.page.get_by_role("button", name=f"Manage {name}").click()
    expect(console.page.locator("#client-detail h2")).to_have_text(f"Client {name}")


def test_a_clients_roles_edited_then_disabled_enabled_and_deleted(site, browser):
    make_client(site)
    make_client(site, "backup", roles=())
    console = signed_in(browser, site)
    page = console.page
    manage_client(console, "reports")
    detail = page.locator("#client-detail")
    facts = page.locator("#client-facts")
    expect(facts).to_contain_text("Rolesviewer")

    detail.get_by_label("editor").check()
    detail.get_by_label("viewer").uncheck()
    detail.get_by_role("button", name="Save roles").click()
    expect(page.locator("#status")).to_contain_text("reports now holds: editor.")
    expect(facts).to_contain_text("Roleseditor")
    expect(page.locator("#clients tbody tr", has_text="reports")).to_contain_text("editor")
    assert in_app(site, lambda: clients.get("reports").roles) == ["editor"]

    page.get_by_role("button", name="Disable").click()
    expect(facts).to_contain_text("Statusdisabled")
    assert in_app(site, lambda: clients.get("reports").disabled) is True
    page.get_by_role("button", name="Enable").click()
    expect(facts).to_contain_text("Statusactive")
    assert in_app(site, lambda: clients.get("reports").disabled) is False

    page.get_by_role("button", name="Delete…").click()
    confirm = page.locator("#delete-confirm")
    expect(confirm).to_contain_text("This cannot be undone")
    expect(page.get_by_role("button", name="Cancel")).to_be_focused()
    page.keyboard.press("Enter")  # Cancel, from the keyboard
    expect(confirm).to_be_empty()
    assert in_app(site, clients.find_any, "reports") is not None
    page.get_by_role("button", name="Delete…").click()
    page.get_by_role("button", name="Delete reports for good").click()
    expect(page.locator("#status")).to_contain_text("reports is deleted")
    expect(page.locator("#clients td.client-id")).not_to_contain_text(["reports"])
    expect(page.locator("#clients td.client-id", has_text="backup")).to_have_count(1)
    assert in_app(site, clients.find_any, "reports") is None
    console.assert_clean()


def test_a_rotated_secret_is_shown_once_and_the_old_one_stops_working(site, browser):
    old = make_client(site)
    assert client_token(site, "reports", old).status_code == 200
    console = signed_in(browser, site)
    page = console.page
    manage_client(console, "reports")

    page.get_by_role("button", name="Rotate secret").click()
    box = page.locator("#client-secret")
    expect(box).to_contain_text("it will not be shown again")
    new = page.locator("#new-secret").inner_text()
    assert new and new != old
    assert client_token(site, "reports", old).status_code == 401
    answer = client_token(site, "reports", new)
    assert answer.status_code == 200 and "access_token" in answer.json()
    rotated = [r for r in console.responses if r.url.endswith("/rotate-secret")]
    assert [r.headers["cache-control"] for r in rotated] == ["no-store"]

    go(console, "Users")  # leaving the page wipes the secret
    assert new not in page.content()
    go(console, "Clients")
    expect(box).to_be_empty()
    assert new not in page.content()
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0
    manage_client(console, "reports")  # a second look shows no secret
    expect(page.locator("#client-facts")).to_contain_text("confidential")
    assert new not in page.content()
    console.assert_clean()


def test_a_viewer_with_clients_read_only_sees_no_write_control(site, browser):
    options = WriteOptions(actor="test")
    in_app(site, put_role, "client-auditor", "scopes: [clients:read]\n", "yaml", options)
    in_app(site, users.create, "carol", PASSWORD, ["client-auditor"])
    make_client(site)
    console = signed_in(browser, site, "carol")
    page = console.page
    expect(page.get_by_role("navigation").get_by_role("link")).to_have_text(["Clients"])

    manage_client(console, "reports")
    read_only = page.get_by_text("Read only: changing clients needs the clients:write scope")
    expect(read_only).to_be_visible()
    for name in ("Save roles", "Disable", "Enable", "Rotate secret", "Delete…"):
        assert page.get_by_role("button", name=name).count() == 0, name
    assert page.locator("#client-detail input").count() == 0
    console.assert_clean()


def test_a_client_name_holding_markup_is_shown_as_text(site, browser):
    in_app(site, lambda: clients.create(HOSTILE, ["client_credentials"], client_id="hostile"))
    console = signed_in(browser, site)
    page = console.page
    go(console, "Clients")
    names = page.locator("#clients td.client-name")
    expect(names).to_have_text(["Admin console (built in)", HOSTILE])  # by client id

    page.get_by_role("button", name=f"Manage {HOSTILE}").click()
    expect(page.locator("#client-detail h2")).to_have_text(f"Client {HOSTILE}")
    expect(page.locator("#client-facts")).to_contain_text(HOSTILE)
    page.get_by_role("button", name="Delete…").click()
    expect(page.locator("#delete-confirm")).to_contain_text(f"Delete the client {HOSTILE}")
    assert page.locator("main img, main script").count() == 0
    assert not [url for url in console.requests if url.rstrip("/").endswith("/x")]
    console.assert_clean()
