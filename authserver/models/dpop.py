"""DPoP proof ``jti``s already seen, for when no Redis is configured (RFC 9449 §11.1)."""

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from authserver.extensions import Model
from authserver.models.base import UTCDateTime


class DPoPProof(Model):
    """One proof seen: the SHA-256 of its key's thumbprint and its ``jti``, kept until the
    proof would be refused as stale anyway (then purged)."""

    __tablename__ = "dpop_proofs"

    proof_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
