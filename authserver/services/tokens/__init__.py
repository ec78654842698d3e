"""The token lifecycle, in one place: issue, rotate (the atomic claim), reuse detection and
every kind of revocation. Grants, the revocation and introspection endpoints, resource
routes, the users service and the CLI all go through here; ``oauth2/`` only adapts
Authlib's hooks to these functions and never commits.

- ``refresh``: refresh-token families (SPEC §6): ``issue`` at login, ``find_for_refresh``
  and ``rotate`` on each use, ``reuse_detected`` when a used token comes back.
- ``revocation``: ``revoke_access(jti, exp)``, ``revoke_refresh``, ``revoke_family``,
  ``revoke_user_families``, ``revoke_client_families``: the one door for ending tokens.
  ``is_revoked(jti)`` reads the live state (:mod:`authserver.live`), which resource routes
  and introspection decide by.
- ``owners``: the user a grant issues tokens for (:class:`~owners.Owner`: id, username,
  roles), read with one statement.
"""

from authserver.services.tokens.refresh import (
    add_to_family,
    claim,
    find,
    find_for_refresh,
    is_active,
    is_usable,
    issue,
    reuse_detected,
    rotate,
    start_family,
    unused_child,
    usable_for_refresh,
)
from authserver.services.tokens.revocation import (
    is_revoked,
    revoke_access,
    revoke_client_families,
    revoke_family,
    revoke_refresh,
    revoke_user_families,
)

__all__ = [
    "add_to_family",
    "claim",
    "find",
    "find_for_refresh",
    "is_active",
    "is_revoked",
    "is_usable",
    "issue",
    "reuse_detected",
    "revoke_access",
    "revoke_client_families",
    "revoke_family",
    "revoke_refresh",
    "revoke_user_families",
    "rotate",
    "start_family",
    "unused_child",
    "usable_for_refresh",
]
