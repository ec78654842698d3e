// Audit: the trail, newest first, filtered and paged; each event's detail.

import { call } from "../api.js";
import { el, field, fill, problemBox, when } from "../dom.js";

export const title = "Audit";
const KINDS = [
    "login.success", "login.failure", "token.refresh", "token.reuse_detected", "token.revoked",
    "policy.version", "user.created", "user.roles_changed", "user.password_changed", "user.disabled",
    "user.enabled", "user.unlocked", "user.tokens_revoked", "client.created", "client.roles_changed",
    "client.disabled", "client.enabled", "client.secret_rotated", "client.deleted", "client.updated",
];

export async function show(main) {
    const inputs = {
        since: el("input", { id: "audit-since", type: "text", placeholder: "2026-11-30T18:00Z" }),
        until: el("input", { id: "audit-until", type: "text" }),
        actor: el("input", { id: "audit-actor", type: "text" }),
        kind: el("input", { id: "audit-kind", type: "text", list: "audit-kinds" }),
        subject: el("input", { id: "audit-subject", type: "text", placeholder: "user:alice" }),
    };
    const results = el("section", { id: "audit-results", "aria-live": "polite" });
    const detail = el("section", { id: "audit-detail" });
    const cursors = [null];
    let filters = {};

    async function page(cursor) {
        const answer = await call("/audit", { query: { ...filters, limit: 25, cursor } });
        if (!answer.ok) return fill(results, problemBox(answer.problem));
        const { events, next_cursor: next } = answer.data;
        const previous = el("button", { type: "button", class: "secondary", text: "Newer events", disabled: cursors.length < 2 });
        const older = el("button", { type: "button", class: "secondary", text: "Older events", disabled: !next });
        previous.addEventListener("click", () => {
            cursors.pop();
            page(cursors[cursors.length - 1]);
        });
        older.addEventListener("click", () => {
            cursors.push(next);
            page(next);
        });
        fill(
            results,
            events.length
                ? el(
                      "table",
                      { id: "audit" },
                      el("caption", { text: "Audit events, newest first" }),
                      el("thead", {}, el("tr", {}, ["When", "Kind", "Actor", "Subject", ""].map((h) => el("th", { scope: "col", text: h })))),
                      el(
                          "tbody",
                          {},
                          events.map((e) =>
                              el(
                                  "tr",
                                  {},
                                  el("td", { text: when(e.occurred_at) }),
                                  el("td", { class: "kind", text: e.kind }),
                                  el("td", { text: e.actor }),
                                  el("td", { text: e.subject }),
                                  el("td", {}, el("button", { type: "button", class: "secondary", text: `Details of event ${e.id}`, on: { click: () => showEvent(e) } })),
                              ),
                          ),
                      ),
                  )
                : el("p", { text: "No event matches these filters." }),
            el("div", { class: "pager" }, previous, older),
        );
    }

    function showEvent(e) {
        const heading = el("h2", { text: `Event ${e.id}: ${e.kind}`, tabindex: -1 });
        const facts = [
            ["When", when(e.occurred_at)],
            ["Actor", e.actor],
            ["Subject", e.subject],
            ["Client", e.client_id || "—"],
            ["IP address", e.ip || "—"],
        ];
        fill(
            detail,
            heading,
            el("dl", {}, facts.map(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })])),
            el("h3", { text: "Details" }),
            el("pre", { class: "json", text: JSON.stringify(e.details, null, 2) }),
        );
        heading.focus();
    }

    function apply(event) {
        event.preventDefault();
        filters = Object.fromEntries(Object.entries(inputs).map(([k, input]) => [k, input.value.trim()]));
        cursors.length = 1;
        fill(detail);
        page(null);
    }

    fill(
        main,
        el("h1", { text: title }),
        el(
            "form",
            { class: "inline", "aria-label": "Filter the audit trail", on: { submit: apply } },
            field("Since (UTC)", inputs.since),
            field("Until (UTC)", inputs.until),
            field("Actor", inputs.actor),
            field("Kind", inputs.kind),
            field("Subject", inputs.subject),
            el("datalist", { id: "audit-kinds" }, KINDS.map((k) => el("option", { value: k }))),
            el("button", { type: "submit", text: "Apply filters" }),
        ),
        results,
        detail,
    );
    await page(null);
}
