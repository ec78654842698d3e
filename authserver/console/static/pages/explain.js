// Explain: user, scopes and client -> the roles and inheritance path that grant each scope,
// or the first obstacle (the token endpoint's own decision).

import { call } from "../api.js";
import { el, field, fill, problemBox } from "../dom.js";

export const title = "Explain";

const REASONS = {
    client_disabled: "the client is disabled: it cannot authenticate",
    client_grant_type: "the client may not use the password grant",
    user_disabled: "the user is disabled: the token endpoint refuses the login",
    undeclared: "the policy does not declare this scope: the whole request is invalid_scope",
    no_role_grants: "no role of the user grants it",
    client_not_allowed: "a role grants it, but the client may not ask for it",
    request_invalid: "it alone would be granted, but another requested scope makes the request invalid",
};

export async function show(main) {
    const user = el("input", { id: "explain-user", type: "text", required: true, autocomplete: "off" });
    const scope = el("input", { id: "explain-scope", type: "text", autocomplete: "off", size: 36 });
    const client = el("input", { id: "explain-client", type: "text", autocomplete: "off" });
    const result = el("section", { id: "explain-result", "aria-live": "polite" });

    async function explain(event) {
        event.preventDefault();
        const answer = await call("/explain", {
            query: { user: user.value.trim(), scope: scope.value.trim(), client: client.value.trim() },
        });
        if (!answer.ok) return fill(result, problemBox(answer.problem));
        const d = answer.data;
        const verdict = d.outcome === "granted" ? `Granted: ${d.granted || "(nothing)"}` : `Refused: ${d.outcome}${d.error ? `: ${d.error}` : ""}`;
        fill(
            result,
            el("h2", { text: `${d.user} (roles: ${d.user_roles.join(", ") || "none"})${d.client ? ` with client ${d.client}` : ""}` }),
            el("p", { id: "explain-verdict", class: d.outcome === "granted" ? "good" : "bad", text: verdict }),
            el(
                "ul",
                { class: "explain" },
                Object.entries(d.scopes).map(([name, s]) =>
                    el(
                        "li",
                        { class: s.granted ? "granted" : "refused" },
                        el("strong", { text: `${s.granted ? "✓" : "✗"} ${name}` }),
                        s.granted ? "" : `: ${REASONS[s.reason] || s.reason}`,
                        s.roles.length
                            ? el(
                                  "ul",
                                  {},
                                  s.roles.map((r) =>
                                      el("li", { text: `${r.path.join(" → ")}${r.via ? ` (via ${r.via})` : ""}` }),
                                  ),
                              )
                            : null,
                    ),
                ),
            ),
        );
    }

    fill(
        main,
        el("h1", { text: title }),
        el("p", { text: "Which roles give a user a scope, through which inheritance, or why not." }),
        el(
            "form",
            { class: "inline", "aria-label": "Explain a grant", on: { submit: explain } },
            field("User", user),
            field("Scopes", scope, "space-separated; empty: every scope"),
            field("Client id", client, "optional"),
            el("button", { type: "submit", text: "Explain" }),
        ),
        result,
    );
}
