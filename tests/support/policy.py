"""What the policy tests share (no tests here): the default policy's scopes per SPEC."""

#: The scopes SPEC lists for policies/roles.yaml, in document order.
ALL_SPEC_SCOPES = [
    "profile",
    "documents:read",
    "documents:write",
    "documents:delete",
    "policies:read",
    "policies:write",
    "users:read",
    "users:write",
    "clients:read",
    "clients:write",
    "audit:read",
]
