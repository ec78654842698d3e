// The console's entry point: sign-in, navigation by URL fragment (#/policy, ...), and the
// pages the signed-in scopes allow.

import { el, field, fill, say } from "./dom.js";
import * as session from "./session.js";

// Each page, the scopes it needs (the admin API's own requirements) and its module, loaded
// when first shown: the first load (the sign-in form) fetches only what it draws.
const PAGES = [
    { path: "policy", title: "Policy", needs: ["policies:read"], load: () => import("./pages/policy.js") },
    { path: "versions", title: "Versions", needs: ["policies:read"], load: () => import("./pages/versions.js") },
    { path: "roles", title: "Roles", needs: ["policies:read"], load: () => import("./pages/roles.js") },
    { path: "users", title: "Users", needs: ["users:read"], load: () => import("./pages/users.js") },
    { path: "explain", title: "Explain", needs: ["users:read", "policies:read"], load: () => import("./pages/explain.js") },
    { path: "audit", title: "Audit", needs: ["audit:read"], load: () => import("./pages/audit.js") },
    { path: "clients", title: "Clients", needs: ["clients:read"], load: () => import("./pages/clients.js") },
];

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const sessionBox = document.getElementById("session");

function allowed() {
    return PAGES.filter((p) => session.has(...p.needs));
}

function current() {
    return location.hash.replace(/^#\/?/, "");
}

// What the navigation and the session box were last drawn for. They are redrawn only when
// that changes: redrawing them on every route (or token refresh) would remove the link or
// button a keyboard user is on, and their next Tab or Enter would start from the page's top.
let drawnPages = null;
let drawnUser = null;

function drawChrome() {
    if (!session.signedIn()) {
        drawnPages = drawnUser = null;
        fill(nav);
        fill(sessionBox);
        return;
    }
    const pages = allowed();
    const key = pages.map((p) => p.path).join(" ");
    if (key !== drawnPages) {
        drawnPages = key;
        fill(
            nav,
            el(
                "ul",
                {},
                pages.map((p) => el("li", {}, el("a", { href: `#/${p.path}`, text: p.title }))),
            ),
        );
    }
    const here = `#/${current()}`;
    for (const link of nav.querySelectorAll("a")) {
        if (link.getAttribute("href") === here) link.setAttribute("aria-current", "page");
        else link.removeAttribute("aria-current");
    }
    if (session.username() === drawnUser) return;
    drawnUser = session.username();
    const out = el("button", { type: "button", id: "sign-out", class: "secondary", text: "Sign out" });
    out.addEventListener("click", async () => {
        out.disabled = true;
        await session.signOut();
        say("Signed out: your session's tokens are revoked.");
    });
    fill(sessionBox, el("span", { id: "whoami", text: `Signed in as ${session.username()}` }), " ", out);
}

function signInPage(message) {
    const name = el("input", { id: "username", name: "username", type: "text", autocomplete: "username", required: true });
    const password = el("input", { id: "password", name: "password", type: "password", autocomplete: "current-password", required: true });
    const error = el("div", { id: "signin-error", role: "alert" });
    const button = el("button", { type: "submit", text: "Sign in" });
    const form = el(
        "form",
        // method=post: were the handler ever missing, a password must not land in a URL.
        { class: "signin", method: "post", "aria-labelledby": "signin-title" },
        el("h1", { id: "signin-title", text: "Sign in" }),
        el("p", { text: "Admins sign in with their username and password. The session lives in this tab only." }),
        field("Username", name),
        field("Password", password),
        button,
        error,
    );
    form.addEventListener("submit", async (event) => {
        event.preventDefault();
        button.disabled = true;
        fill(error);
        const answer = await session.signIn(name.value.trim(), password.value);
        button.disabled = false;
        if (!answer.ok) {
            password.value = "";
            fill(error, el("p", { class: "problem", text: answer.message }));
            password.focus();
        }
    });
    fill(main, form, message ? el("p", { class: "note", text: message }) : null);
    name.focus();
}

let rendering = 0;

async function route() {
    // Every route ends any page still loading: a page that finishes after a sign-out (or a
    // later navigation) must not replace what is shown now.
    const mine = ++rendering;
    if (!session.signedIn()) {
        drawChrome();
        signInPage();
        if (!performance.getEntriesByName("console:ready").length) performance.mark("console:ready");
        return;
    }
    const pages = allowed();
    if (!pages.length) {
        drawChrome();
        return fill(main, el("h1", { text: "Nothing to show" }), el("p", { text: "Your token carries no admin scope this console can use." }));
    }
    let entry = pages.find((p) => p.path === current());
    if (!entry) {
        // The first page the scopes allow, named in the address without a hashchange: a
        // second route for it would draw everything twice, once under a user already moving.
        entry = pages[0];
        history.replaceState(history.state, "", `#/${entry.path}`);
    }
    drawChrome();
    document.title = `${entry.title} · authserver console`;
    fill(main, el("p", { class: "loading", text: "Loading…" }));
    // Where the focus is as the page starts loading. Once loaded, the page takes the focus
    // only if it is still there (or nowhere): a user who moved on meanwhile (a quick keyboard
    // user on the next link) keeps it, or their Enter would land on the page and be lost.
    const focused = document.activeElement;
    const holder = el("div");
    const page = await entry.load();
    if (mine !== rendering) return;
    await page.show(holder);
    if (mine !== rendering) return; // another page was asked for meanwhile
    main.replaceChildren(...holder.childNodes);
    const now = document.activeElement;
    if (now === focused || now === null || now === document.body) main.focus({ preventScroll: true });
}

session.onChange((reason) => {
    if (reason === "refresh") return drawChrome();
    if (reason === "scopes") say("Your scopes changed: the console shows what they allow now.");
    if (reason === "expired") say("Your session ended: sign in again.", "bad");
    if (reason === "signin") say("");
    route();
});
window.addEventListener("hashchange", () => {
    say(""); // a message belongs to the page it was said on
    route();
});
route();
