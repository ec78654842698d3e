"""The live-authorization change log (SPEC §12): one append-only row per cut-off."""

from datetime import datetime

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from authserver.extensions import Model
from authserver.models.base import UTCDateTime


class LiveChange(Model):
    """One change every process must apply: a revoked ``jti``, a user's or client's
    cut-off, a new policy version, a client whose allowed scopes changed.

    ``seq`` order is commit order (see :mod:`authserver.live.log`), so a process reads
    ``seq > last``. ``until``: after it the row can no longer matter (purged).
    ``sqlite_autoincrement``: SQLite would otherwise reuse the seq of a purged last row,
    and a process that had read it would never read the new one.
    """

    __tablename__ = "live_changes"
    __table_args__ = {"sqlite_autoincrement": True}

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(64), index=True)  # "is this jti revoked already?"
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    until: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
