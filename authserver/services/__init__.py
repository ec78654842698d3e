"""Use cases that own a transaction: users, clients, tokens, the policy store."""
