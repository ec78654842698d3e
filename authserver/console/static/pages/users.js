// Users: search as you type (a username prefix, any case: `q=`; and/or a role), pages, and
// for one user: roles, disable, enable, unlock and revoke tokens.

import { call } from "../api.js";
import { el, field, fill, problemBox, say, when } from "../dom.js";
import * as session from "../session.js";

export const title = "Users";
const PAGE = 20;
const DEBOUNCE_MS = 250; // one request once typing pauses, not one per key

function status(user) {
    const parts = [];
    if (user.disabled) parts.push("disabled");
    if (user.locked) parts.push(`locked until ${when(user.locked_until)}`);
    return parts.join(", ") || "active";
}

export async function show(main) {
    const canWrite = session.has("users:write");
    let roleNames = null;
    if (session.has("policies:read")) {
        const roles = await call("/roles");
        if (roles.ok) roleNames = roles.data.roles.map((r) => r.name);
    }
    const nameInput = el("input", { id: "user-search", type: "search", autocomplete: "off", spellcheck: "false" });
    const roleInput = roleNames
        ? el("select", { id: "role-filter" }, el("option", { value: "", text: "any role" }), roleNames.map((r) => el("option", { value: r, text: r })))
        : el("input", { id: "role-filter", type: "text" });
    const results = el("section", { id: "user-results", "aria-live": "polite" });
    const detail = el("section", { id: "user-detail" });
    const pages = []; // cursors of the pages shown so far
    let filters = {};
    let asked = 0; // the latest request: an older answer arriving late is dropped

    async function page(cursor) {
        const mine = ++asked;
        const answer = await call("/users", { query: { limit: PAGE, cursor, role: filters.role, q: filters.prefix } });
        if (mine !== asked) return;
        fill(detail);
        if (!answer.ok) return fill(results, problemBox(answer.problem));
        draw(answer.data.users, answer.data.next_cursor);
    }

    function search() {
        clearTimeout(typing);
        filters = { prefix: nameInput.value.trim(), role: roleInput.value.trim() };
        pages.length = 0;
        pages.push(null);
        return page(null);
    }

    let typing;
    let typed = null; // the prefix last searched, so a key that changes nothing asks nothing
    nameInput.addEventListener("input", () => {
        clearTimeout(typing);
        typing = setTimeout(() => {
            if (nameInput.value.trim() !== typed) {
                typed = nameInput.value.trim();
                search();
            }
        }, DEBOUNCE_MS);
    });
    roleInput.addEventListener("change", () => search());

    function draw(users, next) {
        const previous = el("button", { type: "button", class: "secondary", text: "Previous page", disabled: pages.length < 2 });
        const following = el("button", { type: "button", class: "secondary", text: "Next page", disabled: !next });
        previous.addEventListener("click", () => {
            pages.pop();
            page(pages[pages.length - 1]);
        });
        following.addEventListener("click", () => {
            pages.push(next);
            page(next);
        });
        fill(
            results,
            users.length
                ? el(
                      "table",
                      { id: "users" },
                      el("caption", { text: `Users, page ${pages.length || 1}` }),
                      el("thead", {}, el("tr", {}, ["Username", "Roles", "Status", "Created", ""].map((h) => el("th", { scope: "col", text: h })))),
                      el(
                          "tbody",
                          {},
                          users.map((u) =>
                              el(
                                  "tr",
                                  {},
                                  el("td", { class: "username", text: u.username }),
                                  el("td", { text: u.roles.join(", ") || "none" }),
                                  el("td", { text: status(u) }),
                                  el("td", { text: when(u.created_at) }),
                                  el(
                                      "td",
                                      {},
                                      el("button", {
                                          type: "button",
                                          class: "secondary",
                                          text: `Manage ${u.username}`,
                                          on: { click: () => manage(u) },
                                      }),
                                  ),
                              ),
                          ),
                      ),
                  )
                : el("p", { text: "No user matches." }),
            el("div", { class: "pager" }, previous, following),
        );
    }

    function manage(user) {
        const heading = el("h2", { text: `User ${user.username}`, tabindex: -1 });
        const facts = el("p", { id: "user-facts", text: `Roles: ${user.roles.join(", ") || "none"}. Status: ${status(user)}.` });
        const out = el("div");
        const act = async (path, message, options = { method: "POST" }) => {
            const answer = await call(`/users/${encodeURIComponent(user.username)}${path}`, options);
            if (!answer.ok) return fill(out, problemBox(answer.problem));
            if (answer.data && answer.data.username && answer.data.roles) {
                Object.assign(user, answer.data);
                facts.textContent = `Roles: ${user.roles.join(", ") || "none"}. Status: ${status(user)}.`;
            }
            fill(out);
            // The list and the user redrawn first, then the message: once it shows, the
            // page is done (nothing still loading that could replace what the admin reads).
            await page(pages[pages.length - 1]);
            await manageAgain(user);
            say(message(answer.data), "good");
        };
        const parts = [heading, facts];
        if (canWrite) {
            let rolesField;
            let chosen;
            if (roleNames) {
                const boxes = roleNames.map((r) => el("input", { type: "checkbox", value: r, id: `role-${r}`, checked: user.roles.includes(r) }));
                rolesField = el(
                    "fieldset",
                    {},
                    el("legend", { text: "Roles" }),
                    boxes.map((b) => el("div", { class: "check-field" }, b, el("label", { for: b.id, text: b.value }))),
                );
                chosen = () => boxes.filter((b) => b.checked).map((b) => b.value);
            } else {
                const input = el("input", { type: "text", value: user.roles.join(" ") });
                rolesField = field("Roles (space-separated)", input);
                chosen = () => input.value.split(/[\s,]+/).filter(Boolean);
            }
            const saveRoles = el("button", { type: "submit", text: "Save roles" });
            const form = el(
                "form",
                {
                    "aria-label": "Roles",
                    on: {
                        submit: (event) => {
                            event.preventDefault();
                            act("/roles", (u) => `${u.username} now holds: ${u.roles.join(", ") || "no role"}.`, {
                                method: "PUT",
                                body: { roles: chosen() },
                            });
                        },
                    },
                },
                rolesField,
                saveRoles,
            );
            const button = (label, path, message) =>
                el("button", { type: "button", class: "secondary", text: label, on: { click: () => act(path, message) } });
            parts.push(
                form,
                el(
                    "div",
                    { class: "buttons" },
                    user.disabled
                        ? button("Enable", "/enable", () => `${user.username} is enabled.`)
                        : button("Disable", "/disable", () => `${user.username} is disabled: their refresh tokens ended.`),
                    user.locked ? button("Unlock", "/unlock", () => `${user.username} is unlocked.`) : null,
                    button("Revoke tokens", "/revoke-tokens", (d) => `${d.families_revoked} refresh token famil${d.families_revoked === 1 ? "y" : "ies"} of ${user.username} ended.`),
                ),
                out,
            );
        } else parts.push(el("p", { class: "note", text: "Read only: changing users needs the users:write scope." }));
        fill(detail, parts);
        heading.focus();
    }

    async function manageAgain(user) {
        const fresh = await call(`/users/${encodeURIComponent(user.username)}`);
        if (fresh.ok) manage(fresh.data);
    }

    const form = el(
        "form",
        {
            class: "inline",
            role: "search",
            "aria-label": "Find users",
            on: {
                submit: (event) => {
                    event.preventDefault();
                    typed = nameInput.value.trim();
                    search();
                },
            },
        },
        field("Username starts with", nameInput, "Any case; results follow as you type."),
        field("Holding role", roleInput),
        el("button", { type: "submit", text: "Search" }),
    );
    fill(main, el("h1", { text: title }), form, results, detail);
    pages.push(null);
    await page(null);
}
