"""Apply queue jobs to the OLAP store: read the durable input, merge, write new versions.

A group of jobs is applied as one unit: patches are merged in arrival order on top of
the stored records and written in a single pass (children before traces), so the
events of one request become readable together.
"""

from __future__ import annotations

import gzip
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

import orjson
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from spyglass.domain.datasets import EXPERIMENT_LINK, ExperimentLink
from spyglass.domain.events import event_to_patches, sort_events
from spyglass.domain.media import might_hold_inline_media
from spyglass.domain.merge import merge, new_record
from spyglass.domain.records import EntityKind, Patch, Record
from spyglass.ingestion.contracts import IngestJob
from spyglass.ingestion.media_extraction import MediaExtractor
from spyglass.ingestion.otel import request_to_patches
from spyglass.ingestion.pricing import Pricer
from spyglass.ingestion.prompt_links import PromptLinker
from spyglass.storage.blob.base import BlobStore
from spyglass.storage.olap.codec import sort_key_changed
from spyglass.storage.olap.records import RecordStore

log = logging.getLogger(__name__)

Key = tuple[EntityKind, str, str]  # (kind, project_id, id)
_CACHE_SIZE: Final = 5_000  # records carry their IO: bounded memory, enough for create→update bursts


@dataclass
class WritePlan:
    """Merged records (and tombstones of moved sort keys) ready to be written as one version."""

    records: dict[EntityKind, list[Record]]
    tombstones: dict[EntityKind, list[Record]]
    version: int
    # Experiment task spans: recorded as dataset run items once the records are written.
    experiment_links: list[ExperimentLink] = field(default_factory=list)


@dataclass
class _Loaded:
    """The patches of the jobs going into one plan, and whether any body could hold inline media."""

    patches: list[tuple[EntityKind, Patch, bool]] = field(default_factory=list)
    may_hold_media: bool = False

    def note_body(self, body: bytes, extracting: bool) -> None:
        # One scan of the raw body spares a scan of every field of every record without media.
        if extracting and not self.may_hold_media:
            self.may_hold_media = might_hold_inline_media(body)


class PoisonJob(Exception):
    """The job's input cannot ever be processed (missing or undecodable blob)."""


class RecordCache:
    """Recently merged records, so repeated updates of one entity skip the OLAP read.

    Valid only while this process is the single writer (embedded mode); `clear` on deletes.
    """

    def __init__(self, size: int = _CACHE_SIZE) -> None:
        self._items: OrderedDict[Key, Record] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: Key) -> Record | None:
        with self._lock:
            record = self._items.get(key)
            if record is not None:
                self._items.move_to_end(key)
            return record

    def put(self, key: Key, record: Record) -> None:
        if not self._size:
            return
        with self._lock:
            self._items[key] = record
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


