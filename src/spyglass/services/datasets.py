"""Datasets, items, experiment runs and the score aggregates that compare runs.

Items are versioned in the OLTP store, so `list_items(..., as_of=t)` serves a dataset as
it was when an experiment ran. Run items live beside the runs (not in the OLAP store):
the SDK reads a run right after writing its items, and a run holds few of them; the
scores they are compared by stay in the OLAP store and are aggregated there.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from spyglass.domain.access import ProjectScope
from spyglass.domain.datasets import (
    Dataset,
    DatasetDraft,
    DatasetItem,
    DatasetRun,
    DatasetRunItem,
    ExperimentLink,
    ItemDraft,
    RunItemDraft,
    check_item_schemas,
    import_rows,
    parse_dataset,
    parse_item,
    parse_run_item,
    schema_violation,
)
from spyglass.domain.errors import Conflict, InvalidInput, NotFound
from spyglass.domain.queries import Page
from spyglass.services.media import item_fields, link_item_media
from spyglass.services.retries import retrying_duplicates
from spyglass.storage.oltp.repositories.datasets import DatasetRepository
from spyglass.storage.oltp.store import OltpStore, UnitOfWork

log = logging.getLogger(__name__)

_ITEM_FIELDS: Final = ("status", "input", "expected_output", "metadata", "source_trace_id", "source_observation_id")
_IMPORT_CHUNK: Final = 500

TraceOf = Callable[[ProjectScope, str], str | None]
ScoreAggregates = Callable[..., list[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class RunScores:
    run: DatasetRun
    item_count: int
    item_scores: list[dict[str, Any]]
    run_scores: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class ImportResult:
    created: int
    errors: list[tuple[int, str]]


class DatasetService:
    def __init__(self, store: OltpStore, trace_of: TraceOf, score_aggregates: ScoreAggregates) -> None:
        self._store = store
        self._trace_of = trace_of
        self._score_aggregates = score_aggregates
        # Writers of this process take turns; other processes' writers are caught by unique
        # keys and retried (`retrying_duplicates`).
        self._write_lock = threading.Lock()

    # -- datasets ------------------------------------------------------------------

    def upsert_dataset(self, scope: ProjectScope, body: Any) -> Dataset:
        """Create a dataset, or update the one with this name (or `id`)."""
        draft = parse_dataset(body)
        changes = draft.changes()
        return retrying_duplicates(lambda: self._upsert_dataset(scope, draft, changes), "dataset")

    def _upsert_dataset(self, scope: ProjectScope, draft: DatasetDraft, changes: dict[str, Any]) -> Dataset:
        with self._write_lock, self._store.session() as uow:
            repo = uow.datasets
            by_name = repo.find_dataset(scope.project_id, name=draft.name, lock=True)
            existing = by_name
            if draft.id is not None:
                existing = repo.find_dataset(scope.project_id, dataset_id=draft.id, lock=True)
                if existing is None and by_name is not None:
                    raise Conflict(f"A dataset named '{draft.name}' already exists with another id")
                if existing is not None and existing.name != draft.name:
                    raise InvalidInput("A dataset's name cannot be changed through its id")
            if existing is None:
                return repo.create_dataset(scope.project_id, draft.id or str(uuid.uuid4()), draft.name, changes)
            _check_existing_items(repo, existing, changes)
            return repo.update_dataset(existing, changes)

    def list_datasets(self, scope: ProjectScope, page: Page) -> tuple[list[Dataset], int]:
        with self._store.session() as uow:
            return uow.datasets.list_datasets(scope.project_id, page)

    def get_dataset(self, scope: ProjectScope, name: str) -> Dataset:
        with self._store.session() as uow:
            return _dataset(uow.datasets, scope.project_id, name)

    def run_names(self, scope: ProjectScope, dataset_ids: list[str]) -> dict[str, list[str]]:
        with self._store.session() as uow:
            return uow.datasets.run_names(scope.project_id, dataset_ids)

    def active_item_ids(self, scope: ProjectScope, dataset_ids: list[str]) -> dict[str, list[str]]:
        with self._store.session() as uow:
            return uow.datasets.active_item_ids(scope.project_id, dataset_ids)

    # -- items ---------------------------------------------------------------------

    def upsert_item(self, scope: ProjectScope, body: Any) -> DatasetItem:
        draft = parse_item(body)
        return retrying_duplicates(lambda: self._upsert_item(scope, draft), "dataset item")

    def _upsert_item(self, scope: ProjectScope, draft: ItemDraft) -> DatasetItem:
        with self._write_lock, self._store.session() as uow:
            dataset = _dataset(uow.datasets, scope.project_id, draft.dataset_name)
            item_id = self._put_item(uow, dataset, draft)
            found = uow.datasets.find_item(scope.project_id, item_id)
        assert found is not None
        return found

    def get_item(self, scope: ProjectScope, item_id: str) -> DatasetItem:
        with self._store.session() as uow:
            item = uow.datasets.find_item(scope.project_id, item_id)
        if item is None:
            raise NotFound(f"Dataset item {item_id} not found within authorized project")
        return item

    def list_items(self, scope: ProjectScope, *, dataset_name: str | None, source_trace_id: str | None,
                   source_observation_id: str | None, as_of: datetime | None,
                   page: Page | None) -> tuple[list[DatasetItem], int]:
        """ACTIVE items, newest first; `as_of` (needs a dataset) gives them as they were then."""
        if as_of is not None and dataset_name is None:
            raise InvalidInput("version requires datasetName")
        with self._store.session() as uow:
            dataset_id = None if dataset_name is None else _dataset(uow.datasets, scope.project_id, dataset_name).id
            return uow.datasets.list_items(scope.project_id, dataset_id=dataset_id, source_trace_id=source_trace_id,
                                           source_observation_id=source_observation_id, as_of=as_of,
                                           active_only=True, page=page)

    def delete_item(self, scope: ProjectScope, item_id: str) -> None:
        with self._write_lock, self._store.session() as uow:
            item = uow.datasets.find_item(scope.project_id, item_id, lock=True)
            if item is None:
                raise NotFound(f"Dataset item {item_id} not found within authorized project")
            uow.datasets.put_item_version(scope.project_id, item.dataset_id, item.id, _values(item),
                                          created_at=item.created_at, deleted=True)

    def import_items(self, scope: ProjectScope, dataset_name: str, data: bytes, file_format: str,
                     progress: Callable[[int], None] | None = None) -> ImportResult:
        """Create items from a CSV or JSONL file: bad rows are reported and skipped, the rest
        stored in one transaction (a failure stores none of them)."""
        rows = list(import_rows(data, file_format, dataset_name))
        errors = [(row.row, row.error) for row in rows if row.error is not None]
        created = 0
        with self._write_lock, self._store.session() as uow:
            dataset = _dataset(uow.datasets, scope.project_id, dataset_name)
            for chunk_start in range(0, len(rows), _IMPORT_CHUNK):
                chunk = rows[chunk_start:chunk_start + _IMPORT_CHUNK]
                for row in chunk:
                    if row.draft is None:
                        continue
                    try:
                        self._put_item(uow, dataset, row.draft)
                        created += 1
                    except (InvalidInput, Conflict) as error:
                        errors.append((row.row, error.message))
                if progress is not None:
                    progress(len(chunk))
        return ImportResult(created=created, errors=sorted(errors))

    def _put_item(self, uow: UnitOfWork, dataset: Dataset, draft: ItemDraft) -> str:
        repo = uow.datasets
        item_id = draft.id or str(uuid.uuid4())
        owner = repo.item_dataset_id(dataset.project_id, item_id)
        if owner is not None and owner != dataset.id:
            raise Conflict(f"Dataset item {item_id} already exists in another dataset")
        current = repo.find_item(dataset.project_id, item_id, lock=True) if owner is not None else None
        values = _values(current) if current is not None else {"status": "ACTIVE"}
        values.update(draft.fields)
        check_item_schemas(dataset, values.get("input"), values.get("expected_output"))
        repo.put_item_version(dataset.project_id, dataset.id, item_id, values,
                              created_at=current.created_at if current is not None else None)
        link_item_media(uow.media, dataset.project_id, dataset.id, item_id,
                        item_fields(values.get("input"), values.get("expected_output"), values.get("metadata")))
        return item_id

    # -- runs ----------------------------------------------------------------------

    def create_run_item(self, scope: ProjectScope, body: Any) -> DatasetRunItem:
        """Link a trace (or observation) to a dataset item in a run; the run is created by name."""
        draft = parse_run_item(body)
        trace_id = draft.trace_id
        if trace_id is None:
            assert draft.observation_id is not None
            trace_id = self._trace_of(scope, draft.observation_id)
            if trace_id is None:
                raise InvalidInput(f"traceId is required: observation {draft.observation_id} is not known (yet)")
        metadata = draft.metadata
        if draft.dataset_version is not None:
            metadata = {**(metadata if isinstance(metadata, dict) else {}), "dataset_version": draft.dataset_version}
        return retrying_duplicates(lambda: self._add_run_item(scope, draft, trace_id, metadata), "dataset run")

    def _add_run_item(self, scope: ProjectScope, draft: RunItemDraft, trace_id: str,
                      metadata: Any) -> DatasetRunItem:
        with self._write_lock, self._store.session() as uow:
            repo = uow.datasets
            item = repo.find_item(scope.project_id, draft.dataset_item_id)
            if item is None:
                raise NotFound(f"Dataset item {draft.dataset_item_id} not found within authorized project")
            dataset = repo.find_dataset(scope.project_id, dataset_id=item.dataset_id)
            assert dataset is not None
            run = repo.find_run(dataset, draft.run_name) or repo.create_run(
                scope.project_id, dataset, draft.run_name, draft.run_description, metadata)
            # The experiment's spans may have recorded this item already (see ExperimentRecorder).
            return repo.find_run_item(run, item.id, trace_id) or repo.add_run_item(
                run, item.id, trace_id, draft.observation_id)

    def list_runs(self, scope: ProjectScope, dataset_name: str, page: Page | None) -> tuple[list[DatasetRun], int]:
        with self._store.session() as uow:
            dataset = _dataset(uow.datasets, scope.project_id, dataset_name)
            return uow.datasets.list_runs(dataset, page)

    def get_run(self, scope: ProjectScope, dataset_name: str, run_name: str) -> tuple[DatasetRun, list[DatasetRunItem]]:
        with self._store.session() as uow:
            run = _run(uow.datasets, scope.project_id, dataset_name, run_name)
            return run, uow.datasets.run_items([run])[0]

    def delete_run(self, scope: ProjectScope, dataset_name: str, run_name: str) -> None:
        with self._write_lock, self._store.session() as uow:
            uow.datasets.delete_run(_run(uow.datasets, scope.project_id, dataset_name, run_name))

    def list_run_items(self, scope: ProjectScope, dataset_id: str, run_name: str,
                       page: Page) -> tuple[list[DatasetRunItem], int]:
        with self._store.session() as uow:
            dataset = uow.datasets.find_dataset(scope.project_id, dataset_id=dataset_id)
            if dataset is None:
                raise NotFound("Dataset not found")
            run = uow.datasets.find_run(dataset, run_name)
            if run is None:
                raise NotFound("Dataset run not found")
            return uow.datasets.run_items([run], page)

    def run_scores(self, scope: ProjectScope, dataset_name: str, run_name: str | None = None) -> list[RunScores]:
        """Score aggregates of one run, or of every run of the dataset (newest first)."""
        with self._store.session() as uow:
            if run_name is not None:
                runs = [_run(uow.datasets, scope.project_id, dataset_name, run_name)]
            else:
                runs = uow.datasets.list_runs(_dataset(uow.datasets, scope.project_id, dataset_name), None)[0]
            items: dict[str, list[DatasetRunItem]] = {run.id: [] for run in runs}
            for item in uow.datasets.run_items(runs)[0]:
                items[item.dataset_run_id].append(item)
        out = []
        for run in runs:
            trace_ids = sorted({item.trace_id for item in items[run.id] if item.trace_id})
            out.append(RunScores(
                run=run,
                item_count=len(items[run.id]),
                item_scores=self._score_aggregates(scope.project_id, trace_ids=trace_ids),
                run_scores=self._score_aggregates(scope.project_id, dataset_run_id=run.id),
            ))
        return out


class ExperimentRecorder:
    """The worker's side of datasets: run items that experiment spans declare."""

    def __init__(self, store: OltpStore) -> None:
        self._store = store

    def record(self, links: list[ExperimentLink]) -> None:
        """Run items declared by experiment spans (the worker calls this; SDK 5.x posts none).

        The run is found by its id (SDK 4.x created it through the API), else by its name,
        else created under the SDK's id, so run-level scores that carry that id match. An
        item already recorded for the same trace (4.x posts it too) is not added again.
        Links to a dataset the project does not have are dropped.
        """
        with self._store.session() as uow:
            repo = uow.datasets
            for link in links:
                dataset = None
                if link.dataset_id is not None:
                    dataset = repo.find_dataset(link.project_id, dataset_id=link.dataset_id)
                    if dataset is None:
                        log.info("experiment %s names dataset %s, which project %s does not have; not recorded",
                                 link.run_id, link.dataset_id, link.project_id)
                        continue
                run = repo.find_run_by_id(link.project_id, link.run_id)
                if run is None or run.dataset_id != (dataset.id if dataset else None):
                    run = (repo.find_run(dataset, link.run_name) if dataset else None) or repo.create_run(
                        link.project_id, dataset, link.run_name, link.description, link.metadata, run_id=link.run_id)
                declared = {"item_version": link.item_version, "expected_output": link.expected_output,
                            "item_metadata": link.item_metadata}
                posted = repo.find_run_item(run, link.dataset_item_id, link.trace_id)
                if posted is None:
                    repo.add_run_item(run, link.dataset_item_id, link.trace_id, link.observation_id, declared)
                else:
                    repo.declare_run_item(posted, link.observation_id, declared)


