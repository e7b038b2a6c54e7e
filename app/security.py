"""Password hashing (argon2), bearer tokens (JWT, HS256) and the CSRF token."""

import hashlib
import hmac
from datetime import datetime, timedelta
from typing import Any

import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from app.errors import Unauthorized
from app.models.base import utcnow

_hasher = PasswordHash((Argon2Hasher(),))
_ALGORITHM = "HS256"
# Verified against when the username is unknown, so a miss costs as much as a wrong password.
_DUMMY_HASH = _hasher.hash("memorial-patrol-timing-equaliser")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    if password_hash is None:
        _hasher.verify(password, _DUMMY_HASH)
        return False
    try:
        return _hasher.verify(password, password_hash)
    except Exception:  # a corrupt or foreign hash is a failed login, not a crash
        return False


def create_access_token(
    *, user_id: int, key: str, ttl: timedelta, now: datetime | None = None
) -> str:
    issued = now or utcnow()
    payload = {
        "sub": str(user_id),
        "iat": issued.timestamp(),
        "exp": int((issued + ttl).timestamp()),
        "typ": "access",
    }
    return jwt.encode(payload, key, algorithm=_ALGORITHM)


def decode_access_token(token: str, *, key: str) -> dict[str, Any]:
    """The token's claims, or ``Unauthorized`` saying why it cannot be used."""
    try:
        claims = jwt.decode(
            token, key, algorithms=[_ALGORITHM], options={"require": ["sub", "exp", "iat"]}
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("Your session has expired: sign in again") from None
    except jwt.PyJWTError:
        raise Unauthorized("The access token is not valid: sign in again") from None
    if claims.get("typ") != "access" or not str(claims["sub"]).isdigit():
        raise Unauthorized("The access token is not valid: sign in again")
    return claims


def csrf_token_for(seed: str, *, key: str) -> str:
    """The CSRF token of a browser: an HMAC, keyed by the signing key, of the random seed in
    its ``mp_csrf`` cookie. A cross-site page can read neither, so cannot send the token."""
    return hmac.new(key.encode(), f"csrf|{seed}".encode(), hashlib.sha256).hexdigest()


def csrf_matches(seed: str | None, token: str | None, *, key: str) -> bool:
    """Constant-time; any text a client sends (not hex, not ASCII) is simply no match."""
    if not seed or not token:
        return False
    expected = csrf_token_for(seed, key=key).encode()
    return hmac.compare_digest(expected, token.encode("utf-8", "surrogateescape"))
