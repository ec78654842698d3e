"""SHA-256 digests for high-entropy secrets: client secrets and refresh tokens.

A slow hash buys nothing for 256-bit random values and would cap refresh throughput;
comparisons run in constant time so a digest can't be guessed byte by byte.
"""

import hashlib
import hmac
import secrets


def new_secret(nbytes: int = 32) -> str:
    """A URL-safe random secret with ``nbytes`` of entropy (256 bits by default)."""
    return secrets.token_urlsafe(nbytes)


def digest(value: str) -> str:
    """Hex SHA-256 of ``value``: what we store instead of the secret."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def digest_matches(stored: str | None, value: str | None) -> bool:
    """Constant-time check of ``value`` against a stored digest."""
    if not stored or value is None:
        return False
    return hmac.compare_digest(stored, digest(value))
