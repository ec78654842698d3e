"""User password hashing: argon2id (argon2-cffi) with constant-cost failures.

Defaults are OWASP's argon2id parameters (m=19456 KiB, t=2, p=1; SPEC §10). A login for an
unknown user, or a user without a password, runs a full argon2 verify against a dummy hash
made with the same parameters, so the answer time does not tell whether an account exists.
"""

import secrets

from argon2 import PasswordHasher, Type
from argon2.exceptions import Argon2Error, InvalidHashError


class Passwords:
    """Hash and verify user passwords; tell when a stored hash needs the current parameters."""

    def __init__(self, time_cost: int = 2, memory_cost: int = 19456, parallelism: int = 1) -> None:
        """Build the hasher and the dummy hash; bad parameters raise ValueError now, at start."""
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism, type=Type.ID
        )
        try:
            self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(32))
        except Argon2Error as exc:
            raise ValueError(
                f"invalid argon2 parameters (t={time_cost}, m={memory_cost} KiB, "
                f"p={parallelism}): {exc}"
            ) from None

    def hash(self, password: str) -> str:
        """An encoded argon2id hash (``$argon2id$v=19$m=...,t=...,p=...$salt$hash``)."""
        return self._hasher.hash(password)

    def verify(self, stored_hash: str | None, password: str) -> bool:
        """Whether ``password`` matches; False, never an exception, for a mismatch or a
        malformed hash. No hash (unknown user, no password) costs a dummy verify: False."""
        real = bool(stored_hash)  # one code path for both, so both cost the same
        matched: bool
        try:
            matched = self._hasher.verify(stored_hash or self._dummy_hash, password)
        except (Argon2Error, InvalidHashError):
            matched = False
        return matched and real

    def dummy_verify(self, password: str) -> None:
        """Spend the time of a real verify (for unknown users, locked accounts) and ignore it."""
        try:
            self._hasher.verify(self._dummy_hash, password)
        except Argon2Error:
            pass

    def needs_rehash(self, stored_hash: str) -> bool:
        """Whether the hash was made with other parameters (or is not ours): rehash it at
        the next successful login, the only time the plaintext is at hand."""
        try:
            return self._hasher.check_needs_rehash(stored_hash)
        except ValueError:  # InvalidHashError, or parameters argon2-cffi cannot read
            return True
