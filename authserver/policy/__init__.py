"""Role policies (SPEC §7): load and validate YAML/JSON, resolve scopes, grant tokens.

Pure Python on purpose (no Flask, SQLAlchemy or Authlib): the admin API, the CLI, the
token endpoint and the tests all use the same engine.
"""

from authserver.policy.diff import PolicyDiff, diff_policies
from authserver.policy.explain import Explanation, explain_grant
from authserver.policy.granting import ClientFacts, Decision, decide_password_grant, grant_scopes
from authserver.policy.issues import PolicyIssue
from authserver.policy.loader import LoadResult, load_policy_data, load_policy_yaml
from authserver.policy.model import Policy, Role
from authserver.policy.routes import undeclared_required_scopes
from authserver.policy.scopes import InvalidScope, parse_scope

__all__ = [
    "ClientFacts",
    "Decision",
    "Explanation",
    "InvalidScope",
    "LoadResult",
    "Policy",
    "PolicyDiff",
    "PolicyIssue",
    "Role",
    "decide_password_grant",
    "diff_policies",
    "explain_grant",
    "grant_scopes",
    "load_policy_data",
    "load_policy_yaml",
    "parse_scope",
    "undeclared_required_scopes",
]
