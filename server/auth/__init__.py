"""Accounts and access control: passwords, tokens, API keys, users, roles, knowledge-base access."""
