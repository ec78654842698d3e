"""Flask extensions with no per-app state; each app binds them in create_app."""

from typing import TYPE_CHECKING

from flask_migrate import Migrate
from flask_principal import Principal
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
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
