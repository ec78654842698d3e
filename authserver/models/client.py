"""OAuth clients, with secrets stored only as SHA-256 digests."""

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from authserver.extensions import Model
from authserver.models.base import UTCDateTime, utcnow
from authserver.security.digests import digest_matches

#: Every grant type the token endpoint serves, in the order the metadata lists them. The one
#: list: the client model's check, client registration (CLI and services), the RFC 8414
#: metadata, the demo clients and the metrics' ``grant_type`` label all derive from it
#: (tests/test_grant_types.py checks they agree). A new grant type starts here.
GRANT_TYPES = ("password", "refresh_token", "client_credentials")
#: A grant that needs the client's own credentials (RFC 6749 §4.4): confidential clients only.
CONFIDENTIAL_GRANT_TYPES = ("client_credentials",)
#: The grant types a public client may hold: all but those needing a secret.
PUBLIC_GRANT_TYPES = tuple(g for g in GRANT_TYPES if g not in CONFIDENTIAL_GRANT_TYPES)

CONFIDENTIAL_AUTH_METHODS = ("client_secret_basic", "client_secret_post")
#: Every client authentication method the token, revocation and introspection endpoints
#: accept (and the metadata advertises): the secret ones, and ``none`` for public clients.
CLIENT_AUTH_METHODS = [*CONFIDENTIAL_AUTH_METHODS, "none"]


class Client(Model):
    """An OAuth client; implements the ClientMixin methods Authlib calls."""

    __tablename__ = "clients"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    secret_digest: Mapped[str | None] = mapped_column(String(64))
    grant_types: Mapped[str] = mapped_column(Text, default="")
    scope: Mapped[str | None] = mapped_column(Text)
    can_introspect: Mapped[bool] = mapped_column(default=False)
    #: A disabled client cannot authenticate, so it gets no tokens (``clients disable``).
    disabled: Mapped[bool] = mapped_column(default=False, server_default=false())
    #: A ``--dpop`` client must prove a DPoP key at the token endpoint (SPEC §17,
    #: ``dpop_bound_access_tokens``).
    dpop_bound: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    role_rows: Mapped[list["ClientRole"]] = relationship(
        back_populates="client",
        cascade="all, delete-orphan",
        order_by="ClientRole.role",
        lazy="select",  # read by client_credentials and the admin views, not every grant
    )

    @property
    def is_public(self) -> bool:
        return self.secret_digest is None

    @property
    def roles(self) -> list[str]:
        """The policy roles the client holds (its client_credentials grant, SPEC §16)."""
        return [row.role for row in self.role_rows]

    @property
    def grant_type_list(self) -> list[str]:
        return self.grant_types.split()

    @property
    def scope_list(self) -> list[str] | None:
        """Allowed scopes, or None when the client is not restricted."""
        return self.scope.split() if self.scope is not None else None

    # Authlib ClientMixin
    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str) -> str:
        return scope  # the granting rule (requested ∩ roles ∩ client) lives in the grants

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return digest_matches(self.secret_digest, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.is_public:
            return method == "none"
        return method in CONFIDENTIAL_AUTH_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in GRANT_TYPES and grant_type in self.grant_type_list


class ClientRole(Model):
    """A role a client holds: the same shape as ``user_roles`` (SPEC §16)."""

    __tablename__ = "client_roles"

    client_id: Mapped[int] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(100), primary_key=True, index=True)
    client: Mapped[Client] = relationship(back_populates="role_rows")
