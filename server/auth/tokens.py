"""Login tokens: JWTs (pyjwt, HS256) naming the user and their token version.

Logout and password changes bump the version stored with the user, which revokes every token
issued before without a deny list.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

ALGORITHM = "HS256"
ISSUER = "chatchat"


@dataclass(frozen=True)
class TokenClaims:
    user_id: int
    version: int


def issue_token(secret: str, user_id: int, version: int, lifetime: timedelta) -> str:
    now = datetime.now(UTC)
    claims = {"sub": str(user_id), "ver": version, "iat": now, "exp": now + lifetime, "iss": ISSUER}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def read_token(secret: str, token: str) -> TokenClaims | None:
    """The claims of a valid, unexpired token of ours; None for anything else."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["sub", "exp", "iat", "ver"]},
        )
        return TokenClaims(int(claims["sub"]), int(claims["ver"]))
    except (jwt.InvalidTokenError, ValueError, TypeError):
        return None


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2
