"""Datasets, versioned dataset items, runs and run items.

An item change never updates a row in place: the current version gets `valid_to` and a
new version starts at the same instant, so "the dataset as of t" is one range condition.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from spyglass.domain.datasets import Dataset, DatasetItem, DatasetRun, DatasetRunItem
from spyglass.domain.queries import Page
from spyglass.storage.oltp.repositories.batching import chunks
from spyglass.storage.oltp.tables import DatasetItemRow, DatasetRow, DatasetRunItemRow, DatasetRunRow, utcnow


class DatasetRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    # -- datasets ------------------------------------------------------------------

    def find_dataset(self, project_id: str, *, name: str | None = None, dataset_id: str | None = None,
                     lock: bool = False) -> Dataset | None:
        stmt = sa.select(DatasetRow).where(DatasetRow.project_id == project_id)
        stmt = stmt.where(DatasetRow.name == name) if name is not None else stmt.where(DatasetRow.id == dataset_id)
        if lock:
            stmt = stmt.with_for_update()
        row = self._session.scalars(stmt).first()
        return _dataset(row) if row is not None else None

    def list_datasets(self, project_id: str, page: Page) -> tuple[list[Dataset], int]:
        where = DatasetRow.project_id == project_id
        total = self._session.scalar(sa.select(sa.func.count()).select_from(DatasetRow).where(where)) or 0
        rows = self._session.scalars(sa.select(DatasetRow).where(where).order_by(DatasetRow.created_at.desc(),
                                                                                 DatasetRow.id)
                                     .offset(page.offset).limit(page.limit))
        return [_dataset(row) for row in rows], total

    def create_dataset(self, project_id: str, dataset_id: str, name: str, values: dict[str, Any]) -> Dataset:
        now = utcnow()
        self._session.execute(sa.insert(DatasetRow).values(
            id=dataset_id, project_id=project_id, name=name, created_at=now, updated_at=now,
            **_dataset_columns(values)))
        found = self.find_dataset(project_id, dataset_id=dataset_id)
        assert found is not None
        return found

    def update_dataset(self, dataset: Dataset, values: dict[str, Any]) -> Dataset:
        if values:
            self._session.execute(sa.update(DatasetRow).where(DatasetRow.project_id == dataset.project_id,
                                                              DatasetRow.id == dataset.id)
                                  .values(updated_at=utcnow(), **_dataset_columns(values)))
        found = self.find_dataset(dataset.project_id, dataset_id=dataset.id)
        assert found is not None
        return found

    # -- items ---------------------------------------------------------------------

    def find_item(self, project_id: str, item_id: str, *, lock: bool = False) -> DatasetItem | None:
        """The current version of an item (ARCHIVED included, deleted not)."""
        stmt = (_item_select().where(DatasetItemRow.project_id == project_id, DatasetItemRow.id == item_id,
                                     DatasetItemRow.valid_to.is_(None), DatasetItemRow.is_deleted.is_(False)))
        if lock:
            stmt = stmt.with_for_update(of=DatasetItemRow)
        row = self._session.execute(stmt).first()
        return _item(*row) if row is not None else None

    def item_dataset_id(self, project_id: str, item_id: str) -> str | None:
        """The dataset an item id belongs to, even if deleted (ids are not reused across datasets)."""
        return self._session.scalar(sa.select(DatasetItemRow.dataset_id).where(
            DatasetItemRow.project_id == project_id, DatasetItemRow.id == item_id).limit(1))

    def list_items(self, project_id: str, *, dataset_id: str | None, source_trace_id: str | None,
                   source_observation_id: str | None, as_of: datetime | None, active_only: bool,
                   page: Page | None) -> tuple[list[DatasetItem], int]:
        """Items newest first (by creation, then id): current versions, or the versions live at `as_of`."""
        conditions = [DatasetItemRow.project_id == project_id, DatasetItemRow.is_deleted.is_(False)]
        if as_of is None:
            conditions.append(DatasetItemRow.valid_to.is_(None))
        else:
            conditions += [DatasetItemRow.valid_from <= as_of,
                           sa.or_(DatasetItemRow.valid_to.is_(None), DatasetItemRow.valid_to > as_of)]
        if dataset_id is not None:
            conditions.append(DatasetItemRow.dataset_id == dataset_id)
        if source_trace_id is not None:
            conditions.append(DatasetItemRow.source_trace_id == source_trace_id)
        if source_observation_id is not None:
            conditions.append(DatasetItemRow.source_observation_id == source_observation_id)
        if active_only:
            conditions.append(DatasetItemRow.status == "ACTIVE")
        total = self._session.scalar(sa.select(sa.func.count()).select_from(DatasetItemRow).where(*conditions)) or 0
        stmt = _item_select().where(*conditions).order_by(DatasetItemRow.created_at.desc(), DatasetItemRow.id)
        if page is not None:
            stmt = stmt.offset(page.offset).limit(page.limit)
        return [_item(*row) for row in self._session.execute(stmt)], total

    def put_item_version(self, project_id: str, dataset_id: str, item_id: str, values: dict[str, Any], *,
                         created_at: datetime | None, deleted: bool = False) -> None:
        """Close the item's current version (if any) and start a new one with `values`."""
        current = self._session.execute(
            sa.select(DatasetItemRow.row_id, DatasetItemRow.valid_from).where(
                DatasetItemRow.project_id == project_id, DatasetItemRow.id == item_id,
                DatasetItemRow.valid_to.is_(None))
        ).first()
        now = utcnow()
        if current is not None:
            # Two versions in the same microsecond would share a key: keep them strictly ordered.
            now = max(now, current.valid_from + timedelta(microseconds=1))
            self._session.execute(sa.update(DatasetItemRow).where(DatasetItemRow.row_id == current.row_id)
                                  .values(valid_to=now))
        self._session.execute(sa.insert(DatasetItemRow).values(
            row_id=str(uuid.uuid4()), id=item_id, project_id=project_id, dataset_id=dataset_id,
            status=values.get("status", "ACTIVE"), input=values.get("input"),
            expected_output=values.get("expected_output"), metadata_=values.get("metadata"),
            source_trace_id=values.get("source_trace_id"), source_observation_id=values.get("source_observation_id"),
            is_deleted=deleted, created_at=created_at or now, valid_from=now, valid_to=None))

    # -- runs ----------------------------------------------------------------------

    def find_run(self, dataset: Dataset, name: str) -> DatasetRun | None:
        row = self._session.scalars(sa.select(DatasetRunRow).where(
            DatasetRunRow.project_id == dataset.project_id, DatasetRunRow.dataset_id == dataset.id,
            DatasetRunRow.name == name)).first()
        return _run(row, dataset.name) if row is not None else None

    def find_run_by_id(self, project_id: str, run_id: str) -> DatasetRun | None:
        found = self.list_experiments(project_id, ids=[run_id])
        return found[0] if found else None

    def list_experiments(self, project_id: str, *, ids: Sequence[str] = (), names: Sequence[str] = (),
                         dataset_ids: Sequence[str] = ()) -> list[DatasetRun]:
        """Runs of any dataset and of local data, narrowed by the given ids, names, dataset ids."""
        stmt = (sa.select(DatasetRunRow, DatasetRow.name)
                .outerjoin(DatasetRow, sa.and_(DatasetRow.project_id == DatasetRunRow.project_id,
                                               DatasetRow.id == DatasetRunRow.dataset_id))
                .where(DatasetRunRow.project_id == project_id)
                .order_by(DatasetRunRow.created_at.desc(), DatasetRunRow.id))
        if ids:
            stmt = stmt.where(DatasetRunRow.id.in_(list(ids)))
        if names:
            stmt = stmt.where(DatasetRunRow.name.in_(list(names)))
        if dataset_ids:
            stmt = stmt.where(DatasetRunRow.dataset_id.in_(list(dataset_ids)))
        return [_run(*row) for row in self._session.execute(stmt)]

    def list_runs(self, dataset: Dataset, page: Page | None) -> tuple[list[DatasetRun], int]:
        where = sa.and_(DatasetRunRow.project_id == dataset.project_id, DatasetRunRow.dataset_id == dataset.id)
        total = self._session.scalar(sa.select(sa.func.count()).select_from(DatasetRunRow).where(where)) or 0
        stmt = sa.select(DatasetRunRow).where(where).order_by(DatasetRunRow.created_at.desc(), DatasetRunRow.id)
        if page is not None:
            stmt = stmt.offset(page.offset).limit(page.limit)
        return [_run(row, dataset.name) for row in self._session.scalars(stmt)], total

    def create_run(self, project_id: str, dataset: Dataset | None, name: str, description: str | None,
                   metadata: Any, run_id: str | None = None) -> DatasetRun:
        """A run of `dataset`, or of local data for None."""
        now = utcnow()
        run_id = run_id or str(uuid.uuid4())
        self._session.execute(sa.insert(DatasetRunRow).values(
            id=run_id, project_id=project_id, dataset_id=dataset.id if dataset else None, name=name,
            description=description, metadata_=metadata, created_at=now, updated_at=now))
        return DatasetRun(id=run_id, project_id=project_id, dataset_id=dataset.id if dataset else None,
                          dataset_name=dataset.name if dataset else None, name=name, description=description,
                          metadata=metadata, created_at=now, updated_at=now)

    def delete_run(self, run: DatasetRun) -> None:
        self._session.execute(sa.delete(DatasetRunRow).where(DatasetRunRow.project_id == run.project_id,
                                                             DatasetRunRow.id == run.id))

    def add_run_item(self, run: DatasetRun, item_id: str, trace_id: str | None, observation_id: str | None,
                     declared: dict[str, Any] | None = None) -> DatasetRunItem:
        """`declared`: item_version, expected_output, item_metadata as an experiment span gave them."""
        now = utcnow()
        run_item_id = str(uuid.uuid4())
        self._session.execute(sa.insert(DatasetRunItemRow).values(
            id=run_item_id, project_id=run.project_id, dataset_run_id=run.id, dataset_item_id=item_id,
            trace_id=trace_id, observation_id=observation_id, created_at=now, updated_at=now, **(declared or {})))
        self._session.execute(sa.update(DatasetRunRow).where(DatasetRunRow.project_id == run.project_id,
                                                             DatasetRunRow.id == run.id).values(updated_at=now))
        return DatasetRunItem(id=run_item_id, project_id=run.project_id, dataset_run_id=run.id,
                              dataset_run_name=run.name, dataset_item_id=item_id, trace_id=trace_id,
                              observation_id=observation_id, created_at=now, updated_at=now, **(declared or {}))

    def declare_run_item(self, run_item: DatasetRunItem, observation_id: str, declared: dict[str, Any]) -> None:
        """Fill what an experiment span declares into an item that was posted before it arrived."""
        self._session.execute(sa.update(DatasetRunItemRow).where(DatasetRunItemRow.id == run_item.id).values(
            observation_id=run_item.observation_id or observation_id, **declared))

    def find_run_item(self, run: DatasetRun, item_id: str, trace_id: str) -> DatasetRunItem | None:
        row = self._session.scalars(sa.select(DatasetRunItemRow).where(
            DatasetRunItemRow.project_id == run.project_id, DatasetRunItemRow.dataset_run_id == run.id,
            DatasetRunItemRow.dataset_item_id == item_id,
            DatasetRunItemRow.trace_id == trace_id).limit(1)).first()
        return _run_item(row, run.name) if row is not None else None

    def run_items(self, runs: Sequence[DatasetRun], page: Page | None = None) -> tuple[list[DatasetRunItem], int]:
        """The items of these runs, oldest first."""
        names = {run.id: run.name for run in runs}
        if not names:
            return [], 0
        where = sa.and_(DatasetRunItemRow.project_id == runs[0].project_id,
                        DatasetRunItemRow.dataset_run_id.in_(list(names)))
        total = self._session.scalar(sa.select(sa.func.count()).select_from(DatasetRunItemRow).where(where)) or 0
        stmt = sa.select(DatasetRunItemRow).where(where).order_by(DatasetRunItemRow.created_at, DatasetRunItemRow.id)
        if page is not None:
            stmt = stmt.offset(page.offset).limit(page.limit)
        return [_run_item(row, names[row.dataset_run_id]) for row in self._session.scalars(stmt)], total

    def active_item_ids(self, project_id: str, dataset_ids: Sequence[str]) -> dict[str, list[str]]:
        """Per dataset, the ids of its current ACTIVE items, newest first (as `list_items` orders them)."""
        out: dict[str, list[str]] = {dataset_id: [] for dataset_id in dataset_ids}
        for chunk in chunks(list(dataset_ids)):
            for dataset_id, item_id in self._session.execute(
                sa.select(DatasetItemRow.dataset_id, DatasetItemRow.id).where(
                    DatasetItemRow.project_id == project_id, DatasetItemRow.dataset_id.in_(chunk),
                    DatasetItemRow.valid_to.is_(None), DatasetItemRow.is_deleted.is_(False),
                    DatasetItemRow.status == "ACTIVE")
                .order_by(DatasetItemRow.created_at.desc(), DatasetItemRow.id)
            ):
                out[dataset_id].append(item_id)
        return out

    def run_names(self, project_id: str, dataset_ids: Sequence[str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {dataset_id: [] for dataset_id in dataset_ids}
        for chunk in chunks(list(dataset_ids)):
            for dataset_id, name in self._session.execute(
                sa.select(DatasetRunRow.dataset_id, DatasetRunRow.name).where(
                    DatasetRunRow.project_id == project_id, DatasetRunRow.dataset_id.in_(chunk))
                .order_by(DatasetRunRow.created_at, DatasetRunRow.id)
            ):
                out[dataset_id].append(name)
        return out


def _dataset_columns(values: dict[str, Any]) -> dict[str, Any]:
    return {("metadata_" if key == "metadata" else key): value for key, value in values.items()}


def _item_select() -> sa.Select[Any]:
    return sa.select(DatasetItemRow, DatasetRow.name).join(
        DatasetRow,
        sa.and_(DatasetRow.project_id == DatasetItemRow.project_id, DatasetRow.id == DatasetItemRow.dataset_id),
    )


def _dataset(row: DatasetRow) -> Dataset:
    return Dataset(id=row.id, project_id=row.project_id, name=row.name, description=row.description,
                   metadata=row.metadata_, input_schema=row.input_schema,
                   expected_output_schema=row.expected_output_schema, created_at=row.created_at,
                   updated_at=row.updated_at)


def _item(row: DatasetItemRow, dataset_name: str) -> DatasetItem:
    return DatasetItem(id=row.id, project_id=row.project_id, dataset_id=row.dataset_id, dataset_name=dataset_name,
                       status=row.status, input=row.input, expected_output=row.expected_output,  # type: ignore[arg-type]
                       metadata=row.metadata_, source_trace_id=row.source_trace_id,
                       source_observation_id=row.source_observation_id, created_at=row.created_at,
                       updated_at=row.valid_from)


def _run(row: DatasetRunRow, dataset_name: str) -> DatasetRun:
    return DatasetRun(id=row.id, project_id=row.project_id, dataset_id=row.dataset_id, dataset_name=dataset_name,
                      name=row.name, description=row.description, metadata=row.metadata_,
                      created_at=row.created_at, updated_at=row.updated_at)


def _run_item(row: DatasetRunItemRow, run_name: str) -> DatasetRunItem:
    return DatasetRunItem(id=row.id, project_id=row.project_id, dataset_run_id=row.dataset_run_id,
                          dataset_run_name=run_name, dataset_item_id=row.dataset_item_id, trace_id=row.trace_id,
                          observation_id=row.observation_id, created_at=row.created_at, updated_at=row.updated_at,
                          item_version=row.item_version, expected_output=row.expected_output,
                          item_metadata=row.item_metadata)
