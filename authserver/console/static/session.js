// The signed-in session: tokens live in this module's memory only (never localStorage,
// sessionStorage or cookies), so closing or reloading the tab ends the session. The access
// token is refreshed before it expires; signing out revokes the refresh token (RFC 7009).

export const CLIENT_ID = "authserver-console";
const TOKEN_URL = "../oauth/token";
const REVOKE_URL = "../oauth/revoke";

let current = null; // {username, access, refresh, scopes: Set, expiresAt}
let timer = null;
const listeners = new Set();

export function onChange(listener) {
    listeners.add(listener);
}

function changed(reason) {
    for (const listener of listeners) listener(reason);
}

export function signedIn() {
    return current !== null;
}

export function username() {
    return current ? current.username : null;
}

export function scopes() {
    return current ? [...current.scopes] : [];
}

/** Whether the session's token carries every one of ``needed``. */
export function has(...needed) {
    return current !== null && needed.every((scope) => current.scopes.has(scope));
}

export function accessToken() {
    return current ? current.access : null;
}

async function tokenRequest(params) {
    const body = new URLSearchParams({ ...params, client_id: CLIENT_ID });
    let response;
    try {
        response = await fetch(TOKEN_URL, { method: "POST", body, cache: "no-store" });
    } catch {
        return { ok: false, error: "network", message: "The server cannot be reached." };
    }
    const data = await response.json().catch(() => ({}));
    if (response.ok) return { ok: true, data };
    return { ok: false, status: response.status, error: data.error, message: explainError(response.status, data) };
}

function explainError(status, data) {
    if (status === 429) return "Too many attempts from this address: wait a minute and try again.";
    switch (data.error) {
        case "invalid_grant":
            return "Wrong username or password (or the account is disabled or locked for a while).";
        case "invalid_scope":
            return "This account holds no admin scope: the console has nothing to show it.";
        case "invalid_client":
        case "unauthorized_client":
            return "The console's client is missing or disabled: run `authserver db upgrade`.";
        default:
            return data.error_description || data.error || `Sign-in failed (HTTP ${status}).`;
    }
}

function store(name, data) {
    const seconds = Number(data.expires_in) || 300;
    current = {
        username: name,
        access: data.access_token,
        refresh: data.refresh_token || null,
        scopes: new Set(String(data.scope || "").split(" ").filter(Boolean)),
        expiresAt: Date.now() + seconds * 1000,
    };
    schedule(seconds);
}

function schedule(seconds) {
    clearTimeout(timer);
    if (!current || !current.refresh) return;
    // Refresh with a margin: a minute early for long-lived tokens, at half-life for short ones.
    const lead = Math.min(60, seconds / 2);
    timer = setTimeout(() => refresh(), Math.max(1, seconds - lead) * 1000);
}

/** Password grant; resolves to {ok} or {ok: false, message}. */
export async function signIn(name, password) {
    const answer = await tokenRequest({ grant_type: "password", username: name, password });
    if (!answer.ok) return answer;
    store(name, answer.data);
    changed("signin");
    return { ok: true };
}

let refreshing = null;

/** Refresh the tokens (rotation: the new refresh token replaces the old one). Concurrent
 * callers share one request: presenting the same refresh token twice is reuse, which would
 * end the whole session. */
export function refresh() {
    if (!current || !current.refresh) return Promise.resolve(false);
    if (refreshing) return refreshing;
    const session = current;
    refreshing = tokenRequest({ grant_type: "refresh_token", refresh_token: session.refresh }).then(
        (answer) => {
            refreshing = null;
            if (current !== session) return false;
            if (!answer.ok) {
                end("expired");
                return false;
            }
            const before = [...session.scopes].sort().join(" ");
            store(session.username, answer.data);
            // A refresh grants what the user's roles allow now: pages may come or go.
            changed([...current.scopes].sort().join(" ") === before ? "refresh" : "scopes");
            return true;
        },
    );
    return refreshing;
}

function end(reason) {
    clearTimeout(timer);
    current = null;
    changed(reason);
}

/** Revoke the refresh token (which ends its whole family) and the access token, then forget
 * both. Resolves once the server has answered, or failed to. */
export async function signOut() {
    const session = current;
    end("signout");
    if (!session) return;
    const revoke = (token, hint) =>
        fetch(REVOKE_URL, {
            method: "POST",
            body: new URLSearchParams({ token, token_type_hint: hint, client_id: CLIENT_ID }),
            cache: "no-store",
        }).catch(() => null);
    await Promise.all([
        session.refresh ? revoke(session.refresh, "refresh_token") : null,
        revoke(session.access, "access_token"),
    ]);
}
