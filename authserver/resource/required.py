"""What a route needs (``RequiredScopes``) and the list of every protected route.

The decorator records a route's requirement on its view, so the server can list which
route needs which scope (``authserver routes``, the OpenAPI document) and check the
policy against the code.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask


@dataclass(frozen=True)
class RequiredScopes:
    """What a route needs: every scope of ``all_of`` and at least one of ``any_of``."""

    all_of: tuple[str, ...] = ()
    any_of: tuple[str, ...] = ()

    def authlib_scopes(self) -> list[str]:
        """Authlib's form: a list of alternatives, each a space-separated all-of set."""
        if not self.any_of:
            return [" ".join(self.all_of)] if self.all_of else []
        return [" ".join((*self.all_of, alt)) for alt in self.any_of]

    def challenge_scope(self) -> str:
        """The scopes named in an ``insufficient_scope`` challenge (RFC 6750 §3)."""
        return " ".join((*self.all_of, *self.any_of))


def route_scopes(app: Flask) -> list[tuple[str, list[str], RequiredScopes]]:
    """Every protected route: its rule, its methods and the scopes it needs."""
    routes = []
    for rule in app.url_map.iter_rules():
        required = getattr(app.view_functions.get(rule.endpoint), "required_scopes", None)
        if required is not None:
            methods = sorted(m for m in rule.methods or () if m not in {"HEAD", "OPTIONS"})
            routes.append((rule.rule, methods, required))
    return sorted(routes, key=lambda item: item[0])


def required_scope_names(app: Flask) -> set[str]:
    """Every scope some route of ``app`` needs, to check the policy declares it."""
    names: set[str] = set()
    for _rule, _methods, required in route_scopes(app):
        names.update(required.all_of, required.any_of)
    return names
