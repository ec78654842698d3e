"""Authlib wiring: grants, RFC 9068 access tokens, metadata, the per-app server."""
