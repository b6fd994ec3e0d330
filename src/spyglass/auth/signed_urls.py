"""Self-authorising URLs: an HMAC over method, path, expiry and the values a URL grants.

Clients upload and download media without credentials (the SDK sends none to the URL it
is given), so the URL itself carries the permission. Anything changed in it (path, any
parameter, the method) or an expired one fails `verify`.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from urllib.parse import urlencode

from spyglass.domain.errors import Forbidden

SIGNATURE = "signature"
EXPIRES = "expires"


class UrlSigner:
    def __init__(self, secret: bytes, clock: Callable[[], float] = time.time) -> None:
        self._secret = secret
        self._clock = clock

    def sign(self, method: str, path: str, params: Mapping[str, str], ttl_seconds: int) -> tuple[str, int]:
        """The query string granting `method` on `path` with `params` for `ttl_seconds`, and its expiry."""
        expires = int(self._clock()) + ttl_seconds
        granted = {**params, EXPIRES: str(expires)}
        return urlencode({**granted, SIGNATURE: self._mac(method, path, granted)}), expires

    def verify(self, method: str, path: str, query: Mapping[str, str]) -> dict[str, str]:
        """The granted parameters (without the signature); raises `Forbidden` if tampered with or expired."""
        granted = {name: value for name, value in query.items() if name != SIGNATURE}
        expected = self._mac(method, path, granted)
        # As bytes: compare_digest refuses non-ASCII str, and a garbled signature is just wrong.
        if not hmac.compare_digest(expected.encode(), query.get(SIGNATURE, "").encode()):
            raise Forbidden("The signature of this URL does not match: it was changed or not issued here")
        expires = granted.get(EXPIRES, "")
        if not expires.isascii() or not expires.isdigit() or int(expires) < self._clock():
            raise Forbidden("This URL has expired; ask the API for a new one")
        return granted

    def _mac(self, method: str, path: str, params: Mapping[str, str]) -> str:
        # Sorted and length-prefixed, so no two different grants share a message.
        parts = [method.upper(), path, *(f"{name}={value}" for name, value in sorted(params.items()))]
        message = "\n".join(f"{len(part)}:{part}" for part in parts).encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()
