"""The per-process cache of verified access tokens never outlives what it verified.

Only a signature check is remembered: expiry is re-checked at each use, revocation is never
cached, and a changed key file (a key removed after a compromise) empties the cache.
"""

from __future__ import annotations

import os
import time

from authserver.security.access_tokens import TokenVerifier
from authserver.security.keys import SigningKeys
from authserver.services import tokens
from tests.support.http import bearer
from tests.support.tokens import make_claims, private_key, sign, token_claims


def test_revocation_after_a_cached_success_is_honoured(client, make_token):
    token = make_token()["access_token"]
    assert client.get("/api/me", headers=bearer(token)).status_code == 200  # now cached
    tokens.revoke_access(token_claims(token)["jti"], int(time.time()) + 60)
    response = client.get("/api/me", headers=bearer(token))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_cached_token_is_refused_once_it_expires(tmp_path):
    path = tmp_path / "keys.json"
    keys = SigningKeys.load_or_create(path)
    verifier = TokenVerifier(keys, "https://issuer", "https://issuer")
    claims = make_claims("https://issuer", exp=int(time.time()) + 2)
    token = sign(claims, private_key(path), kid=keys.signing_kid, typ="at+jwt")
    assert verifier.verify(token) is not None
    time.sleep(2.1)
    assert verifier.verify(token) is None


def test_a_key_removed_from_the_file_stops_its_cached_tokens(tmp_path):
    path = tmp_path / "keys.json"
    keys = SigningKeys.load_or_create(path)
    verifier = TokenVerifier(keys, "https://issuer", "https://issuer")
    token = sign(
        make_claims("https://issuer"), private_key(path), kid=keys.signing_kid, typ="at+jwt"
    )
    assert verifier.verify(token) is not None
    # The operator replaces a compromised key: a new file without the old key, renamed
    # over it (a deleted file is no longer replaced by the process: SPEC §13).
    SigningKeys.load_or_create(tmp_path / "new.json")
    os.replace(tmp_path / "new.json", path)
    # A change made elsewhere is followed within TokenVerifier.STAT_EVERY (the verifier
    # looks at the file at most that often; SPEC §12's bound is 1 s).
    deadline = time.monotonic() + 1.0
    while verifier.verify(token) is not None:
        assert time.monotonic() < deadline, "the removed key's token is still accepted"
        time.sleep(0.01)


def test_a_key_this_process_removes_stops_its_tokens_at_once(tmp_path):
    path = tmp_path / "keys.json"
    keys = SigningKeys.load_or_create(path)
    old_kid = keys.signing_kid
    verifier = TokenVerifier(keys, "https://issuer", "https://issuer")
    verifier.STAT_EVERY = 3600  # only this process's own write can make it look again
    token = sign(make_claims("https://issuer"), private_key(path), kid=old_kid, typ="at+jwt")
    assert verifier.verify(token) is not None  # cached, and the file just looked at

    SigningKeys.rotate(path)  # as `keys rotate --now` then `keys remove` in this process
    SigningKeys.remove(path, old_kid, retain_seconds=900)

    assert verifier.verify(token) is None  # no wait: this process wrote the file
