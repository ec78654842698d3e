"""LiveState, the pure decision of SPEC §12: a table of cases, then applying and pruning."""

from __future__ import annotations

import threading

import pytest

from authserver.live.state import Change, LiveState, Refused
from authserver.policy import load_policy_yaml

POLICY = """
version: 1
scopes:
  documents:read: Read documents
  documents:write: Write documents
  users:read: Read users
roles:
  viewer:
    scopes: [documents:read]
  editor:
    inherits: [viewer]
    scopes: [documents:write]
  admin:
    scopes: [users:read]
"""
#: The policy after an edit that takes documents:write from editor.
NARROWER = POLICY.replace("    scopes: [documents:write]", "    scopes: []")

T = 1_800_000_000  # a fixed "now", in whole seconds


def policy(source: str = POLICY):
    result = load_policy_yaml(source)
    assert result.policy is not None, result.errors
    return result.policy


def claims(**overrides) -> dict:
    base = {
        "jti": "j1",
        "sub": "7",
        "client_id": "app",
        "iat": T,
        "exp": T + 900,
        "scope": "documents:read documents:write",
        "roles": ["editor"],
    }
    return {**base, **overrides}


def state_with(*changes: Change, source: str = POLICY) -> LiveState:
    state = LiveState()
    state.set_policy(1, policy(source))
    state.apply(changes)
    return state


def change(seq: int, kind: str, key: str, at: float = T, until: float | None = T + 930):
    return Change(seq, kind, key, at, until)


BOTH = frozenset({"documents:read", "documents:write"})
READ = frozenset({"documents:read"})

CASES = [
    # (name, changes, claims overrides, expected)
    ("nothing changed", [], {}, BOTH),
    ("jti revoked", [change(1, "jti", "j1")], {}, Refused("revoked")),
    ("another jti revoked", [change(1, "jti", "j2")], {}, BOTH),
    ("user cut off after iat", [change(1, "user", "7", at=T + 5)], {}, Refused("user cut off")),
    (
        "user cut off in iat's second",
        [change(1, "user", "7", at=T + 0.9)],
        {},
        Refused("user cut off"),
    ),
    ("token issued after the cut-off", [change(1, "user", "7", at=T - 1)], {}, BOTH),
    ("another user cut off", [change(1, "user", "8", at=T + 5)], {}, BOTH),
    ("sub given as a number", [change(1, "user", "7", at=T)], {"sub": 7}, Refused("user cut off")),
    ("client cut off", [change(1, "client", "app", at=T)], {}, Refused("client cut off")),
    ("client cut off before iat", [change(1, "client", "app", at=T - 2)], {}, BOTH),
    ("role grants less than the token says", [], {"roles": ["viewer"]}, READ),
    ("role the policy no longer has", [], {"roles": ["ghost"]}, frozenset()),
    ("no roles claim", [], {"roles": None}, frozenset()),
    ("token asked for less", [], {"scope": "documents:read"}, READ),
    (
        "never wider than the token",
        [],
        {"scope": "documents:read", "roles": ["admin", "editor"]},
        READ,
    ),
]


@pytest.mark.parametrize(
    ("changes", "overrides", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_decide(changes, overrides, expected) -> None:
    assert state_with(*changes).decide(claims(**overrides)) == expected


def test_a_policy_edit_narrows_without_refusing() -> None:
    state = state_with()
    state.set_policy(2, policy(NARROWER))

    assert state.decide(claims()) == READ


def test_client_scopes_now_narrow_and_a_client_without_restriction_does_not() -> None:
    state = state_with(change(1, "clients", "app"), change(2, "clients", "other"))
    assert state.clients_changed == {"app": T + 930, "other": T + 930}
    state.set_client_scopes({"app": "documents:read", "other": None})

    assert state.decide(claims()) == READ
    assert state.decide(claims(client_id="other")) == BOTH
    assert state.clients_changed == {}


def test_policy_rows_ask_for_a_reload() -> None:
    state = state_with(change(1, "policy", "2", until=None))
    assert state.policy_changed
    state.set_policy(2, policy(NARROWER))
    assert not state.policy_changed


def test_last_seq_follows_the_log_but_not_own_rows_applied_early() -> None:
    state = state_with(change(3, "jti", "a"))
    state.apply([change(9, "jti", "b")], advance=False)

    assert state.last_seq == 3
    assert {"a", "b"} <= state.revoked.keys()


def test_a_later_cut_off_wins_and_an_earlier_one_read_late_does_not_undo_it() -> None:
    state = state_with(change(1, "user", "7", at=T + 10), change(2, "user", "7", at=T))

    assert state.user_cutoffs["7"][0] == T + 10


def test_prune_drops_entries_whose_until_passed() -> None:
    state = state_with(
        change(1, "jti", "old", until=T),
        change(2, "jti", "new", until=T + 100),
        change(3, "user", "7", until=T),
        change(4, "client", "app", until=T + 100),
    )

    assert state.prune(T + 1) == 2
    assert list(state.revoked) == ["new"]
    assert state.user_cutoffs == {}
    assert list(state.client_cutoffs) == ["app"]


def test_prune_keeps_an_entry_whose_until_was_pushed_later_and_drops_it_then() -> None:
    state = state_with(change(1, "jti", "j", until=T), change(2, "jti", "j", until=T + 50))
    state.apply([change(3, "user", "7", at=T - 10, until=T), change(4, "user", "7", at=T)])

    assert state.prune(T + 1) == 0  # both were extended: their first expiry is not theirs
    assert "j" in state.revoked and "7" in state.user_cutoffs
    assert state.prune(T + 50) == 1
    assert state.prune(T + 50) == 0  # taken out of the index: nothing to walk again
    assert state.revoked == {} and "7" in state.user_cutoffs  # its later cut-off: T + 930


def test_prune_walks_only_what_expired() -> None:
    state = state_with(*(change(n, "jti", f"j{n}", until=T + n) for n in range(1, 10_001)))

    assert state.prune(T + 10) == 10
    assert len(state.revoked) == 9_990
    # The index holds only what is yet to expire: pruning again finds nothing to look at.
    assert sum(len(keys) for keys in state._expiry["revoked"].buckets.values()) == 9_990
    assert state.prune(T + 10) == 0


def test_confirm_only_moves_forward() -> None:
    state = LiveState()
    state.confirm(5.0)
    state.confirm(3.0)
    assert state.confirmed_at == 5.0


def test_decisions_while_another_thread_applies_and_prunes() -> None:
    state = state_with()
    stop = threading.Event()

    def writer() -> None:
        seq = 0
        while not stop.is_set():
            seq += 1
            state.apply([change(seq, "jti", f"j{seq}", until=T + seq % 7)])
            if seq % 50 == 0:
                state.prune(T + 3)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for _ in range(20_000):
            assert state.decide(claims(jti="unrelated")) == BOTH
    finally:
        stop.set()
        thread.join()