class JobApplier:
    def __init__(
        self,
        blobs: BlobStore,
        records: RecordStore,
        clock: Callable[[], int],
        *,
        keep_raw_events: bool = False,
        sole_writer: bool = True,
        pricer: Pricer | None = None,
        linker: PromptLinker | None = None,
        experiments: Callable[[list[ExperimentLink]], None] | None = None,
        extractor: MediaExtractor | None = None,
        after_delete: Callable[[IngestJob], None] | None = None,
    ) -> None:
        self.blobs = blobs
        self.records = records
        self.clock = clock
        self.keep_raw_events = keep_raw_events
        self.pricer = pricer
        self.linker = linker
        self.experiments = experiments
        self.extractor = extractor
        # Cleans up what lives outside the OLAP store (media, OLTP rows) once the rows are gone.
        self.after_delete = after_delete
        # Another writer's update would not be in our cache: with several, always read the store.
        self.cache = RecordCache(_CACHE_SIZE if sole_writer else 0)
        self._last_ts = 0

    def _version(self) -> int:
        # Strictly increasing, so a later write always wins in ReplacingMergeTree.
        self._last_ts = max(self.clock(), self._last_ts + 1)
        return self._last_ts

    def apply(self, jobs: list[IngestJob]) -> None:
        """Apply jobs in order, synchronously (deletes included)."""
        loaded = _Loaded()
        for job in jobs:
            if job.kind.startswith("delete"):
                self.commit(self._plan(loaded))
                loaded = _Loaded()
                self._delete(job)
            else:
                self._load_patches(job, loaded)
        self.commit(self._plan(loaded))

    def prepare(self, jobs: list[IngestJob]) -> WritePlan:
        """Load and merge ingestion jobs (no deletes) into one write; `commit` performs it.

        Splitting the two lets the worker merge the next batch while this one is written.
        The cache already holds the planned records, so the next plan builds on them.
        """
        loaded = _Loaded()
        for job in jobs:
            if job.kind.startswith("delete"):
                raise ValueError("deletions are applied with apply(), not prepared")
            self._load_patches(job, loaded)
        return self._plan(loaded)

    def _delete(self, job: IngestJob) -> None:
        if job.kind == "delete-traces":
            self.records.delete_traces(job.project_id, job.ids)
        elif job.kind == "delete-scores":
            self.records.delete_scores(job.project_id, job.ids)
        else:
            self.records.delete_project(job.project_id)
        self.cache.clear()
        if self.after_delete is not None:
            # After the rows: a failure retries the job, and deleting twice changes nothing.
            self.after_delete(job)

    def commit(self, plan: WritePlan) -> None:
        if not plan.records:
            return
        try:
            self.records.write(plan.records, plan.tombstones, plan.version)
        except BaseException:
            self.cache.clear()  # it may hold records that never reached the store
            raise
        if plan.experiment_links and self.experiments is not None:
            # After the write: a failure here retries the job, and both writes are idempotent.
            self.experiments(plan.experiment_links)

    def release(self, jobs: list[IngestJob]) -> None:
        """Drop the raw input of applied jobs, unless raw events are kept.

        Once a job is applied its rows are durable in the OLAP store (fsynced parts), so the
        accepted body is a second copy: about two thirds of the disk per span if kept.
        """
        if self.keep_raw_events:
            return
        for job in jobs:
            if job.blob_key:
                try:
                    self.blobs.delete(job.blob_key)
                except Exception:  # noqa: BLE001 - a stray blob is harmless; the job is done either way
                    log.warning("could not delete applied input %s", job.blob_key, exc_info=True)

    def _load_patches(self, job: IngestJob, loaded: _Loaded) -> None:
        try:
            data = self.blobs.get(job.blob_key or "")
        except KeyError:
            raise PoisonJob(f"blob {job.blob_key} is missing") from None
        if job.kind == "batch":
            try:
                events = orjson.loads(data)["events"]
            except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
                raise PoisonJob(f"blob {job.blob_key} is not a stored batch: {exc}") from None
            loaded.note_body(data, self.extractor is not None)
            for event in sort_events(events):
                loaded.patches.extend((kind, patch, False) for kind, patch in event_to_patches(event, job.project_id))
            return
        request = ExportTraceServiceRequest()
        try:
            if job.blob_key and job.blob_key.endswith(".gz"):
                data = gzip.decompress(data)
            request.ParseFromString(data)
        except Exception as exc:  # noqa: BLE001 - protobuf raises its own DecodeError type
            raise PoisonJob(f"blob {job.blob_key} is not an OTLP export: {exc}") from None
        loaded.note_body(data, self.extractor is not None)
        traces, observations = request_to_patches(request, job.project_id, job.received_at_us)
        # An OTLP span is exported once, whole: its patch is the complete observation.
        loaded.patches.extend(("observation", p, True) for p in observations)
        loaded.patches.extend(("trace", p, False) for p in traces)

    def _plan(self, loaded: _Loaded) -> WritePlan:
        patches = loaded.patches
        if not patches:
            return WritePlan({}, {}, 0)
        links = [patch.pop(EXPERIMENT_LINK) for _, patch, _ in patches if EXPERIMENT_LINK in patch]
        now = self.clock()
        stored = self._current_records(patches)
        touched: dict[Key, Record] = {}
        whole: set[Key] = set()
        for kind, patch, complete in patches:
            key = (kind, patch["project_id"], patch["id"])
            base = touched.get(key) or stored.get(key)
            if base is None:
                record = new_record(kind, patch, now)
            elif complete:
                record = new_record(kind, patch, now)
                record["created_at"] = base["created_at"]
            else:
                record = merge(kind, base, patch, now)
            touched[key] = record
            if complete:
                whole.add(key)
        if self.extractor is not None and loaded.may_hold_media:
            # Before pricing: a tokenizer fallback should count the reference, not megabytes of base64.
            self.extractor.extract((key[0], record) for key, record in touched.items())
        if self.linker is not None:
            self.linker.link(record for key, record in touched.items() if key[0] == "observation")
        plan = WritePlan({}, {}, self._version(), links)
        for key, record in touched.items():
            if key[0] == "observation" and self.pricer is not None:
                self.pricer.price(record)  # once per record, on its final merged state
            plan.records.setdefault(key[0], []).append(record)
            previous = stored.get(key)
            if previous is not None and sort_key_changed(key[0], previous, record):
                plan.tombstones.setdefault(key[0], []).append(previous)
            # Whole OTLP spans are rarely touched again; caching them would only evict useful entries.
            if key not in whole:
                self.cache.put(key, record)
        return plan

    def _current_records(self, patches: list[tuple[EntityKind, Patch, bool]]) -> dict[Key, Record]:
        wanted: dict[tuple[EntityKind, str], set[str]] = {}
        found: dict[Key, Record] = {}
        for kind, patch, complete in patches:
            key = (kind, patch["project_id"], patch["id"])
            if key in found:
                continue
            cached = self.cache.get(key)
            if cached is not None:
                found[key] = cached
            elif not complete:
                wanted.setdefault((kind, patch["project_id"]), set()).add(patch["id"])
        for (kind, project_id), ids in wanted.items():
            for record_id, record in self.records.find_current(kind, project_id, sorted(ids)).items():
                found[(kind, project_id, record_id)] = record
        return found
