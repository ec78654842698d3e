"""Flask extensions with no per-app state; each app binds them in create_app."""

from flask_migrate import Migrate
from flask_principal import Principal
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
principal = Principal(use_sessions=False)  # no static folder: nothing to skip
