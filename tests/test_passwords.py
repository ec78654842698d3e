"""Tests for authserver.security.passwords: argon2id hashing, dummy verify, rehash detection."""

import statistics
import time

import pytest
from argon2 import PasswordHasher

from authserver.security.passwords import Passwords

CHEAP = {"time_cost": 1, "memory_cost": 8, "parallelism": 1}


@pytest.fixture
def passwords() -> Passwords:
    return Passwords(**CHEAP)


def test_hash_uses_argon2id_with_given_parameters(passwords: Passwords) -> None:
    hashed = passwords.hash("correct horse")
    assert hashed.startswith("$argon2id$v=19$m=8,t=1,p=1$")


def test_default_parameters_are_owasp_argon2id() -> None:
    assert Passwords().hash("x").startswith("$argon2id$v=19$m=19456,t=2,p=1$")


def test_hash_is_salted(passwords: Passwords) -> None:
    assert passwords.hash("same") != passwords.hash("same")


def test_verify_roundtrip(passwords: Passwords) -> None:
    assert passwords.verify(passwords.hash("correct horse"), "correct horse") is True


def test_verify_non_ascii_password(passwords: Passwords) -> None:
    assert passwords.verify(passwords.hash("pässwörd 🔑"), "pässwörd 🔑") is True


def test_verify_wrong_password_is_false(passwords: Passwords) -> None:
    assert passwords.verify(passwords.hash("correct horse"), "battery staple") is False


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "garbage",
        "$argon2id$",
        "$argon2id$v=19$m=8,t=1,p=1$bm90LWJhc2U2NA$@@@@",
        "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",  # bcrypt
        "pbkdf2_sha256$600000$salt$hash",
    ],
)
def test_verify_malformed_or_foreign_hash_is_false(passwords: Passwords, stored: str) -> None:
    assert passwords.verify(stored, "anything") is False


def test_verify_none_is_false_and_runs_a_dummy_verify(
    passwords: Passwords, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = PasswordHasher.verify

    def spy(self: PasswordHasher, stored: str, password: str) -> bool:
        calls.append(stored)
        return real(self, stored, password)

    monkeypatch.setattr(PasswordHasher, "verify", spy)
    assert passwords.verify(None, "anything") is False
    assert len(calls) == 1 and calls[0].startswith("$argon2id$v=19$m=8,t=1,p=1$")


def test_unknown_user_costs_the_same_as_a_wrong_password() -> None:
    """Ratio of medians at the default (OWASP) parameters, interleaved to cancel drift."""
    passwords = Passwords()
    stored = passwords.hash("correct horse")
    unknown, wrong = [], []
    passwords.verify(None, "warm up")
    for _ in range(15):
        start = time.perf_counter()
        assert passwords.verify(None, "battery staple") is False
        unknown.append(time.perf_counter() - start)
        start = time.perf_counter()
        assert passwords.verify(stored, "battery staple") is False
        wrong.append(time.perf_counter() - start)
    ratio = statistics.median(unknown) / statistics.median(wrong)
    assert 0.67 <= ratio <= 1.5, ratio


def test_dummy_verify_returns_none_and_never_raises(passwords: Passwords) -> None:
    assert passwords.dummy_verify("anything") is None


@pytest.mark.parametrize(
    "other",
    [
        {"time_cost": 2, "memory_cost": 8, "parallelism": 1},
        {"time_cost": 1, "memory_cost": 16, "parallelism": 1},
        {"time_cost": 1, "memory_cost": 16, "parallelism": 2},
    ],
)
def test_needs_rehash_when_parameters_differ(passwords: Passwords, other: dict) -> None:
    old = Passwords(**other).hash("pw")
    assert passwords.needs_rehash(old) is True
    assert passwords.verify(old, "pw") is True  # old hashes still verify until rehashed


def test_needs_rehash_false_for_current_parameters(passwords: Passwords) -> None:
    assert passwords.needs_rehash(passwords.hash("pw")) is False


def test_needs_rehash_true_for_a_hash_that_is_not_ours(passwords: Passwords) -> None:
    assert passwords.needs_rehash("garbage") is True


def test_invalid_parameters_fail_at_construction() -> None:
    with pytest.raises(ValueError, match="argon2 parameters"):
        Passwords(time_cost=1, memory_cost=1, parallelism=1)
