// Versions: the list (newest first, paged), a diff between any two, and restore.

import { call } from "../api.js";
import { structuredDiff, textDiff } from "../diffview.js";
import { el, field, fill, problemBox, say, when } from "../dom.js";
import * as session from "../session.js";

export const title = "Versions";

export async function show(main) {
    const canWrite = session.has("policies:write");
    const versions = [];
    let cursor = null;
    const list = el("tbody");
    const more = el("button", { type: "button", class: "secondary", id: "more-versions", text: "Load older versions" });
    const from = el("select", { id: "diff-from" });
    const to = el("select", { id: "diff-to" });
    const result = el("section", { id: "version-diff", "aria-live": "polite" });
    const restoreBox = el("div", { id: "restore-box" });

    async function load() {
        const answer = await call("/policy/versions", { query: { limit: 20, cursor } });
        if (!answer.ok) return fill(result, problemBox(answer.problem));
        versions.push(...answer.data.versions);
        cursor = answer.data.next_cursor;
        more.hidden = !cursor;
        draw();
    }

    function draw() {
        const live = versions.length ? versions[0].version : null;
        fill(
            list,
            versions.map((v) =>
                el(
                    "tr",
                    {},
                    el("td", { text: v.version === live ? `${v.version} (live)` : v.version }),
                    el("td", { text: when(v.created_at) }),
                    el("td", { text: v.created_by }),
                    el("td", { text: v.comment || "" }),
                    el(
                        "td",
                        {},
                        canWrite && v.version !== live
                            ? el("button", {
                                  type: "button",
                                  class: "secondary",
                                  text: `Restore version ${v.version}`,
                                  on: { click: () => confirmRestore(v.version) },
                              })
                            : null,
                    ),
                ),
            ),
        );
        const keepFrom = from.value;
        const keepTo = to.value;
        const options = () => versions.map((v) => el("option", { value: v.version, text: `version ${v.version}` }));
        fill(from, options());
        fill(to, options());
        from.value = keepFrom || String(versions[1] ? versions[1].version : live);
        to.value = keepTo || String(live);
    }

    async function showDiff(event) {
        event.preventDefault();
        const [a, b] = [from.value, to.value];
        const [diff, oldText, newText] = await Promise.all([
            call("/policy/diff", { query: { from: a, to: b } }),
            call(`/policy/versions/${a}`, { accept: "application/yaml" }),
            call(`/policy/versions/${b}`, { accept: "application/yaml" }),
        ]);
        if (!diff.ok) return fill(result, problemBox(diff.problem));
        fill(
            result,
            el("h2", { text: `Version ${a} → version ${b}` }),
            structuredDiff(diff.data),
            oldText.ok && newText.ok ? textDiff(oldText.text, newText.text, `YAML, version ${a} → ${b}`) : null,
        );
    }

    function confirmRestore(number) {
        const go = el("button", { type: "button", id: "confirm-restore", text: `Yes, restore version ${number}` });
        const cancel = el("button", { type: "button", class: "secondary", text: "Cancel" });
        go.addEventListener("click", () => restore(number, false));
        cancel.addEventListener("click", () => fill(restoreBox));
        fill(
            restoreBox,
            el(
                "div",
                { class: "confirm", role: "group", "aria-label": "Confirm restore" },
                el("p", { text: `Store version ${number}'s text, unchanged, as the new live version?` }),
                go,
                cancel,
            ),
        );
        go.focus();
    }

    async function restore(number, strip) {
        const live = versions[0].version;
        const answer = await call(`/policy/versions/${number}/restore`, {
            method: "POST",
            ifMatch: live,
            query: { strip_roles: strip ? "true" : undefined },
        });
        if (answer.ok) {
            fill(restoreBox);
            say(`Version ${number} restored: version ${answer.data.version} is live.`, "good");
            versions.length = 0;
            cursor = null;
            return load();
        }
        if (answer.status === 409 && answer.problem.roles) {
            const held = answer.problem.roles.map((r) => `${r.role} (held by ${r.users})`).join(", ");
            const strip = el("button", { type: "button", text: "Restore and take these roles from their users" });
            strip.addEventListener("click", () => restore(number, true));
            return fill(restoreBox, el("div", { class: "problem", role: "alert" }, el("p", { text: `Version ${number} lacks roles users hold now: ${held}.` }), strip));
        }
        if (answer.status === 412) {
            say("Someone changed the policy meanwhile: the list is reloaded, check it and try again.", "bad");
            versions.length = 0;
            cursor = null;
            fill(restoreBox);
            return load();
        }
        fill(restoreBox, problemBox(answer.problem));
    }

    more.addEventListener("click", load);
    const form = el(
        "form",
        { class: "inline", "aria-label": "Compare two versions", on: { submit: showDiff } },
        field("From", from),
        field("To", to),
        el("button", { type: "submit", text: "Show the diff" }),
    );
    fill(
        main,
        el("h1", { text: title }),
        restoreBox,
        el(
            "table",
            { id: "versions" },
            el("caption", { text: "Policy versions, newest first" }),
            el("thead", {}, el("tr", {}, ["Version", "Saved", "By", "Comment", ""].map((h) => el("th", { scope: "col", text: h })))),
            list,
        ),
        more,
        form,
        result,
    );
    await load();
}
