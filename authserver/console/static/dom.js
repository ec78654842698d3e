// DOM helpers. Data only ever reaches the page as text (text nodes, textContent,
// attribute values): never innerHTML. The page's CSP (require-trusted-types-for 'script')
// makes the browser refuse HTML strings anyway.

const SVG_NS = "http://www.w3.org/2000/svg";

function apply(node, props) {
    for (const [key, value] of Object.entries(props || {})) {
        if (value === undefined || value === null || value === false) continue;
        if (key === "class") node.setAttribute("class", value);
        else if (key === "text") node.textContent = String(value);
        else if (key === "on") {
            for (const [event, handler] of Object.entries(value)) node.addEventListener(event, handler);
        } else if (key === "value" || key === "checked" || key === "disabled" || key === "selected") {
            node[key] = value;
        } else node.setAttribute(key, value === true ? "" : String(value));
    }
}

function add(node, children) {
    for (const child of children.flat(Infinity)) {
        if (child === undefined || child === null || child === false) continue;
        node.append(child instanceof Node ? child : String(child));
    }
}

/** An HTML element: el("button", {class: "x", on: {click}}, "text", otherNode). */
export function el(tag, props, ...children) {
    const node = document.createElement(tag);
    apply(node, props);
    add(node, children);
    return node;
}

/** An SVG element, made with createElementNS. */
export function svg(tag, props, ...children) {
    const node = document.createElementNS(SVG_NS, tag);
    apply(node, props);
    add(node, children);
    return node;
}

/** Replace a node's children. */
export function fill(node, ...children) {
    node.replaceChildren();
    add(node, children);
    return node;
}

let fieldCount = 0;

/** A labelled form field: the label names the input (for= / id=). */
export function field(label, input, hint) {
    const id = input.id || `f${++fieldCount}`;
    input.id = id;
    const parts = [el("label", { for: id, text: label }), input];
    if (hint) {
        const hintId = `${id}-hint`;
        input.setAttribute("aria-describedby", hintId);
        parts.push(el("span", { class: "hint", id: hintId, text: hint }));
    }
    return el("div", { class: "field" }, parts);
}

/** A table from column headers and rows of cells (nodes or text). */
export function table(caption, headers, rows) {
    return el(
        "table",
        {},
        caption ? el("caption", { text: caption }) : null,
        el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col", text: h })))),
        el("tbody", {}, rows.map((cells) => el("tr", {}, cells.map((c) => el("td", {}, c))))),
    );
}

/** Announce a message in the page's status line (polite live region). */
export function say(message, kind = "info") {
    const status = document.getElementById("status");
    status.setAttribute("class", `status ${kind}`);
    status.textContent = message;
}

/** A short, readable date-time from an ISO string (kept in UTC, as the API gives it). */
export function when(iso) {
    if (!iso) return "";
    return String(iso).replace("T", " ").replace(/\.\d+/, "").replace(/(\+00:00|Z)$/, " UTC");
}

/** A box for an error (problem details) with role=alert so it is read at once. */
export function problemBox(problem) {
    const lines = [problem.detail || problem.title || "The request failed."];
    return el("div", { class: "problem", role: "alert" }, lines.map((l) => el("p", { text: l })));
}
