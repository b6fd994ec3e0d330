"""Users (people who log in to the UI). Emails are stored lower-cased."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Session

from spyglass.domain.errors import NotFound
from spyglass.domain.projects import User
from spyglass.storage.oltp.tables import UserRow


def normalize_email(email: str) -> str:
    return email.strip().lower()


class UserRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def find(self, user_id: str) -> User | None:
        row = self._session.get(UserRow, user_id)
        return _to_user(row) if row is not None else None

    def get(self, user_id: str) -> User:
        user = self.find(user_id)
        if user is None:
            raise NotFound(f"User {user_id} not found")
        return user

    def find_by_email(self, email: str) -> User | None:
        stmt = sa.select(UserRow).where(UserRow.email == normalize_email(email))
        row = self._session.scalars(stmt).first()
        return _to_user(row) if row is not None else None

    def list_all(self) -> list[User]:
        stmt = sa.select(UserRow).order_by(UserRow.created_at, UserRow.id)
        return [_to_user(row) for row in self._session.scalars(stmt)]

    def create(
        self,
        *,
        email: str,
        name: str | None = None,
        password_hash: str | None = None,
        admin: bool = False,
        user_id: str | None = None,
    ) -> User:
        row = UserRow(
            id=user_id or str(uuid.uuid4()),
            email=normalize_email(email),
            name=name,
            password_hash=password_hash,
            admin=admin,
        )
        self._session.add(row)
        self._session.flush()
        return _to_user(row)


def _to_user(row: UserRow) -> User:
    return User(
        id=row.id,
        email=row.email,
        name=row.name,
        admin=row.admin,
        created_at=row.created_at,
        password_hash=row.password_hash,
    )
