"""API keys: ``sk-`` plus 32 random bytes; stored as SHA-256, listed by their first characters.

A key has 256 bits of entropy, so a fast hash is enough to make a stolen database useless for
logging in (the same reasoning as GitHub's and Stripe's tokens); no slow KDF per request.
"""

from __future__ import annotations

import hashlib
import secrets

PREFIX = "sk-"
SHOWN_PREFIX_LENGTH = 10


def new_key() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def shown_prefix(key: str) -> str:
    return key[:SHOWN_PREFIX_LENGTH]


def looks_like_key(token: str) -> bool:
    return token.startswith(PREFIX) and len(token) > len(PREFIX) + 20
