"""Experiments and their items, as `GET /api/public/experiments` and `/experiment-items` show them.

An experiment is a run (over a dataset or over local data) and its items are the run's
items; when and how each item ran comes from its task observation in the OLAP store, so
only items whose task started within the requested time range count.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from spyglass.domain.access import ProjectScope
from spyglass.domain.datasets import DatasetItem, DatasetRun, DatasetRunItem
from spyglass.domain.records import Record
from spyglass.storage.oltp.store import OltpStore

MAX_SCORES: Final = 50

ObservationsOf = Callable[[str, list[str], list[str]], list[Record]]
ScoresOf = Callable[[str, list[str]], list[Record]]


@dataclass(frozen=True, slots=True)
class ExperimentFilter:
    from_us: int
    to_us: int | None = None
    ids: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    dataset_ids: list[str] = field(default_factory=list)
    item_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Experiment:
    run: DatasetRun
    start_us: int
    end_us: int
    item_count: int
    scores: list[Record] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ExperimentItem:
    run: DatasetRun
    item: DatasetRunItem
    observation: Record
    dataset_item: DatasetItem | None = None
    scores: list[Record] = field(default_factory=list)


class ExperimentService:
    def __init__(self, store: OltpStore, observations_of: ObservationsOf, scores_of_traces: ScoresOf,
                 scores_of_runs: ScoresOf) -> None:
        self._store = store
        self._observations_of = observations_of
        self._scores_of_traces = scores_of_traces
        self._scores_of_runs = scores_of_runs

    def list_experiments(self, scope: ProjectScope, where: ExperimentFilter, *,
                         score_limit: int | None = None) -> list[Experiment]:
        """Experiments with items in the range, latest activity first (then by id)."""
        runs, items = self._runs_and_items(scope, where)
        by_run: dict[str, list[ExperimentItem]] = defaultdict(list)
        for item in items:
            by_run[item.run.id].append(item)
        found = []
        for run in runs:
            ran = by_run.get(run.id)
            if not ran:
                continue
            starts = [item.observation["start_time"] for item in ran]
            ends = [item.observation["end_time"] or item.observation["start_time"] for item in ran]
            found.append(Experiment(run=run, start_us=max(min(starts), where.from_us), end_us=max(ends),
                                    item_count=len(ran)))
        found.sort(key=lambda e: (-e.end_us, e.run.id))
        if score_limit is None:
            return found
        scores: dict[str, list[Record]] = defaultdict(list)
        for score in self._scores_of_runs(scope.project_id, [e.run.id for e in found]):
            scores[score["dataset_run_id"]].append(score)
        return [Experiment(e.run, e.start_us, e.end_us, e.item_count, scores[e.run.id][:score_limit]) for e in found]

    def list_items(self, scope: ProjectScope, where: ExperimentFilter, *, score_limit: int | None = None,
                   with_dataset_items: bool = False) -> list[ExperimentItem]:
        """Items whose task started in the range, newest first (then by id)."""
        _, items = self._runs_and_items(scope, where)
        items.sort(key=lambda i: (-i.observation["start_time"], i.item.id))
        if with_dataset_items:
            items = self._with_dataset_items(scope, items)
        if score_limit is None:
            return items
        scores: dict[str, list[Record]] = defaultdict(list)
        for score in self._scores_of_traces(scope.project_id, sorted({i.observation["trace_id"] for i in items})):
            scores[score["trace_id"]].append(score)
        return [ExperimentItem(i.run, i.item, i.observation, i.dataset_item,
                               scores[i.observation["trace_id"]][:score_limit]) for i in items]

    def _runs_and_items(self, scope: ProjectScope,
                        where: ExperimentFilter) -> tuple[list[DatasetRun], list[ExperimentItem]]:
        with self._store.session() as uow:
            runs = uow.datasets.list_experiments(scope.project_id, ids=where.ids, names=where.names,
                                                 dataset_ids=where.dataset_ids)
            run_items = uow.datasets.run_items(runs)[0]
        if where.item_ids:
            run_items = [item for item in run_items if item.dataset_item_id in where.item_ids]
        anchored = [item for item in run_items if item.trace_id and item.observation_id]
        observations = {
            obs["id"]: obs for obs in self._observations_of(
                scope.project_id, sorted({item.trace_id for item in anchored if item.trace_id}),
                sorted({item.observation_id for item in anchored if item.observation_id}))
        }
        run_of = {run.id: run for run in runs}
        items = []
        for item in anchored:
            obs = observations.get(item.observation_id or "")
            if obs is None or obs["start_time"] < where.from_us:
                continue
            if where.to_us is not None and obs["start_time"] >= where.to_us:
                continue
            items.append(ExperimentItem(run=run_of[item.dataset_run_id], item=item, observation=obs))
        return runs, items

    def _with_dataset_items(self, scope: ProjectScope, items: list[ExperimentItem]) -> list[ExperimentItem]:
        wanted = {i.item.dataset_item_id for i in items if i.run.dataset_id is not None}
        with self._store.session() as uow:
            found = {item_id: uow.datasets.find_item(scope.project_id, item_id) for item_id in sorted(wanted)}
        return [ExperimentItem(i.run, i.item, i.observation, found.get(i.item.dataset_item_id), i.scores)
                for i in items]
