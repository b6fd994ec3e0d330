"""Domain errors. The web layer maps each to an HTTP status and Langfuse's error shape."""

from __future__ import annotations


class SpyglassError(Exception):
    """Base class; `message` is shown to the client."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(SpyglassError):
    """The entity does not exist in the caller's project (never reveals other projects)."""


class InvalidInput(SpyglassError):
    """The request is well-formed but its content is not acceptable."""


class Conflict(SpyglassError):
    """The request conflicts with existing state."""


class DuplicateKey(Conflict):
    """A unique key was taken, usually by a concurrent writer: trying again may succeed."""


class Unauthorized(SpyglassError):
    """Missing or wrong credentials."""


class Forbidden(SpyglassError):
    """Valid credentials without the right to do this."""


class PayloadTooLarge(SpyglassError):
    """The request body is over the configured limit."""


class Unavailable(SpyglassError):
    """A backing store cannot take the request right now; nothing was accepted."""
