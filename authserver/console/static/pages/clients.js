// Clients (SPEC §16): the list, page by page, and for one client its details; with
// clients:write its roles, disable, enable, a new secret and delete.
//
// A rotated secret is shown once, as text, in one node of the page and nowhere else (no
// variable keeps it): it is wiped when the admin leaves the page, opens another client or
// acts on this one.

import { call } from "../api.js";
import { el, field, fill, problemBox, say, when } from "../dom.js";
import * as session from "../session.js";

export const title = "Clients";
const PAGE = 20;

function status(client) {
    return client.disabled ? "disabled" : "active";
}

function kind(client) {
    return client.public ? "public" : "confidential";
}

function facts(client) {
    const rows = [
        ["Client id", client.client_id],
        ["Name", client.name],
        ["Kind", kind(client)],
        ["Grant types", client.grant_types.join(", ") || "none"],
        ["Allowed scopes", client.scope === null ? "any (no limit of its own)" : client.scope.join(" ") || "none"],
        ["Roles", client.roles.join(", ") || "none"],
        ["Introspection", client.introspect ? "allowed" : "no"],
        ["DPoP-bound tokens", client.dpop_bound_access_tokens ? "required" : "no"],
        ["Status", status(client)],
        ["Created", when(client.created_at)],
    ];
    return el("dl", { id: "client-facts" }, rows.map(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })]));
}

let shown = null; // the secret's box on the page drawn last

function wipe(box) {
    if (!box) return;
    box.replaceChildren();
    box.removeAttribute("class");
}

// Leaving the page (another page, a sign-out, an expired session, new scopes) wipes a
// secret still shown, even from a box no longer in the document.
window.addEventListener("hashchange", () => wipe(shown));
session.onChange((reason) => {
    if (reason !== "refresh") wipe(shown);
});

