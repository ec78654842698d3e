// The admin API client: a bearer token on every request, problem details (RFC 9457) on
// failure. A 401 for an expired token is retried once after a refresh.

import * as session from "./session.js";

const ROOT = "../admin";

/**
 * Call the admin API. Resolves to {ok, status, data, text, etag, problem}; never rejects.
 * options: method, query (object), body (string or object: JSON), type (Content-Type),
 * accept, ifMatch (a version number).
 */
export async function call(path, options = {}) {
    let answer = await once(path, options);
    if (answer.status === 401 && session.signedIn() && (await session.refresh())) {
        answer = await once(path, options);
    }
    return answer;
}

async function once(path, { method = "GET", query, body, type, accept, ifMatch } = {}) {
    const url = new URL(ROOT + path, document.baseURI);
    for (const [key, value] of Object.entries(query || {})) {
        if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
    }
    const headers = { Authorization: `Bearer ${session.accessToken()}` };
    if (accept) headers.Accept = accept;
    if (ifMatch !== undefined) headers["If-Match"] = `"${ifMatch}"`;
    let payload = body;
    if (body !== undefined && typeof body !== "string") {
        payload = JSON.stringify(body);
        headers["Content-Type"] = "application/json";
    } else if (body !== undefined) {
        headers["Content-Type"] = type || "application/yaml";
    }
    let response;
    try {
        response = await fetch(url, { method, headers, body: payload, cache: "no-store" });
    } catch {
        const problem = { title: "Network error", detail: "The server cannot be reached." };
        return { ok: false, status: 0, problem, data: null };
    }
    const text = await response.text();
    const kind = response.headers.get("Content-Type") || "";
    let data = null;
    if (kind.includes("json")) {
        try {
            data = JSON.parse(text);
        } catch {
            data = null;
        }
    }
    const etag = (response.headers.get("ETag") || "").replace(/"/g, "");
    const answer = { ok: response.ok, status: response.status, data, text, etag: etag ? Number(etag) : null };
    if (!response.ok) answer.problem = data || { title: `HTTP ${response.status}`, detail: text.slice(0, 200) };
    return answer;
}
