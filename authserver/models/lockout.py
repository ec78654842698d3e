"""Failed-login counters per account name, for when no Redis is configured."""

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from authserver.extensions import Model
from authserver.models.base import UTCDateTime, utcnow


class LoginFailure(Model):
    """Failures in a row for one account name (existing or not), keyed by its SHA-256 digest.

    Names that do not exist are counted too, so a lockout can't reveal which accounts exist;
    the digest keeps attacker-chosen names out of the table.
    """

    __tablename__ = "login_failures"

    account_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
