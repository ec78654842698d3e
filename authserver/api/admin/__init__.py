"""The admin API (SPEC §8): one blueprint per resource, all under ``/admin``."""

from __future__ import annotations

from flask import Flask

from authserver.api.admin import audit, clients, policy, roles, users


def init_app(app: Flask) -> None:
    for module in (policy, roles, users, clients, audit):
        module.init_app(app)
