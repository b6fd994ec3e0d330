"""API key pairs: generation, hashing and parsing of the `Authorization` header.

Pure functions; the lookup against stored keys lives in `services.projects`.

Hashing: secrets are `sk-lf-<uuid4>` (122 random bits) or operator-provisioned strings.
For high-entropy secrets a slow KDF buys nothing (brute force is hopeless anyway) and
would cost milliseconds on every request, so we use Langfuse's "fast hash",
`sha256(secret ‖ sha256hex(salt))`. Keeping the exact formula means a key hashed by
Langfuse with the same `SALT` verifies here. Comparisons use `hmac.compare_digest`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import uuid
from dataclasses import dataclass, field

from spyglass.domain.access import AccessLevel
from spyglass.domain.errors import Unauthorized

NO_AUTHORIZATION_HEADER = "No authorization header"
INVALID_AUTHORIZATION_HEADER = "Invalid authorization header"
INVALID_CREDENTIALS = "Invalid credentials"


@dataclass(frozen=True, slots=True)
class Credentials:
    """What the header carried: Basic gives both keys, Bearer only the public key."""

    public_key: str
    secret_key: str | None = field(default=None, repr=False)

    @property
    def access_level(self) -> AccessLevel:
        # Langfuse lets a bare public key (Bearer) write scores and nothing else.
        return "project" if self.secret_key is not None else "scores"


def generate_key_pair() -> tuple[str, str]:
    """A fresh `(public_key, secret_key)` in Langfuse's format."""
    return f"pk-lf-{uuid.uuid4()}", f"sk-lf-{uuid.uuid4()}"


def hash_secret(secret: str, salt: str) -> str:
    """Langfuse's fast hash: hex sha256 of the secret followed by the hex sha256 of the salt."""
    salt_hex = hashlib.sha256(salt.encode("utf-8")).hexdigest()
    return hashlib.sha256(secret.encode("utf-8") + salt_hex.encode("ascii")).hexdigest()


def verify_secret(secret: str, salt: str, hashed: str) -> bool:
    """Constant-time check of a presented secret against a stored hash."""
    return hmac.compare_digest(hash_secret(secret, salt), hashed)


def display_secret(secret_key: str) -> str:
    """The masked form shown in lists: `sk-lf-...abcd`."""
    return f"{secret_key[:6]}...{secret_key[-4:]}"


def parse_authorization(header: str | None) -> Credentials:
    """Parse `Basic base64(pk:sk)` or `Bearer <pk>`; raise `Unauthorized` otherwise."""
    if header is None or not header.strip():
        raise Unauthorized(NO_AUTHORIZATION_HEADER)
    scheme, _, value = header.strip().partition(" ")
    scheme = scheme.lower()
    value = value.strip()
    if scheme == "basic":
        return _parse_basic(value)
    if scheme == "bearer" and value and " " not in value:
        return Credentials(public_key=value)
    raise Unauthorized(INVALID_AUTHORIZATION_HEADER)


def _parse_basic(token: str) -> Credentials:
    # Node's base64 decoder (what Langfuse uses) ignores missing padding, so clients that
    # strip "=" work there; restore it rather than reject them.
    padded = token + "=" * (-len(token) % 4)
    try:
        decoded = base64.b64decode(padded, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise Unauthorized(INVALID_AUTHORIZATION_HEADER) from None
    # Split on the first ':' only: a provisioned secret may itself contain ':'.
    public_key, sep, secret_key = decoded.partition(":")
    if not sep or not public_key or not secret_key:
        raise Unauthorized(INVALID_AUTHORIZATION_HEADER)
    return Credentials(public_key=public_key, secret_key=secret_key)
