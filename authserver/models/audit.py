"""The audit trail: one row per security-relevant event, appended and never changed."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from authserver.extensions import Model
from authserver.models.base import UTCDateTime, utcnow


class AuditEvent(Model):
    """Who (``actor``) did what (``kind``) to what (``subject``), when, from where.

    ``actor`` is a username, a client id, ``"cli"`` or ``"system"``; ``subject`` names the
    thing acted on (``user:alice``, ``client:<id>``, ``policy:v3``, ``family:<id>``). The
    migration adds triggers that refuse UPDATE and DELETE on the table.
    """

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    actor: Mapped[str] = mapped_column(String(150), index=True)
    subject: Mapped[str] = mapped_column(String(200), index=True)
    client_id: Mapped[str | None] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "occurred_at": self.occurred_at.isoformat().replace("+00:00", "Z"),
            "kind": self.kind,
            "actor": self.actor,
            "subject": self.subject,
            "client_id": self.client_id,
            "ip": self.ip,
            "details": self.details,
        }
