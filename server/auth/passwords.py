"""Password hashing: argon2id through pwdlib (its recommended parameters)."""

from __future__ import annotations

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

_HASHER = PasswordHash((Argon2Hasher(),))
# Verified against when the account does not exist, so a wrong email costs as long as a wrong password.
_DUMMY_HASH = _HASHER.hash("not a password of anyone")

MIN_LENGTH = 8


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    if password_hash is None:
        _HASHER.verify(password, _DUMMY_HASH)
        return False
    try:
        return _HASHER.verify(password, password_hash)
    except ValueError:  # an unreadable hash never matches
        return False
