"""SQLAlchemy models: persistence only, no business rules."""

from authserver.models.audit import AuditEvent
from authserver.models.client import Client
from authserver.models.document import Document
from authserver.models.dpop import DPoPProof
from authserver.models.live import LiveChange
from authserver.models.lockout import LoginFailure
from authserver.models.policy import PolicyVersion
from authserver.models.token import RefreshFamily, RefreshToken
from authserver.models.user import User, UserRole

__all__ = [
    "AuditEvent",
    "Client",
    "DPoPProof",
    "Document",
    "LiveChange",
    "LoginFailure",
    "PolicyVersion",
    "RefreshFamily",
    "RefreshToken",
    "User",
    "UserRole",
]
