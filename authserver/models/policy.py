"""Versions of the role policy; the newest one is live."""

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from authserver.extensions import Model
from authserver.models.base import UTCDateTime, utcnow


class PolicyVersion(Model):
    """One immutable version of the policy, as the YAML text it was written in."""

    __tablename__ = "policy_versions"

    version: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    source: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(150))
    comment: Mapped[str | None] = mapped_column(String(500))
