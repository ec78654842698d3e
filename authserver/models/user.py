"""Users (resource owners) and their role assignments."""

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from authserver.extensions import Model
from authserver.models.base import UTCDateTime, utcnow


class User(Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    disabled: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    role_rows: Mapped[list["UserRole"]] = relationship(
        back_populates="user",
        cascade="all, delete-orphan",
        order_by="UserRole.role",
        lazy="selectin",
    )

    @property
    def roles(self) -> list[str]:
        return [row.role for row in self.role_rows]

    def get_user_id(self) -> int:
        """Authlib's hook: the subject of the token."""
        return self.id


class UserRole(Model):
    __tablename__ = "user_roles"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(100), primary_key=True, index=True)
    user: Mapped[User] = relationship(back_populates="role_rows")
