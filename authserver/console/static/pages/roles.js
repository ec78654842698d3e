// Roles: the inheritance graph drawn as SVG (DOM APIs only), and each role's effective scopes.

import { call } from "../api.js";
import { el, fill, problemBox, svg, table } from "../dom.js";

export const title = "Roles";

const NODE_H = 40;
const GAP_X = 36;
const GAP_Y = 70;
const CHAR_W = 9.5;

/** Layers: a role sits one above the highest role it inherits; roles inheriting nothing at the bottom. */
function layers(roles) {
    const byName = new Map(roles.map((r) => [r.name, r]));
    const depth = new Map();
    const visit = (name, seen = new Set()) => {
        if (depth.has(name)) return depth.get(name);
        if (seen.has(name)) return 0; // never in a valid policy; do not loop
        seen.add(name);
        const parents = (byName.get(name) || { inherits: [] }).inherits.filter((p) => byName.has(p));
        const d = parents.length ? 1 + Math.max(...parents.map((p) => visit(p, seen))) : 0;
        depth.set(name, d);
        return d;
    };
    roles.forEach((r) => visit(r.name));
    const rows = [];
    for (const r of roles) (rows[depth.get(r.name)] ||= []).push(r);
    return rows.reverse(); // top row: the roles that inherit the most
}

function graph(roles, select) {
    const rows = layers(roles);
    const place = new Map();
    const widths = rows.map((row) => row.reduce((sum, r) => sum + r.name.length * CHAR_W + 28 + GAP_X, -GAP_X));
    const width = Math.max(200, ...widths) + 40;
    rows.forEach((row, y) => {
        let x = (width - widths[y]) / 2;
        for (const r of row) {
            const w = r.name.length * CHAR_W + 28;
            place.set(r.name, { x, y: 20 + y * (NODE_H + GAP_Y), w });
            x += w + GAP_X;
        }
    });
    const height = 40 + rows.length * NODE_H + (rows.length - 1) * GAP_Y;
    const marker = svg(
        "marker",
        { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 8, markerHeight: 8, orient: "auto-start-reverse" },
        svg("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrowhead" }),
    );
    const edges = [];
    for (const r of roles) {
        const a = place.get(r.name);
        for (const parent of r.inherits) {
            const b = place.get(parent);
            if (!b) continue;
            edges.push(
                svg(
                    "line",
                    { class: "edge", x1: a.x + a.w / 2, y1: a.y + NODE_H, x2: b.x + b.w / 2, y2: b.y, "marker-end": "url(#arrow)" },
                    svg("title", { text: `${r.name} inherits ${parent}` }),
                ),
            );
        }
    }
    const nodes = roles.map((r) => {
        const p = place.get(r.name);
        const node = svg(
            "g",
            {
                class: "node",
                tabindex: 0,
                role: "button",
                "aria-label": `Role ${r.name}: ${r.effective_scopes.length} effective scopes`,
                "data-role": r.name,
                transform: `translate(${p.x} ${p.y})`,
            },
            svg("title", { text: r.description ? `${r.name}: ${r.description}` : r.name }),
            svg("rect", { width: p.w, height: NODE_H, rx: 6 }),
            svg("text", { x: p.w / 2, y: NODE_H / 2 + 5, "text-anchor": "middle", text: r.name }),
        );
        node.addEventListener("click", () => select(r.name));
        node.addEventListener("keydown", (event) => {
            if (event.key === "Enter" || event.key === " ") {
                event.preventDefault();
                select(r.name);
            }
        });
        return node;
    });
    return svg(
        "svg",
        {
            id: "role-graph",
            viewBox: `0 0 ${width} ${height}`,
            width,
            height,
            role: "group",
            "aria-label": "Role inheritance: an arrow points from a role to the role it inherits",
        },
        svg("defs", {}, marker),
        edges,
        nodes,
    );
}

export async function show(main) {
    const answer = await call("/roles");
    if (!answer.ok) return fill(main, el("h1", { text: title }), problemBox(answer.problem));
    const roles = answer.data.roles;
    const detail = el("section", { id: "role-detail", "aria-live": "polite" });
    const picture = graph(roles, (name) => select(name));

    function select(name) {
        const r = roles.find((x) => x.name === name);
        for (const node of picture.querySelectorAll("g.node")) {
            node.setAttribute("class", node.getAttribute("data-role") === name ? "node selected" : "node");
        }
        fill(
            detail,
            el("h2", { text: `Role ${r.name}` }),
            el("p", { class: "description", text: r.description || "(no description)" }),
            el(
                "dl",
                {},
                el("dt", { text: "Inherits" }),
                el("dd", { text: r.inherits.join(", ") || "nothing" }),
                el("dt", { text: "Inherited by" }),
                el("dd", { text: r.inherited_by.join(", ") || "no role" }),
                el("dt", { text: "Lists" }),
                el("dd", { text: r.scopes.join(" ") || "no scope" }),
                el("dt", { text: "Effective scopes" }),
                el("dd", {}, el("ul", { class: "scopes" }, r.effective_scopes.map((s) => el("li", { text: s })))),
            ),
        );
    }

    fill(
        main,
        el("h1", { text: title }),
        el("p", { text: `Live version ${answer.etag}. Select a role to see what it grants.` }),
        el("div", { class: "graph" }, picture),
        detail,
        table(
            "Every role and its effective scopes (inheritance and wildcards expanded)",
            ["Role", "Description", "Inherits", "Effective scopes"],
            roles.map((r) => [r.name, r.description || "", r.inherits.join(", "), r.effective_scopes.join(" ")]),
        ),
    );
    if (roles.length) select(roles[0].name);
}
