"""Project API keys (stored with the secret hashed)."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from spyglass.domain.errors import NotFound
from spyglass.domain.projects import ApiKey
from spyglass.storage.oltp.tables import ApiKeyRow, ProjectRow


class ApiKeyRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def find(self, key_id: str) -> ApiKey | None:
        row = self._session.get(ApiKeyRow, key_id)
        return _to_api_key(row) if row is not None else None

    def get(self, key_id: str) -> ApiKey:
        key = self.find(key_id)
        if key is None:
            raise NotFound(f"API key {key_id} not found")
        return key

    def find_by_public_key(self, public_key: str) -> ApiKey | None:
        stmt = sa.select(ApiKeyRow).where(ApiKeyRow.public_key == public_key)
        row = self._session.scalars(stmt).first()
        return _to_api_key(row) if row is not None else None

    def find_usable(self, public_key: str) -> ApiKey | None:
        """The key for authentication: only keys whose project is not soft-deleted.

        One indexed join, because this runs on every cache miss of request auth.
        """
        stmt = (
            sa.select(ApiKeyRow)
            .join(ProjectRow, ProjectRow.id == ApiKeyRow.project_id)
            .where(ApiKeyRow.public_key == public_key, ProjectRow.deleted_at.is_(None))
        )
        row = self._session.scalars(stmt).first()
        return _to_api_key(row) if row is not None else None

    def list_for_project(self, project_id: str) -> list[ApiKey]:
        stmt = (
            sa.select(ApiKeyRow)
            .where(ApiKeyRow.project_id == project_id)
            .order_by(ApiKeyRow.created_at, ApiKeyRow.id)
        )
        return [_to_api_key(row) for row in self._session.scalars(stmt)]

    def create(
        self,
        *,
        project_id: str,
        public_key: str,
        hashed_secret_key: str,
        display_secret_key: str,
        note: str | None = None,
        expires_at: datetime | None = None,
        key_id: str | None = None,
        role: str = "ADMIN",
    ) -> ApiKey:
        row = ApiKeyRow(
            id=key_id or str(uuid.uuid4()),
            project_id=project_id,
            public_key=public_key,
            hashed_secret_key=hashed_secret_key,
            display_secret_key=display_secret_key,
            note=note,
            expires_at=expires_at,
            role=role,
        )
        self._session.add(row)
        self._session.flush()
        return _to_api_key(row)

    def delete(self, key_id: str) -> bool:
        """Delete by id; False when there was no such key."""
        result = self._session.execute(sa.delete(ApiKeyRow).where(ApiKeyRow.id == key_id))
        return bool(result.rowcount)

    def touch(self, key_id: str, at: datetime) -> None:
        """Record use. A blind UPDATE (no read first) keeps the SQLite write lock short."""
        self._session.execute(sa.update(ApiKeyRow).where(ApiKeyRow.id == key_id).values(last_used_at=at))


def _to_api_key(row: ApiKeyRow) -> ApiKey:
    return ApiKey(
        id=row.id,
        public_key=row.public_key,
        hashed_secret_key=row.hashed_secret_key,
        display_secret_key=row.display_secret_key,
        note=row.note,
        project_id=row.project_id,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        expires_at=row.expires_at,
        role=row.role,
    )
