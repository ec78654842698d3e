"""A separate Flask service protected by the resource-server kit (SPEC §18), for tests."""
