"""Prompts: a row per name, immutable versions, labels (one version each), tags, dependencies.

A label is a row keyed by (prompt, label), so the database itself guarantees that it
points at one version; moving it is an update of that row. Versions come back as
`PromptVersion`s with their current labels in the order they were given.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from spyglass.domain.prompts import (
    LATEST,
    DependencyRef,
    PromptDraft,
    PromptFilter,
    PromptSummary,
    PromptVersion,
    Selector,
)
from spyglass.domain.queries import Page
from spyglass.storage.oltp.repositories.batching import chunks
from spyglass.storage.oltp.tables import (
    PromptDependencyRow,
    PromptLabelRow,
    PromptRow,
    PromptTagRow,
    PromptVersionRow,
    ProtectedPromptLabelRow,
    utcnow,
)


@dataclass(frozen=True, slots=True)
class PromptHead:
    """What all versions of a prompt share, and how far its numbering has come."""

    id: str
    name: str
    type: str
    last_version: int


@dataclass(frozen=True, slots=True)
class Dependent:
    """A version of another prompt that references a prompt by version or label."""

    name: str
    version: int
    child_version: int | None
    child_label: str | None


class PromptRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    # -- reads ---------------------------------------------------------------------

    def lock_name(self, project_id: str, name: str) -> None:
        """Hold the right to write prompt `name` until commit, in every process.

        PostgreSQL: an advisory lock on the name, so even the first version of a new name is
        created by one writer at a time. SQLite: an empty UPDATE takes the database's write
        lock at once; reading first would leave a stale snapshot that loses the race later.
        """
        if self._session.get_bind().dialect.name == "postgresql":
            digest = hashlib.blake2b(f"prompt\0{project_id}\0{name}".encode(), digest_size=8).digest()
            key = int.from_bytes(digest, "big", signed=True)
            self._session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
        else:
            self._session.execute(sa.update(PromptRow).where(sa.false()).values(type=PromptRow.type))

    def find_head(self, project_id: str, name: str) -> PromptHead | None:
        """The prompt called `name`, and its highest version number."""
        stmt = sa.select(PromptRow.id, PromptRow.name, PromptRow.type).where(
            PromptRow.project_id == project_id, PromptRow.name == name)
        row = self._session.execute(stmt).first()
        if row is None:
            return None
        last = self._session.scalar(
            sa.select(sa.func.max(PromptVersionRow.version)).where(PromptVersionRow.prompt_id == row.id)) or 0
        return PromptHead(id=row.id, name=row.name, type=row.type, last_version=last)

    def find_version(self, project_id: str, name: str, selector: Selector) -> PromptVersion | None:
        found = self.versions(project_id, name, selector)
        return found[0] if found else None

    def find_dependency(self, project_id: str, ref: DependencyRef) -> PromptVersion | None:
        return self.find_version(project_id, ref.name, Selector(version=ref.version, label=ref.label))

    def versions(self, project_id: str, name: str, selector: Selector | None = None) -> list[PromptVersion]:
        """All versions of a prompt (None), or those one selector picks, by version number."""
        stmt = (
            sa.select(PromptVersionRow, PromptRow.name, PromptRow.type)
            .join(PromptRow, PromptRow.id == PromptVersionRow.prompt_id)
            .where(PromptRow.project_id == project_id, PromptRow.name == name)
            .order_by(PromptVersionRow.version)
        )
        if selector is not None and selector.version is not None:
            stmt = stmt.where(PromptVersionRow.version == selector.version)
        elif selector is not None:
            stmt = stmt.join(PromptLabelRow, PromptLabelRow.version_id == PromptVersionRow.id).where(
                PromptLabelRow.label == selector.effective_label)
        return self._assemble(self._session.execute(stmt).all())

    def ids_for(self, project_id: str, pairs: Iterable[tuple[str, int]]) -> dict[tuple[str, int], str]:
        """Version ids by (name, version) for the pairs that exist; the lookup behind prompt links."""
        wanted = set(pairs)
        if not wanted:
            return {}
        found: dict[tuple[str, int], str] = {}
        names = sorted({name for name, _ in wanted})
        for chunk in chunks(names):
            rows = self._session.execute(
                sa.select(PromptRow.name, PromptVersionRow.version, PromptVersionRow.id)
                .join(PromptVersionRow, PromptVersionRow.prompt_id == PromptRow.id)
                .where(PromptRow.project_id == project_id, PromptRow.name.in_(chunk))
            )
            for name, version, version_id in rows:
                if (name, version) in wanted:
                    found[(name, version)] = version_id
        return found

    def dependents(self, project_id: str, name: str) -> list[Dependent]:
        """Versions of other prompts that reference `name`."""
        rows = self._session.execute(
            sa.select(PromptRow.name, PromptVersionRow.version, PromptDependencyRow.child_version,
                      PromptDependencyRow.child_label)
            .join(PromptVersionRow, PromptVersionRow.id == PromptDependencyRow.parent_version_id)
            .join(PromptRow, PromptRow.id == PromptVersionRow.prompt_id)
            .where(PromptDependencyRow.project_id == project_id, PromptDependencyRow.child_name == name,
                   PromptRow.name != name)
            .order_by(PromptRow.name, PromptVersionRow.version)
        )
        return [Dependent(*row) for row in rows]

    def list_summaries(self, project_id: str, where: PromptFilter, page: Page) -> tuple[list[PromptSummary], int]:
        """One page of prompt names (by name) with their versions matching `where`, and the total."""
        matching = self._matching_versions(project_id, where)
        total = self._session.scalar(matching.with_only_columns(sa.func.count(sa.distinct(PromptRow.id)))) or 0
        names = list(self._session.scalars(
            matching.with_only_columns(PromptRow.name).distinct().order_by(PromptRow.name)
            .offset(page.offset).limit(page.limit)))
        if not names:
            return [], total
        rows = self._session.execute(
            matching.with_only_columns(PromptRow.id, PromptRow.name, PromptRow.type, PromptVersionRow.id,
                                       PromptVersionRow.version, PromptVersionRow.config,
                                       PromptVersionRow.updated_at)
            .where(PromptRow.name.in_(names))
            .order_by(PromptRow.name, PromptVersionRow.version)
        ).all()
        version_ids = [row[3] for row in rows]
        labels = self._labels_of(version_ids)
        tags = self._tags_of({row[0] for row in rows})
        grouped: dict[str, list[Any]] = defaultdict(list)
        for row in rows:
            grouped[row[1]].append(row)
        summaries = []
        for name in names:
            group = grouped[name]
            newest = max(group, key=lambda row: (row[6], row[4]))
            summaries.append(PromptSummary(
                name=name,
                type=group[0][2],
                versions=tuple(row[4] for row in group),
                labels=tuple(sorted({label for row in group for label in labels.get(row[3], ())})),
                tags=tags.get(group[0][0], ()),
                last_updated_at=newest[6],
                last_config=newest[5],
            ))
        return summaries, total

    def _matching_versions(self, project_id: str, where: PromptFilter) -> sa.Select[Any]:
        stmt = (
            sa.select(PromptVersionRow.id)
            .join(PromptRow, PromptRow.id == PromptVersionRow.prompt_id)
            .where(PromptRow.project_id == project_id)
        )
        if where.name is not None:
            stmt = stmt.where(PromptRow.name == where.name)
        if where.version is not None:
            stmt = stmt.where(PromptVersionRow.version == where.version)
        if where.label is not None:
            stmt = stmt.where(sa.exists().where(PromptLabelRow.version_id == PromptVersionRow.id,
                                                PromptLabelRow.label == where.label))
        if where.tag is not None:
            stmt = stmt.where(sa.exists().where(PromptTagRow.prompt_id == PromptRow.id,
                                                PromptTagRow.tag == where.tag))
        if where.from_updated_at is not None:
            stmt = stmt.where(PromptVersionRow.updated_at >= where.from_updated_at)
        if where.to_updated_at is not None:
            stmt = stmt.where(PromptVersionRow.updated_at < where.to_updated_at)
        return stmt

    def protected_labels(self, project_id: str) -> list[str]:
        return list(self._session.scalars(
            sa.select(ProtectedPromptLabelRow.label).where(ProtectedPromptLabelRow.project_id == project_id)
            .order_by(ProtectedPromptLabelRow.label)))

    # -- writes --------------------------------------------------------------------

    def create_version(
        self,
        project_id: str,
        head: PromptHead | None,
        draft: PromptDraft,
        labels: Sequence[str],
        created_by: str,
        dependencies: Sequence[DependencyRef],
    ) -> PromptVersion:
        """Insert version `head.last_version + 1` (1 for a new prompt) holding `labels`.

        The labels are taken from whichever versions held them. Given tags replace the
        prompt's tags (on every version, as Langfuse does).
        """
        now = utcnow()
        if head is None:
            prompt_id = str(uuid.uuid4())
            self._session.execute(sa.insert(PromptRow).values(
                id=prompt_id, project_id=project_id, name=draft.name, type=draft.type, created_at=now,
                updated_at=now))
            number = 1
        else:
            prompt_id, number = head.id, head.last_version + 1
            self._session.execute(sa.update(PromptRow).where(PromptRow.id == prompt_id).values(updated_at=now))
        if draft.tags is not None:
            self._replace_tags(prompt_id, draft.tags, now)
        version_id = str(uuid.uuid4())
        self._session.execute(sa.insert(PromptVersionRow).values(
            id=version_id, prompt_id=prompt_id, project_id=project_id, version=number, content=draft.prompt,
            config=draft.config, commit_message=draft.commit_message, created_by=created_by, created_at=now,
            updated_at=now))
        self._move_labels(prompt_id, version_id, labels, now)
        if dependencies:
            self._session.execute(sa.insert(PromptDependencyRow), [
                {"id": str(uuid.uuid4()), "project_id": project_id, "parent_version_id": version_id,
                 "child_name": ref.name, "child_version": ref.version, "child_label": ref.label}
                for ref in dependencies
            ])
        self._session.flush()
        found = self.find_version(project_id, draft.name, Selector(version=number))
        assert found is not None
        return found

    def add_labels(self, version: PromptVersion, labels: Sequence[str]) -> PromptVersion:
        """Give `version` these labels too (taking them from other versions); its own stay."""
        head = self.find_head(version.project_id, version.name)
        assert head is not None
        new = [label for label in labels if label not in version.labels]
        if new:
            self._move_labels(head.id, version.id, new, utcnow())
        found = self.find_version(version.project_id, version.name, Selector(version=version.version))
        assert found is not None
        return found

    def delete_versions(self, project_id: str, name: str, versions: Sequence[PromptVersion]) -> None:
        """Delete these versions; the prompt goes with its last one, and `latest` moves to the newest left."""
        head = self.find_head(project_id, name)
        if head is None:
            return
        self._session.execute(sa.delete(PromptVersionRow).where(
            PromptVersionRow.id.in_([version.id for version in versions])))
        self._session.flush()
        remaining = self._session.scalar(
            sa.select(sa.func.max(PromptVersionRow.version)).where(PromptVersionRow.prompt_id == head.id))
        if remaining is None:
            self._session.execute(sa.delete(PromptRow).where(PromptRow.id == head.id))
            return
        holder = self._session.scalar(sa.select(PromptLabelRow.version_id).where(
            PromptLabelRow.prompt_id == head.id, PromptLabelRow.label == LATEST))
        if holder is None:
            newest = self._session.scalar(sa.select(PromptVersionRow.id).where(
                PromptVersionRow.prompt_id == head.id, PromptVersionRow.version == remaining))
            self._move_labels(head.id, newest, [LATEST], utcnow())

    def protect_label(self, project_id: str, label: str) -> None:
        exists = self._session.scalar(sa.select(sa.func.count()).select_from(ProtectedPromptLabelRow).where(
            ProtectedPromptLabelRow.project_id == project_id, ProtectedPromptLabelRow.label == label))
        if not exists:
            self._session.execute(sa.insert(ProtectedPromptLabelRow).values(project_id=project_id, label=label))

    def unprotect_label(self, project_id: str, label: str) -> bool:
        result = self._session.execute(sa.delete(ProtectedPromptLabelRow).where(
            ProtectedPromptLabelRow.project_id == project_id, ProtectedPromptLabelRow.label == label))
        return bool(result.rowcount)

    # -- helpers -------------------------------------------------------------------

    def _move_labels(self, prompt_id: str, version_id: str, labels: Sequence[str], now: datetime) -> None:
        if not labels:
            return
        previous = set(self._session.scalars(sa.select(PromptLabelRow.version_id).where(
            PromptLabelRow.prompt_id == prompt_id, PromptLabelRow.label.in_(labels))))
        self._session.execute(sa.delete(PromptLabelRow).where(
            PromptLabelRow.prompt_id == prompt_id, PromptLabelRow.label.in_(labels)))
        start = self._session.scalar(sa.select(sa.func.max(PromptLabelRow.position)).where(
            PromptLabelRow.version_id == version_id))
        start = -1 if start is None else start
        self._session.execute(sa.insert(PromptLabelRow), [
            {"prompt_id": prompt_id, "label": label, "version_id": version_id, "position": start + 1 + offset}
            for offset, label in enumerate(labels)
        ])
        touched = (previous | {version_id})
        self._session.execute(sa.update(PromptVersionRow).where(PromptVersionRow.id.in_(touched))
                              .values(updated_at=now))

    def _replace_tags(self, prompt_id: str, tags: Sequence[str], now: datetime) -> None:
        self._session.execute(sa.delete(PromptTagRow).where(PromptTagRow.prompt_id == prompt_id))
        if tags:
            self._session.execute(sa.insert(PromptTagRow), [
                {"prompt_id": prompt_id, "tag": tag, "position": position} for position, tag in enumerate(tags)
            ])
        self._session.execute(sa.update(PromptVersionRow).where(PromptVersionRow.prompt_id == prompt_id)
                              .values(updated_at=now))

    def _labels_of(self, version_ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
        return self._ordered(PromptLabelRow.version_id, PromptLabelRow.label, PromptLabelRow.position, version_ids)

    def _tags_of(self, prompt_ids: Iterable[str]) -> dict[str, tuple[str, ...]]:
        return self._ordered(PromptTagRow.prompt_id, PromptTagRow.tag, PromptTagRow.position, sorted(prompt_ids))

    def _ordered(self, owner: Any, value: Any, position: Any, owners: Sequence[str]) -> dict[str, tuple[str, ...]]:
        """The values (labels, tags) of each owner, in position order."""
        out: dict[str, list[str]] = defaultdict(list)
        for chunk in chunks(list(owners)):
            for key, item in self._session.execute(
                sa.select(owner, value).where(owner.in_(chunk)).order_by(owner, position)
            ):
                out[key].append(item)
        return {key: tuple(items) for key, items in out.items()}

    def _assemble(self, rows: Sequence[Any]) -> list[PromptVersion]:
        if not rows:
            return []
        labels = self._labels_of([row[0].id for row in rows])
        tags = self._tags_of({row[0].prompt_id for row in rows})
        return [
            PromptVersion(
                id=version.id,
                project_id=version.project_id,
                name=name,
                version=version.version,
                type=kind,
                prompt=version.content,
                config=version.config,
                labels=labels.get(version.id, ()),
                tags=tags.get(version.prompt_id, ()),
                commit_message=version.commit_message,
                created_by=version.created_by,
                created_at=version.created_at,
                updated_at=version.updated_at,
            )
            for version, name, kind in rows
        ]
