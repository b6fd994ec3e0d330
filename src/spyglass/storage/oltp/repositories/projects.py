"""Projects. Soft-deleted projects (`deleted_at` set) are invisible unless asked for."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from spyglass.domain.errors import NotFound
from spyglass.domain.projects import Project, ProjectInfo
from spyglass.storage.oltp.tables import DatasetRunRow, OrganizationRow, ProjectRow, utcnow


class ProjectRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def find(self, project_id: str, *, include_deleted: bool = False) -> Project | None:
        row = self._session.get(ProjectRow, project_id)
        if row is None or (row.deleted_at is not None and not include_deleted):
            return None
        return _to_project(row)

    def get(self, project_id: str) -> Project:
        project = self.find(project_id)
        if project is None:
            raise NotFound(f"Project {project_id} not found")
        return project

    def find_by_name(self, org_id: str, name: str) -> Project | None:
        stmt = (
            sa.select(ProjectRow)
            .where(ProjectRow.org_id == org_id, ProjectRow.name == name, ProjectRow.deleted_at.is_(None))
            .order_by(ProjectRow.created_at, ProjectRow.id)
            .limit(1)
        )
        row = self._session.scalars(stmt).first()
        return _to_project(row) if row is not None else None

    def find_info(self, project_id: str) -> ProjectInfo | None:
        stmt = _info_select().where(ProjectRow.id == project_id)
        result = self._session.execute(stmt).first()
        return _to_info(result[0], result[1]) if result is not None else None

    def get_info(self, project_id: str) -> ProjectInfo:
        info = self.find_info(project_id)
        if info is None:
            raise NotFound(f"Project {project_id} not found")
        return info

    def list_infos(self, *, org_id: str | None = None) -> list[ProjectInfo]:
        stmt = _info_select().order_by(ProjectRow.created_at, ProjectRow.id)
        if org_id is not None:
            stmt = stmt.where(ProjectRow.org_id == org_id)
        return [_to_info(project, org) for project, org in self._session.execute(stmt)]

    def create(
        self,
        *,
        org_id: str,
        name: str,
        project_id: str | None = None,
        retention_days: int | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Project:
        row = ProjectRow(
            id=project_id or str(uuid.uuid4()),
            org_id=org_id,
            name=name,
            retention_days=retention_days,
            metadata_=dict(metadata or {}),
        )
        self._session.add(row)
        self._session.flush()
        return _to_project(row)


    def mark_deleted(self, project_id: str) -> None:
        self._session.execute(sa.update(ProjectRow).where(ProjectRow.id == project_id, ProjectRow.deleted_at.is_(None))
                              .values(deleted_at=utcnow()))

    def purge(self, project_id: str) -> None:
        """Delete the project row; every row that belongs to the project goes with it (ON DELETE CASCADE)."""
        # Runs over local data have no dataset to cascade from (their run items follow them).
        self._session.execute(sa.delete(DatasetRunRow).where(DatasetRunRow.project_id == project_id))
        self._session.execute(sa.delete(ProjectRow).where(ProjectRow.id == project_id))


def _info_select() -> sa.Select[tuple[ProjectRow, OrganizationRow]]:
    return (
        sa.select(ProjectRow, OrganizationRow)
        .join(OrganizationRow, OrganizationRow.id == ProjectRow.org_id)
        .where(ProjectRow.deleted_at.is_(None))
    )


def _to_project(row: ProjectRow) -> Project:
    return Project(
        id=row.id,
        org_id=row.org_id,
        name=row.name,
        retention_days=row.retention_days,
        metadata=dict(row.metadata_ or {}),
        created_at=row.created_at,
    )


def _to_info(project: ProjectRow, org: OrganizationRow) -> ProjectInfo:
    return ProjectInfo(project=_to_project(project), organization_id=org.id, organization_name=org.name)
