"""Benchmark the policy engine (SPEC §11): loading a large policy, and granting.

Run: ``.venv/bin/python bench/bench_policy.py``

1. ``load_policy_yaml`` on 1,000 roles, 10,000 scopes and inheritance chains 10 deep
   (median of 5; the target is well under 200 ms).
2. ``scopes_for_roles`` for the same three roles in policies of 10, 100 and 1,000 roles:
   the ratios should stay near 1, since the cost depends on the user's roles only.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from authserver.policy import load_policy_yaml  # noqa: E402

DEPTH = 10
SCOPES_PER_ROLE = 10
WILDCARD_EVERY = 10


def generate_policy(n_roles: int, n_scopes: int) -> str:
    """YAML for ``n_roles`` roles in chains ``DEPTH`` deep over ``n_scopes`` scopes.

    Scopes are ``resN:actM`` (100 per prefix); role i lists 10 scopes, inherits role i-1
    unless it starts a chain, and every 10th role also lists a ``resN:*`` wildcard.
    """
    lines = ["version: 1", "scopes:"]
    lines += [
        f"  res{i // 100}:act{i % 100}: Action {i % 100} on resource {i // 100}"
        for i in range(n_scopes)
    ]
    lines.append("roles:")
    for r in range(n_roles):
        lines += [f"  role{r}:", f"    description: Role number {r}"]
        if r % DEPTH:
            lines.append(f"    inherits: [role{r - 1}]")
        first = (r * SCOPES_PER_ROLE) % n_scopes
        scopes = [
            f"res{(first + k) // 100}:act{(first + k) % 100}" for k in range(SCOPES_PER_ROLE)
        ]
        if r % WILDCARD_EVERY == WILDCARD_EVERY - 1:
            scopes.append(f'"res{(r // WILDCARD_EVERY) % (n_scopes // 100 or 1)}:*"')
        lines.append(f"    scopes: [{', '.join(scopes)}]")
    return "\n".join(lines) + "\n"


def median_seconds(func, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_load() -> None:
    text = generate_policy(1000, 10_000)
    result = load_policy_yaml(text)
    assert result.ok, result.errors[:5]
    seconds = median_seconds(lambda: load_policy_yaml(text))
    print(
        f"load_policy_yaml: 1000 roles, 10000 scopes, chains {DEPTH} deep, "
        f"{len(text) // 1024} KiB: median of 5 = {seconds * 1000:.1f} ms"
    )


def bench_scopes_for_roles() -> None:
    user_roles = ["role3", "role9", "role7", "no-such-role"]
    calls = 100_000
    baseline = None
    for n_roles in (10, 100, 1000):
        policy = load_policy_yaml(generate_policy(n_roles, 10_000)).policy
        assert policy is not None
        seconds = median_seconds(
            lambda p=policy: [p.scopes_for_roles(user_roles) for _ in range(calls)]
        )
        per_call = seconds / calls * 1e6
        baseline = baseline or per_call
        print(
            f"scopes_for_roles: {n_roles:>5} roles in policy: {per_call:.2f} µs/call, "
            f"ratio to 10 roles = {per_call / baseline:.2f}"
        )


if __name__ == "__main__":
    bench_load()
    bench_scopes_for_roles()
