"""Refresh-token families and the refresh tokens themselves (as digests). Revoked access
tokens are "jti" rows of the live-authorization log (models/live.py)."""

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from authserver.extensions import Model
from authserver.models.base import UTCDateTime, utcnow


class RefreshFamily(Model):
    """All refresh tokens born of one login; its scope is the ceiling of every refresh."""

    __tablename__ = "refresh_families"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    scope: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_reason: Mapped[str | None] = mapped_column(String(40))
    #: A public client's family is bound to the DPoP key of its login (RFC 9449 §5): the
    #: key's RFC 7638 thumbprint, which every refresh of the family must prove.
    dpop_jkt: Mapped[str | None] = mapped_column(String(64))


class RefreshToken(Model):
    """One refresh token, stored only as the SHA-256 digest of its value."""

    __tablename__ = "refresh_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    family_id: Mapped[str] = mapped_column(
        ForeignKey("refresh_families.id", ondelete="CASCADE"), index=True
    )
    scope: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The token whose use produced this one (None for a login's first); a repeat of a
    #: refresh whose answer was lost is told by it (SPEC §6, REFRESH_REUSE_GRACE).
    parent_id: Mapped[int | None] = mapped_column()
    family: Mapped[RefreshFamily] = relationship(lazy="joined")

    # Authlib token hooks
    def check_client(self, client) -> bool:
        return self.family.client_id == client.get_client_id()

    def get_scope(self) -> str:
        return self.family.scope
