"""UI password hashing with scrypt (memory-hard KDF from the standard library).

Unlike API secrets, passwords are chosen by people and guessable, so they get a slow,
salted, memory-hard hash. The encoded form carries its own parameters,
`scrypt$<n>$<r>$<p>$<salt b64>$<hash b64>`, so the cost can be raised later without
invalidating stored hashes (`needs_rehash` tells when to upgrade one at login).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

# N=2^15, r=8 uses 32 MiB and ~50-100 ms per hash: above Django's scrypt default
# (N=2^14) while keeping login and test suites responsive.
SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1
_DKLEN = 32
_SALT_BYTES = 16
_ALGORITHM = "scrypt"


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = _scrypt(password, salt, n, r, p)
    return "$".join((_ALGORITHM, str(n), str(r), str(p), _b64(salt), _b64(digest)))


def verify_password(password: str, encoded: str | None) -> bool:
    """True when `password` matches; False for any malformed or missing hash."""
    parsed = _parse(encoded)
    if parsed is None:
        return False
    n, r, p, salt, expected = parsed
    try:
        actual = _scrypt(password, salt, n, r, p, dklen=len(expected))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


def needs_rehash(encoded: str) -> bool:
    parsed = _parse(encoded)
    return parsed is None or parsed[:3] != (SCRYPT_N, SCRYPT_R, SCRYPT_P)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, dklen: int = _DKLEN) -> bytes:
    # OpenSSL needs a little more than 128*n*r bytes; the default maxmem (32 MiB) would
    # reject N=2^15, r=8 exactly.
    maxmem = 128 * n * r * p + 16 * 1024 * 1024
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=maxmem, dklen=dklen)


def _parse(encoded: str | None) -> tuple[int, int, int, bytes, bytes] | None:
    if not encoded:
        return None
    parts = encoded.split("$")
    if len(parts) != 6 or parts[0] != _ALGORITHM:
        return None
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, digest = _unb64(parts[4]), _unb64(parts[5])
    except ValueError:
        return None
    if n < 2 or n & (n - 1) or r < 1 or p < 1 or not digest:
        return None
    return n, r, p, salt, digest


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