export async function show(main) {
    const canWrite = session.has("clients:write");
    let roleNames = null;
    if (canWrite && session.has("policies:read")) {
        const roles = await call("/roles");
        if (roles.ok) roleNames = roles.data.roles.map((r) => r.name);
    }
    const results = el("section", { id: "client-results", "aria-live": "polite" });
    const detail = el("section", { id: "client-detail" });
    const secretBox = el("div", { id: "client-secret" });
    const pages = [null]; // cursors of the pages shown so far
    let asked = 0;

    const forgetSecret = () => wipe(secretBox);
    forgetSecret();
    shown = secretBox;

    async function page(cursor) {
        const mine = ++asked;
        const answer = await call("/clients", { query: { limit: PAGE, cursor } });
        if (mine !== asked) return;
        if (!answer.ok) return fill(results, problemBox(answer.problem));
        draw(answer.data.clients, answer.data.next_cursor);
    }

    function draw(clients, next) {
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
            clients.length
                ? el(
                      "table",
                      { id: "clients" },
                      el("caption", { text: `Clients, page ${pages.length}` }),
                      el("thead", {}, el("tr", {}, ["Client id", "Name", "Kind", "Roles", "Status", ""].map((h) => el("th", { scope: "col", text: h })))),
                      el(
                          "tbody",
                          {},
                          clients.map((c) =>
                              el(
                                  "tr",
                                  {},
                                  el("td", { class: "client-id", text: c.client_id }),
                                  el("td", { class: "client-name", text: c.name }),
                                  el("td", { text: kind(c) }),
                                  el("td", { text: c.roles.join(", ") || "none" }),
                                  el("td", { text: status(c) }),
                                  el(
                                      "td",
                                      {},
                                      el("button", {
                                          type: "button",
                                          class: "secondary",
                                          text: `Manage ${c.name}`,
                                          on: { click: () => manage(c) },
                                      }),
                                  ),
                              ),
                          ),
                      ),
                  )
                : el("p", { text: "No client is registered." }),
            el("div", { class: "pager" }, previous, following),
        );
    }

    async function refreshList() {
        await page(pages[pages.length - 1]);
    }

    function manage(client) {
        forgetSecret();
        const heading = el("h2", { text: `Client ${client.name}`, tabindex: -1 });
        const out = el("div");
        const path = `/clients/${encodeURIComponent(client.client_id)}`;
        const parts = [heading, facts(client)];

        // One write: the client as answered (or a problem), the list and the detail redrawn.
        const act = async (suffix, message, options = { method: "POST" }) => {
            forgetSecret();
            const answer = await call(path + suffix, options);
            if (!answer.ok) return fill(out, problemBox(answer.problem));
            await refreshList();
            if (answer.data && answer.data.client_id && answer.data.grant_types) manage(answer.data);
            say(message, "good"); // last: once it shows, nothing is still loading
        };

        if (canWrite) {
            let rolesField;
            let chosen;
            if (roleNames) {
                const boxes = roleNames.map((r) =>
                    el("input", { type: "checkbox", value: r, id: `client-role-${r}`, checked: client.roles.includes(r) }),
                );
                rolesField = el(
                    "fieldset",
                    {},
                    el("legend", { text: "Roles" }),
                    boxes.map((b) => el("div", { class: "check-field" }, b, el("label", { for: b.id, text: b.value }))),
                );
                chosen = () => boxes.filter((b) => b.checked).map((b) => b.value);
            } else {
                const input = el("input", { type: "text", value: client.roles.join(" ") });
                rolesField = field("Roles (space-separated)", input);
                chosen = () => input.value.split(/[\s,]+/).filter(Boolean);
            }
            const form = el(
                "form",
                {
                    "aria-label": "Client roles",
                    on: {
                        submit: (event) => {
                            event.preventDefault();
                            const roles = chosen();
                            act("/roles", `${client.name} now holds: ${roles.join(", ") || "no role"}.`, { method: "PUT", body: { roles } });
                        },
                    },
                },
                rolesField,
                el("button", { type: "submit", text: "Save roles" }),
            );
            const button = (label, onClick, extra = {}) =>
                el("button", { type: "button", class: "secondary", text: label, on: { click: onClick }, ...extra });
            const confirmBox = el("div", { id: "delete-confirm" });
            const rotate = async () => {
                forgetSecret();
                const answer = await call(`${path}/rotate-secret`, { method: "POST" });
                if (!answer.ok) return fill(out, problemBox(answer.problem));
                fill(out);
                secretBox.setAttribute("class", "secret");
                fill(
                    secretBox,
                    el("h3", { text: `New secret of ${client.name}` }),
                    el("p", { class: "secret-value" }, el("code", { id: "new-secret", text: answer.data.client_secret })),
                    el("p", {
                        role: "alert",
                        text: "Copy it now: it will not be shown again. The old secret no longer works, and the client's tokens have ended.",
                    }),
                    button("Hide the secret", () => {
                        forgetSecret();
                        heading.focus();
                    }),
                );
                say(`${client.name} has a new secret.`, "good");
                secretBox.querySelector("button").focus();
            };
            const askDelete = () => {
                const cancel = button("Cancel", () => {
                    fill(confirmBox);
                    remove.focus();
                });
                const yes = el("button", {
                    type: "button",
                    class: "danger",
                    text: `Delete ${client.name} for good`,
                    on: {
                        click: async () => {
                            yes.disabled = true;
                            forgetSecret();
                            const answer = await call(path, { method: "DELETE" });
                            if (!answer.ok) {
                                yes.disabled = false;
                                return fill(out, problemBox(answer.problem));
                            }
                            fill(detail);
                            await refreshList();
                            say(`${client.name} is deleted: its tokens have ended.`, "good");
                        },
                    },
                });
                fill(
                    confirmBox,
                    el("p", {
                        role: "alert",
                        text: `Delete the client ${client.name} (${client.client_id})? It can no longer get tokens, and the tokens it holds end now. This cannot be undone.`,
                    }),
                    el("div", { class: "buttons" }, yes, cancel),
                );
                cancel.focus();
            };
            const remove = button("Delete…", askDelete);
            parts.push(
                form,
                el(
                    "div",
                    { class: "buttons" },
                    client.disabled
                        ? button("Enable", () => act("/enable", `${client.name} is enabled.`))
                        : button("Disable", () => act("/disable", `${client.name} is disabled: its tokens have ended.`)),
                    client.public ? null : button("Rotate secret", rotate),
                    remove,
                ),
                confirmBox,
                out,
            );
        } else parts.push(el("p", { class: "note", text: "Read only: changing clients needs the clients:write scope." }));
        fill(detail, parts);
        heading.focus();
    }

    fill(main, el("h1", { text: title }), results, secretBox, detail);
    await page(null);
}
