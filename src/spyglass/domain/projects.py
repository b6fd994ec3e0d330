"""Tenancy value types: organizations, projects, users, memberships and API keys.

Frozen snapshots handed out by the OLTP repositories; changing one means asking a
service, never mutating the object.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from spyglass.domain.access import KeyRole

Role = Literal["OWNER", "ADMIN", "MEMBER", "VIEWER"]
ROLES: tuple[Role, ...] = ("OWNER", "ADMIN", "MEMBER", "VIEWER")
# Langfuse's project keys behave like ADMIN keys; MEMBER keys cannot change protected prompt labels.
KEY_ROLES: tuple[KeyRole, ...] = ("ADMIN", "MEMBER")


@dataclass(frozen=True, slots=True)
class Organization:
    id: str
    name: str
    metadata: dict[str, Any] = field(default_factory=dict, hash=False)
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Project:
    id: str
    org_id: str
    name: str
    retention_days: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict, hash=False)
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ProjectInfo:
    """A project with the organization it belongs to (what `GET /api/public/projects` lists)."""

    project: Project
    organization_id: str
    organization_name: str


@dataclass(frozen=True, slots=True)
class User:
    id: str
    email: str
    name: str | None = None
    admin: bool = False
    created_at: datetime | None = None
    # Only the KDF string (see `spyglass.auth.passwords`); kept out of repr so it does
    # not end up in logs.
    password_hash: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Membership:
    id: str
    org_id: str
    user_id: str
    role: Role


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A project API key. The secret itself is never stored, only its hash."""

    id: str
    public_key: str
    hashed_secret_key: str = field(repr=False)
    display_secret_key: str
    note: str | None
    project_id: str
    created_at: datetime | None = None
    last_used_at: datetime | None = None
    expires_at: datetime | None = None
    role: KeyRole = "ADMIN"


class HeadlessInit(BaseModel):
    """Langfuse-compatible `LANGFUSE_INIT_*` provisioning, applied idempotently at start."""

    org_id: str | None = None
    org_name: str | None = None
    project_id: str | None = None
    project_name: str | None = None
    project_public_key: str | None = None
    project_secret_key: str | None = None
    user_email: str | None = None
    user_name: str | None = None
    user_password: str | None = None
