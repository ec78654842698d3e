"""Blueprints: the OAuth endpoints, the discovery documents, the example resources."""
