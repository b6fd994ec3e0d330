"""Who is calling: the project an API key grants and at which access level."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from spyglass.domain.errors import Forbidden

AccessLevel = Literal["project", "scores"]
KeyRole = Literal["ADMIN", "MEMBER"]


@dataclass(frozen=True, slots=True)
class ProjectScope:
    """Produced by `auth` from the Authorization header; every read and write is scoped by it.

    `access_level` is "project" for Basic auth with public+secret key and "scores" for a
    Bearer public key (Langfuse lets such callers write scores only). `role` is the key's:
    only ADMIN keys may change protected prompt labels.
    """

    project_id: str
    public_key: str
    access_level: AccessLevel = "project"
    role: KeyRole = "ADMIN"

    @property
    def is_admin(self) -> bool:
        return self.role == "ADMIN"

    def require_project_access(self) -> ProjectScope:
        """This scope, if it may do more than write scores (Basic auth with the secret key)."""
        if self.access_level != "project":
            raise Forbidden("Access denied - insufficient permissions for this endpoint")
        return self
