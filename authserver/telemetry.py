"""The Prometheus metric objects: defined once, here, below every layer that counts.

Services count lockouts, reuse detections and the policy version; ``web/metrics.py`` counts
requests and serves ``/metrics``. The objects are module-level by design: prometheus-client's
registry is global (in multiprocess mode each worker writes its samples to a folder, see
``web/metrics.py``). Names and labels are part of the operator's contract: dashboards and
alerts read them.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

TOKEN_REQUESTS = Counter(
    "authserver_token_requests",
    "Token endpoint requests by grant type and outcome (success or the RFC 6749 error).",
    ["grant_type", "outcome"],
)
REQUEST_SECONDS = Histogram(
    "authserver_request_duration_seconds",
    "Request latency by route and method.",
    ["route", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
LOCKOUTS = Counter("authserver_lockouts", "Accounts locked after repeated failed logins.")
REUSE_DETECTIONS = Counter(
    "authserver_refresh_reuse_detections", "Refresh-token reuse detected (family revoked)."
)
POLICY_VERSION = Gauge(
    "authserver_policy_version", "Live policy version this process uses.", multiprocess_mode="max"
)
LIVE_FEED_UP = Gauge(
    "authserver_live_feed_up",
    "1 while this process's live-authorization change feed confirms it has every change; "
    "0 while it decides by asking the database instead (slower, still within the bound).",
    multiprocess_mode="livemin",
)
LIVE_FALLBACK_SYNCS = Counter(
    "authserver_live_fallback_syncs",
    "Protected requests that synced the live state from the database on the spot because "
    "the change feed had not confirmed it recently (feed lost, or a process's first use).",
)
LIVE_ENTRIES = Gauge(
    "authserver_live_entries",
    "Entries in this process's live state (revoked jtis, user and client cut-offs).",
    multiprocess_mode="livemax",
)
