"""The client a grant issues tokens to: the token endpoint's client lookup, the ``clients``
row read on every request with one Core statement built once, kept as a snapshot of its
columns (as :mod:`owners` reads the user).

Every grant authenticates its client, and the ORM's way (build a ``select(Client)``, run
it through the session, load an identity-mapped object) cost about twice the statement
itself, on a path where a login's code runs with the caches argon2 has just emptied.
Nothing is kept between requests: the row is read fresh each time, as before, so a
client disabled, deleted or given other grant types is seen by the next request. The
record is :class:`~authserver.live.clients.ClientRecord` (the model's own Authlib methods
over the columns read: the secret check stays a constant-time compare of SHA-256
digests); the client's roles, which only the client_credentials grant reads, are read
when asked for.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, bindparam, select

from authserver.extensions import db
from authserver.live.clients import ClientRecord
from authserver.models import Client
from authserver.models.client import ClientRole
from authserver.services import clients

_CLIENTS = cast(Table, Client.__table__)  # declared as a FromClause
_ROLES = cast(Table, ClientRole.__table__)
_CLIENT = select(_CLIENTS).where(_CLIENTS.c.client_id == bindparam("client_id"))
_ROLES_OF = (
    select(_ROLES.c.role).where(_ROLES.c.client_id == bindparam("id")).order_by(_ROLES.c.role)
)


class TokenClient(ClientRecord):
    """A client as the token endpoint read it, with its roles read on demand."""

    @property
    def roles(self) -> list[str]:
        """The policy roles the client holds now (its client_credentials grant, SPEC §16)."""
        return list(db.session.execute(_ROLES_OF, {"id": self.id}).scalars())


def find(client_id: str) -> TokenClient | None:
    """The enabled client ``client_id``, as :func:`authserver.services.clients.find`
    answers (a disabled or unknown client, or an id no client can have: None)."""
    if not isinstance(client_id, str) or not clients.CLIENT_ID.fullmatch(client_id):
        return None
    row = db.session.execute(_CLIENT, {"client_id": client_id}).first()
    if row is None or row.disabled:
        return None
    return TokenClient(cast(Client, row))  # a Row: the same attribute names as the model
