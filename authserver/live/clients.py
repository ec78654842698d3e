"""Client records held in process, for client authentication at introspection (SPEC §12:
in the steady state a protected request reads no table; introspection is one).

A resource server introspects with the same few clients all day; reading the ``clients``
row on every call was a third of an introspection's time. Here a client read once is kept
as a :class:`ClientRecord` (a snapshot of its columns, with the model's own Authlib
methods: the secret check stays :func:`~authserver.security.digests.digest_matches`, a
constant-time compare of digests) until the live log says it changed: every "client" row
(deleted, disabled, secret rotated, a role taken away) and "clients" row (allowed scopes)
drops it, in this process at its commit and in every other within the bound, as the rest
of the live state. A record read while such a row was being applied is not kept (the
state's ``clients_generation``), and nothing is kept for an unknown or disabled client, so
a client created or enabled later is read afresh.

Only what introspection reads of a client is trusted to a record (its id, secret digest,
auth method, ``can_introspect``); the token endpoint keeps reading the row, since its
grants read more (roles, grant types, DPoP binding) than the log announces changes of.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any

from sqlalchemy import inspect

from authserver.live.state import LiveState
from authserver.models import Client

#: Records kept at most (clients are few; past this the dictionary starts again).
MAX_RECORDS = 10_000

_IN_PROCESS: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "authserver_live_clients", default=False
)
_COLUMNS = tuple(attribute.key for attribute in inspect(Client).column_attrs)


class ClientRecord:
    """A client's columns as they were read, with the Authlib ClientMixin methods of the
    model (the same code, reading the same attribute names). No relationships: ``roles``
    is not here, and reading it fails loudly rather than answering from a stale copy."""

    is_public = Client.is_public
    grant_type_list = Client.grant_type_list
    scope_list = Client.scope_list
    get_client_id = Client.get_client_id
    get_default_redirect_uri = Client.get_default_redirect_uri
    get_allowed_scope = Client.get_allowed_scope
    check_redirect_uri = Client.check_redirect_uri
    check_client_secret = Client.check_client_secret
    check_endpoint_auth_method = Client.check_endpoint_auth_method
    check_response_type = Client.check_response_type
    check_grant_type = Client.check_grant_type

    def __init__(self, client: Client) -> None:
        for name in _COLUMNS:
            setattr(self, name, getattr(client, name))

    def __getattr__(self, name: str) -> Any:  # only for names no column or method has
        raise AttributeError(f"{name!r} is not kept in a client record")


class ClientRecords:
    """The records of one process's live state, dropped by the log's client rows."""

    def __init__(self, state: LiveState) -> None:
        self.state = state
        self._records: dict[str, ClientRecord] = {}
        state.client_listeners.append(self.forget)

    def forget(self, client_id: str) -> None:
        self._records.pop(client_id, None)

    def find(self, client_id: str, read) -> ClientRecord | None:
        """The record of ``client_id``; on a miss, ``read(client_id)`` (an enabled
        Client or None) is asked and its answer kept as said in the module docstring."""
        record = self._records.get(client_id)
        if record is not None:
            return record
        generation = self.state.clients_generation
        client = read(client_id)
        if client is None:
            return None
        record = ClientRecord(client)
        if self.state.clients_generation == generation:
            if len(self._records) >= MAX_RECORDS:
                self._records = {}
            self._records[client_id] = record
        return record


@contextlib.contextmanager
def in_process() -> Iterator[None]:
    """Within this block, :func:`find` answers from the records (introspection)."""
    token = _IN_PROCESS.set(True)
    try:
        yield
    finally:
        _IN_PROCESS.reset(token)


def find(client_id: str) -> Client | ClientRecord | None:
    """Authlib's ``query_client``: the enabled client ``client_id``. Inside
    :func:`in_process`, from this process's records (fresh within the bound: the live
    state is brought up to date first); elsewhere the row, as ``services.clients.find``."""
    from authserver import live
    from authserver.services import clients

    if not _IN_PROCESS.get():
        return clients.find(client_id)
    sync = live.live_sync()
    sync.current()  # the client rows up to the bound are applied: no stale record is used
    return sync.client_records.find(client_id, clients.find)
