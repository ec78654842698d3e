// Policy: the live YAML in an editor with line numbers, checked as you type through the
// preview endpoint (errors at their line, the impact and the policy tests' results), saved
// with If-Match; a 412 shows what changed meanwhile and reapplies the edit on the new version.

import { call } from "../api.js";
import { merge3 } from "../diff.js";
import { structuredDiff, textDiff } from "../diffview.js";
import { el, field, fill, problemBox, say, table } from "../dom.js";
import * as session from "../session.js";

const CHECK_DELAY_MS = 300;

export const title = "Policy";

export async function show(main) {
    const live = await call("/policy", { accept: "application/yaml" });
    if (!live.ok) return fill(main, el("h1", { text: title }), problemBox(live.problem));
    const canWrite = session.has("policies:write");
    const state = { base: live.etag, baseText: live.text, seq: 0, timer: null, result: null, strip: false };

    const versionLine = el("p", { id: "policy-version" });
    const gutter = el("ol", { class: "gutter", "aria-hidden": "true" });
    const text = el("textarea", {
        id: "policy-text",
        class: "code",
        spellcheck: "false",
        autocapitalize: "off",
        autocomplete: "off",
        wrap: "off",
        rows: 22,
        "aria-describedby": "check-status",
    });
    text.value = live.text;
    const checkStatus = el("p", { id: "check-status", class: "check", "aria-live": "polite" });
    const problems = el("ul", { id: "problems", class: "problems", "aria-label": "Errors and warnings" });
    const changes = el("section", { id: "preview-diff", "aria-labelledby": "h-changes" });
    const impact = el("section", { id: "impact", "aria-labelledby": "h-impact" });
    const tests = el("section", { id: "tests", "aria-labelledby": "h-tests" });
    const conflict = el("section", { id: "conflict", class: "conflict", hidden: true });
    const saveArea = el("div", { class: "save" });
    const comment = el("input", { id: "save-comment", type: "text", maxlength: 500 });
    const saveButton = el("button", { id: "save", type: "button", disabled: true, text: "Save" });
    const saveProblem = el("div", { id: "save-problem" });

    function showVersion() {
        versionLine.textContent = `Editing live version ${state.base}.`;
        saveButton.textContent = `Save as version ${state.base + 1}`;
    }

    function drawGutter(marks = new Map()) {
        const count = text.value.split("\n").length;
        const items = [];
        for (let n = 1; n <= count; n++) {
            const mark = marks.get(n);
            const item = el("li", { class: mark ? mark.kind : null, text: n });
            if (mark) item.setAttribute("title", mark.messages.join("\n"));
            items.push(item);
        }
        gutter.replaceChildren(...items);
        gutter.scrollTop = text.scrollTop;
    }

    function goTo(line, column) {
        const all = text.value.split("\n");
        const row = Math.min(Math.max(line, 1), all.length);
        let start = 0;
        for (let k = 0; k < row - 1; k++) start += all[k].length + 1;
        const col = Math.min(Math.max((column || 1) - 1, 0), all[row - 1].length);
        text.focus();
        text.setSelectionRange(start + col, start + all[row - 1].length);
        const height = parseFloat(getComputedStyle(text).lineHeight) || 18;
        text.scrollTop = Math.max(0, (row - 4) * height);
    }

    function issueItem(kind, issue) {
        const where = issue.line ? `Line ${issue.line}${issue.column ? `, column ${issue.column}` : ""}` : "Policy";
        const jump = issue.line
            ? el("button", {
                  type: "button",
                  class: "link",
                  text: where,
                  on: { click: () => goTo(issue.line, issue.column) },
              })
            : el("span", { text: where });
        return el(
            "li",
            { class: kind },
            el("span", { class: "badge", text: kind }),
            " ",
            jump,
            `: ${issue.message}`,
            issue.path ? el("span", { class: "path", text: ` (${issue.path})` }) : null,
        );
    }

    function showIssues(errors = [], warnings = []) {
        const marks = new Map();
        const mark = (kind, issue) => {
            if (!issue.line) return;
            const entry = marks.get(issue.line) || { kind, messages: [] };
            if (kind === "error" || entry.kind === "warning") entry.kind = kind;
            entry.messages.push(issue.message);
            marks.set(issue.line, entry);
        };
        warnings.forEach((w) => mark("warning", w));
        errors.forEach((e) => mark("error", e));
        drawGutter(marks);
        fill(
            problems,
            errors.map((e) => issueItem("error", e)),
            warnings.map((w) => issueItem("warning", w)),
        );
    }

    function showImpact(data) {
        const groups = (data && data.groups) || [];
        const held = Object.entries((data && data.roles_removed_held) || {});
        const rows = groups.map((g) => [
            `${g.kind === "client" ? "Clients" : "Users"} with ${g.roles.length ? `roles ${g.roles.join(", ")}` : "no role"}`,
            String(g.count),
            (g.gains || []).join(" ") || "—",
            (g.loses || []).join(" ") || "—",
            (g.sample || []).join(", "),
        ]);
        fill(
            impact,
            el("h2", { id: "h-impact", text: "Impact" }),
            rows.length
                ? table("Who gains or loses scopes with this edit", ["Who", "How many", "Gains", "Loses", "For example"], rows)
                : el("p", { text: "Nobody's grantable scopes change." }),
            held.length
                ? el(
                      "p",
                      { class: "warn" },
                      `Roles this edit removes are still held: ${held.map(([r, n]) => `${r} (${n})`).join(", ")}.`,
                  )
                : null,
        );
    }

    function showTests(results) {
        const list = Array.isArray(results) ? results : (results && results.results) || [];
        fill(
            tests,
            el("h2", { id: "h-tests", text: "Policy tests" }),
            list.length
                ? el(
                      "ul",
                      { class: "tests" },
                      list.map((t) =>
                          el(
                              "li",
                              { class: t.passed ? "passed" : "failed" },
                              `${t.passed ? "✓ passed" : "✗ failed"}: ${t.name}`,
                              (t.failures || []).length
                                  ? el("ul", {}, t.failures.map((f) => issueItem("test", f)))
                                  : null,
                          ),
                      ),
                  )
                : el("p", { text: "This policy has no tests: add a top-level tests: list to pin down what it must grant." }),
        );
    }

    function canSave() {
        const r = state.result;
        return canWrite && r !== null && r.valid && text.value !== state.baseText;
    }

    async function check() {
        const seq = ++state.seq;
        state.result = null;
        saveButton.disabled = true;
        checkStatus.textContent = "Checking…";
        checkStatus.setAttribute("class", "check busy");
        const answer = await call("/policy/preview", { method: "POST", body: text.value, type: "application/yaml" });
        if (seq !== state.seq) return; // a newer edit is being checked
        if (!answer.ok || !answer.data) {
            checkStatus.textContent =
                answer.status === 404 || answer.status === 405
                    ? "This server has no preview endpoint: the policy is checked when you save."
                    : `The check failed: ${(answer.problem && answer.problem.detail) || answer.status}`;
            checkStatus.setAttribute("class", "check bad");
            state.result = answer.status === 404 || answer.status === 405 ? { valid: true } : null;
            saveButton.disabled = !canSave();
            return;
        }
        const r = answer.data;
        state.result = r;
        // A failing policy test is one of ``errors`` (a save would be refused for it), at
        // the line of the scope that fails.
        showIssues(r.errors || [], r.warnings || []);
        const unchanged = text.value === state.baseText;
        if (!r.valid) {
            const n = (r.errors || []).length;
            checkStatus.textContent = `${n} problem${n === 1 ? "" : "s"}: the policy cannot be saved as it is.`;
            checkStatus.setAttribute("class", "check bad");
        } else {
            checkStatus.textContent = unchanged ? "Valid. No change from the live version." : "Valid. Review the changes and impact below.";
            checkStatus.setAttribute("class", "check good");
        }
        if (!r.diff) {
            // The document does not load: nothing to compare, count or test yet.
            const later = "Fix the problems above to see what this edit changes.";
            fill(changes, el("h2", { id: "h-changes", text: "Changes from the live version" }), el("p", { class: "note", text: later }));
            fill(impact, el("h2", { id: "h-impact", text: "Impact" }), el("p", { class: "note", text: later }));
            fill(tests, el("h2", { id: "h-tests", text: "Policy tests" }), el("p", { class: "note", text: "The tests run once the policy loads." }));
        } else {
            fill(changes, el("h2", { id: "h-changes", text: "Changes from the live version" }), structuredDiff(r.diff));
            showImpact(r.impact);
            showTests(r.tests);
        }
        saveButton.disabled = !canSave();
    }

    function edited() {
        drawGutter();
        fill(saveProblem);
        clearTimeout(state.timer);
        state.seq++;
        state.result = null;
        saveButton.disabled = true;
        checkStatus.textContent = "Edited: checking shortly…";
        state.timer = setTimeout(check, CHECK_DELAY_MS);
    }

    async function save() {
        saveButton.disabled = true;
        fill(saveProblem);
        const answer = await call("/policy", {
            method: "PUT",
            body: text.value,
            type: "application/yaml",
            ifMatch: state.base,
            query: { comment: comment.value.trim(), strip_roles: state.strip ? "true" : undefined },
        });
        if (answer.ok) {
            state.base = answer.etag || answer.data.version;
            state.baseText = text.value;
            state.strip = false;
            comment.value = "";
            showVersion();
            say(`Saved: version ${state.base} is live.`, "good");
            return check();
        }
        if (answer.status === 412) return showConflict();
        const p = answer.problem;
        if (answer.status === 422 && p.errors) showIssues(p.errors, p.warnings || []);
        if (answer.status === 409 && p.roles) {
            const held = p.roles.map((r) => `${r.role} (held by ${r.users})`).join(", ");
            const strip = el("input", { type: "checkbox", id: "strip-roles" });
            strip.addEventListener("change", () => {
                state.strip = strip.checked;
            });
            fill(
                saveProblem,
                el(
                    "div",
                    { class: "problem", role: "alert" },
                    el("p", { text: `This edit removes roles users still hold: ${held}.` }),
                    el("div", { class: "check-field" }, strip, el("label", { for: "strip-roles", text: "Take these roles from their users when saving" })),
                ),
            );
        } else fill(saveProblem, problemBox(p));
        saveButton.disabled = !canSave();
    }

    async function showConflict() {
        const latest = await call("/policy", { accept: "application/yaml" });
        if (!latest.ok) return fill(saveProblem, problemBox(latest.problem));
        const diff = await call("/policy/diff", { query: { from: state.base, to: latest.etag } });
        const reapply = el("button", { id: "reapply", type: "button", text: `Reapply my edit on version ${latest.etag}` });
        const discard = el("button", { id: "discard", type: "button", class: "secondary", text: `Discard my edit and load version ${latest.etag}` });
        reapply.addEventListener("click", () => {
            const merged = merge3(state.baseText, text.value, latest.text);
            adopt(latest, merged.text);
            say(
                merged.conflicts
                    ? `Your edit overlaps the other change in ${merged.conflicts} place(s): resolve the marked lines, then save.`
                    : `Your edit was reapplied on version ${latest.etag}: check the preview, then save.`,
                merged.conflicts ? "bad" : "good",
            );
        });
        discard.addEventListener("click", () => {
            adopt(latest, latest.text);
            say(`Version ${latest.etag} loaded.`);
        });
        conflict.hidden = false;
        fill(
            conflict,
            el("h2", { id: "h-conflict", text: "Someone else saved the policy meanwhile" }),
            el("p", {
                text: `You edited version ${state.base}; version ${latest.etag} is live now. Nothing of yours was saved. This is what changed:`,
            }),
            diff.ok ? structuredDiff(diff.data) : problemBox(diff.problem),
            textDiff(state.baseText, latest.text, `Version ${state.base} → ${latest.etag}`),
            el("div", { class: "buttons" }, reapply, discard),
        );
        conflict.setAttribute("tabindex", "-1");
        conflict.focus();
    }

    function adopt(latest, newText) {
        state.base = latest.etag;
        state.baseText = latest.text;
        text.value = newText;
        conflict.hidden = true;
        fill(conflict);
        showVersion();
        edited();
    }

    text.addEventListener("input", edited);
    text.addEventListener("scroll", () => {
        gutter.scrollTop = text.scrollTop;
    });
    saveButton.addEventListener("click", save);

    if (canWrite) {
        fill(saveArea, field("Comment (stored with the version)", comment), saveButton, saveProblem);
    } else {
        fill(saveArea, el("p", { class: "note", text: "Read only: saving needs the policies:write scope. You can still edit here to preview a change." }));
    }
    showVersion();
    fill(
        main,
        el("h1", { text: title }),
        versionLine,
        conflict,
        el("label", { for: "policy-text", class: "editor-label", text: "Policy (YAML)" }),
        el("div", { class: "editor" }, gutter, text),
        checkStatus,
        problems,
        saveArea,
        changes,
        impact,
        tests,
    );
    drawGutter();
    check();
}
