"""Flask extensions with no per-app state; each app binds them in create_app."""

import contextlib
import logging
from typing import TYPE_CHECKING

from flask_migrate import Migrate
from flask_principal import Principal
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


class _SQLAlchemy(SQLAlchemy):
    """Flask-SQLAlchemy whose end-of-request cleanup cannot turn an answer into a 500.

    The session is removed in the app context's teardown, after the view has answered; on
    a connection the database has dropped (a restart, a killed backend) the rollback there
    raises, and gunicorn answered its HTML 500 page instead of the answer already made
    (issue 10 item 7). Here the error is logged and the session discarded with its
    connections invalidated, so the next request gets a good one from the pool.
    """

    def _teardown_session(self, exc: BaseException | None) -> None:
        if not self.session.registry.has():  # no session this request (a protected
            return  # route's usual case): remove() would look it up twice and raise inside
        try:
            super()._teardown_session(exc)
        except Exception:
            logging.getLogger("authserver").exception(
                "database session teardown failed (connection lost?); the answer stands"
            )
            self._discard_session()

    def _discard_session(self) -> None:
        """Close the broken session's connections for good (invalidated: the pool drops
        them; merely dropping them would leave the driver's socket open until GC) and
        forget the session, which remove() stopped short of."""
        with contextlib.suppress(Exception):  # nothing more to do with a dead connection
            self.session().invalidate()
        self.session.registry.clear()


db = _SQLAlchemy(model_class=Base)
migrate = Migrate()
principal = Principal(use_sessions=False)  # no static folder: nothing to skip

if TYPE_CHECKING:
    # What db.Model is, spelled as a class: mypy takes no variable as a base class
    # (python/mypy#8603), and db.Model is one. Models subclass Model, not db.Model.
    from flask_sqlalchemy.model import Model as _FlaskModel

    class Model(Base, _FlaskModel):
        __abstract__ = True

else:
    Model = db.Model