def _dataset(repo: DatasetRepository, project_id: str, name: str) -> Dataset:
    dataset = repo.find_dataset(project_id, name=name)
    if dataset is None:
        raise NotFound("Dataset not found")
    return dataset


def _run(repo: DatasetRepository, project_id: str, dataset_name: str, run_name: str) -> DatasetRun:
    run = repo.find_run(_dataset(repo, project_id, dataset_name), run_name)
    if run is None:
        raise NotFound("Dataset run not found")
    return run


def _values(item: DatasetItem) -> dict[str, Any]:
    return {name: getattr(item, name) for name in _ITEM_FIELDS}


def _check_existing_items(repo: DatasetRepository, dataset: Dataset, changes: dict[str, Any]) -> None:
    """A schema set on a dataset must accept every current item (else 400 naming one that fails)."""
    checks: Iterable[tuple[str, str, str]] = [
        (key, field, wire) for key, field, wire in (("input_schema", "input", "input"),
                                                    ("expected_output_schema", "expected_output", "expectedOutput"))
        if changes.get(key) is not None
    ]
    if not checks:
        return
    items, _ = repo.list_items(dataset.project_id, dataset_id=dataset.id, source_trace_id=None,
                               source_observation_id=None, as_of=None, active_only=False, page=None)
    for key, field, wire in checks:
        for item in items:
            problem = schema_violation(changes[key], getattr(item, field), wire)
            if problem is not None:
                raise InvalidInput(f"Existing item {item.id}: {problem}")
