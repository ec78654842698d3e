// Rendering of diffs: the admin API's structured policy diff, and a line diff of YAML texts.

import { lineDiff } from "./diff.js";
import { el } from "./dom.js";

function names(list) {
    return (list || []).map((item) => (typeof item === "string" ? item : JSON.stringify(item))).join(", ");
}

function change(label, part) {
    if (!part) return null;
    if (Array.isArray(part)) return el("li", {}, `${label}: “${part[0] ?? ""}” → “${part[1] ?? ""}”`);
    const bits = [];
    if (part.added && part.added.length) bits.push(`+ ${part.added.join(", ")}`);
    if (part.removed && part.removed.length) bits.push(`− ${part.removed.join(", ")}`);
    return bits.length ? el("li", {}, `${label}: ${bits.join("; ")}`) : null;
}

/** The structured diff (GET /admin/policy/diff, or a preview's ``diff``) as lists. */
export function structuredDiff(diff) {
    if (!diff) return el("p", { text: "No diff." });
    const items = [];
    const line = (label, list) => list && list.length && items.push(el("li", {}, `${label}: ${names(list)}`));
    line("Scopes added", diff.scopes_added);
    line("Scopes removed", diff.scopes_removed);
    line("Scopes changed", diff.scopes_changed);
    line("Roles added", diff.roles_added);
    line("Roles removed", diff.roles_removed);
    for (const [role, parts] of Object.entries(diff.roles_changed || {})) {
        items.push(
            el(
                "li",
                {},
                `Role ${role} changed`,
                el("ul", {}, Object.entries(parts).map(([key, part]) => change(key.replace("_", " "), part))),
            ),
        );
    }
    return el(
        "div",
        { class: "diff" },
        el("p", { class: "summary", text: diff.summary || "" }),
        items.length ? el("ul", {}, items) : el("p", { text: "No change in meaning." }),
    );
}

/** A line diff of two YAML texts, old -> new, with line numbers. */
export function textDiff(oldText, newText, caption) {
    const rows = lineDiff(oldText, newText);
    if (!rows.length) return el("p", { text: "The texts are identical." });
    const kindName = { "-": "removed", "+": "added", " ": "same", "…": "gap" };
    return el(
        "table",
        { class: "textdiff" },
        el("caption", { text: caption || "Text changes" }),
        el(
            "thead",
            {},
            el("tr", {}, ["Old", "New", "", "Line"].map((h) => el("th", { scope: "col", text: h }))),
        ),
        el(
            "tbody",
            {},
            rows.map((row) =>
                el(
                    "tr",
                    { class: kindName[row.kind] },
                    el("td", { class: "num", text: row.oldLine || "" }),
                    el("td", { class: "num", text: row.newLine || "" }),
                    el("td", { class: "mark", text: row.kind === "…" ? "⋯" : row.kind }),
                    el("td", { class: "code", text: row.text }),
                ),
            ),
        ),
    );
}
