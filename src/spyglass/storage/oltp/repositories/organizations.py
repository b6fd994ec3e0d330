"""Organizations and their memberships."""

from __future__ import annotations

import uuid
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from spyglass.domain.errors import NotFound
from spyglass.domain.projects import Membership, Organization, Role
from spyglass.storage.oltp.tables import OrganizationMembershipRow, OrganizationRow


class OrganizationRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def find(self, org_id: str) -> Organization | None:
        row = self._session.get(OrganizationRow, org_id)
        return _to_organization(row) if row is not None else None

    def get(self, org_id: str) -> Organization:
        org = self.find(org_id)
        if org is None:
            raise NotFound(f"Organization {org_id} not found")
        return org

    def find_by_name(self, name: str) -> Organization | None:
        """The oldest organization with this name (names are not unique)."""
        stmt = (
            sa.select(OrganizationRow)
            .where(OrganizationRow.name == name)
            .order_by(OrganizationRow.created_at, OrganizationRow.id)
            .limit(1)
        )
        row = self._session.scalars(stmt).first()
        return _to_organization(row) if row is not None else None

    def list_all(self) -> list[Organization]:
        stmt = sa.select(OrganizationRow).order_by(OrganizationRow.created_at, OrganizationRow.id)
        return [_to_organization(row) for row in self._session.scalars(stmt)]

    def create(
        self, *, name: str, org_id: str | None = None, metadata: dict[str, Any] | None = None
    ) -> Organization:
        row = OrganizationRow(id=org_id or str(uuid.uuid4()), name=name, metadata_=dict(metadata or {}))
        self._session.add(row)
        self._session.flush()
        return _to_organization(row)

    def find_membership(self, org_id: str, user_id: str) -> Membership | None:
        stmt = sa.select(OrganizationMembershipRow).where(
            OrganizationMembershipRow.org_id == org_id, OrganizationMembershipRow.user_id == user_id
        )
        row = self._session.scalars(stmt).first()
        return _to_membership(row) if row is not None else None

    def list_memberships(self, org_id: str) -> list[Membership]:
        stmt = (
            sa.select(OrganizationMembershipRow)
            .where(OrganizationMembershipRow.org_id == org_id)
            .order_by(OrganizationMembershipRow.created_at, OrganizationMembershipRow.id)
        )
        return [_to_membership(row) for row in self._session.scalars(stmt)]

    def upsert_membership(self, org_id: str, user_id: str, role: Role) -> Membership:
        """Create the membership or set its role; writes nothing when the role is unchanged."""
        stmt = sa.select(OrganizationMembershipRow).where(
            OrganizationMembershipRow.org_id == org_id, OrganizationMembershipRow.user_id == user_id
        )
        row = self._session.scalars(stmt).first()
        if row is None:
            row = OrganizationMembershipRow(id=str(uuid.uuid4()), org_id=org_id, user_id=user_id, role=role)
            self._session.add(row)
        elif row.role != role:
            row.role = role
        self._session.flush()
        return _to_membership(row)


def _to_organization(row: OrganizationRow) -> Organization:
    return Organization(
        id=row.id, name=row.name, metadata=dict(row.metadata_ or {}), created_at=row.created_at
    )


def _to_membership(row: OrganizationMembershipRow) -> Membership:
    return Membership(id=row.id, org_id=row.org_id, user_id=row.user_id, role=cast(Role, row.role))
