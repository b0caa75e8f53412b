"""API keys (shown once, stored hashed) and keyed hashes of user ids."""

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from django.conf import settings

KEY_PREFIX = "ss"


@dataclass(frozen=True)
class IssuedKey:
    prefix: str
    secret: str

    @property
    def token(self) -> str:
        return f"{KEY_PREFIX}_{self.prefix}_{self.secret}"


def key_issue() -> IssuedKey:
    return IssuedKey(prefix=secrets.token_hex(6), secret=secrets.token_urlsafe(32))


def secret_hash(secret: str) -> str:
    # Secrets carry 256 random bits, so a fast hash is enough (as for GitHub tokens).
    return hashlib.sha256(secret.encode()).hexdigest()


def token_split(token: str) -> tuple[str, str] | None:
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def user_ref(user: str) -> str:
    key = (settings.USER_HASH_KEY or settings.SECRET_KEY).encode()
    return hmac.digest(key, user.encode(), "sha256").hex()
