"""Media rows and their links to traces, observations and dataset items.

Every change to one media id happens under `lock`, so a media file is never deleted
while another transaction links it, nor linked after it was deleted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from spyglass.domain.media import Media, UploadResult
from spyglass.storage.oltp.repositories.batching import chunks
from spyglass.storage.oltp.tables import DatasetItemMediaRow, MediaRow, TraceMediaRow, utcnow


class MediaRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def lock(self, project_id: str, media_ids: Iterable[str]) -> None:
        """Hold the right to change these media ids until commit, in every process.

        PostgreSQL: advisory locks in sorted order (no deadlock between two lockers). SQLite:
        an empty UPDATE takes the database's write lock before anything is read.
        """
        if self._session.get_bind().dialect.name != "postgresql":
            self._session.execute(sa.update(MediaRow).where(sa.false()).values(id=MediaRow.id))
            return
        for media_id in sorted(set(media_ids)):
            digest = hashlib.blake2b(f"media\0{project_id}\0{media_id}".encode(), digest_size=8).digest()
            self._session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"),
                                  {"key": int.from_bytes(digest, "big", signed=True)})

    def find(self, project_id: str, media_id: str) -> Media | None:
        return self.find_many(project_id, [media_id]).get(media_id)

    def find_many(self, project_id: str, media_ids: Iterable[str]) -> dict[str, Media]:
        found: dict[str, Media] = {}
        for batch in chunks(sorted(set(media_ids))):
            rows = self._session.scalars(sa.select(MediaRow).where(MediaRow.project_id == project_id,
                                                                   MediaRow.id.in_(batch)))
            found.update((row.id, _media(row)) for row in rows)
        return found

    def find_by_hash(self, project_id: str, sha256_hash: str) -> Media | None:
        row = self._session.scalars(sa.select(MediaRow).where(MediaRow.project_id == project_id,
                                                              MediaRow.sha256_hash == sha256_hash)).first()
        return _media(row) if row is not None else None

    def create(self, media: Media) -> None:
        self._session.execute(sa.insert(MediaRow).values(
            id=media.id, project_id=media.project_id, sha256_hash=media.sha256_hash,
            content_type=media.content_type, content_length=media.content_length, object_key=media.object_key,
            created_at=media.created_at, updated_at=media.created_at, uploaded_at=media.uploaded_at,
            upload_http_status=media.upload_http_status, upload_http_error=media.upload_http_error,
            upload_time_ms=media.upload_time_ms))

    def replace_content(self, project_id: str, media_id: str, content_type: str, content_length: int,
                        object_key: str) -> None:
        """A new upload of the same bytes under another content type: the old upload no longer counts."""
        self._update(project_id, media_id, content_type=content_type, content_length=content_length,
                     object_key=object_key, uploaded_at=None, upload_http_status=None, upload_http_error=None,
                     upload_time_ms=None)

    def record_upload(self, project_id: str, media_id: str, result: UploadResult) -> None:
        self._update(project_id, media_id, uploaded_at=result.uploaded_at, upload_http_status=result.http_status,
                     upload_http_error=result.http_error, upload_time_ms=result.upload_time_ms)

    def _update(self, project_id: str, media_id: str, **values: Any) -> None:
        self._session.execute(sa.update(MediaRow).where(MediaRow.project_id == project_id, MediaRow.id == media_id)
                              .values(updated_at=utcnow(), **values))

    def delete(self, project_id: str, media_id: str) -> None:
        self._session.execute(sa.delete(MediaRow).where(MediaRow.project_id == project_id, MediaRow.id == media_id))

    # -- links -----------------------------------------------------------------------

    def link_trace(self, project_id: str, media_id: str, trace_id: str, observation_id: str | None,
                   field: str) -> None:
        self._insert_new(TraceMediaRow, project_id=project_id, media_id=media_id, trace_id=trace_id,
                         observation_id=observation_id or "", field=field, created_at=utcnow())

    def link_dataset_item(self, project_id: str, media_id: str, dataset_id: str, item_id: str, field: str) -> None:
        self._insert_new(DatasetItemMediaRow, project_id=project_id, media_id=media_id, dataset_id=dataset_id,
                         dataset_item_id=item_id, field=field, created_at=utcnow())

    def unlink_traces(self, project_id: str, trace_ids: list[str]) -> set[str]:
        """Drop the links of these traces (and their observations); returns the media ids they held."""
        media_ids: set[str] = set()
        for batch in chunks(trace_ids):
            where = (TraceMediaRow.project_id == project_id, TraceMediaRow.trace_id.in_(batch))
            media_ids.update(self._session.scalars(sa.select(TraceMediaRow.media_id).where(*where).distinct()))
            self._session.execute(sa.delete(TraceMediaRow).where(*where))
        return media_ids

    def is_linked(self, project_id: str, media_id: str) -> bool:
        def used_by(table: type[TraceMediaRow] | type[DatasetItemMediaRow]) -> sa.Exists:
            return sa.exists().where(table.project_id == project_id, table.media_id == media_id)

        return bool(self._session.scalar(sa.select(sa.or_(used_by(TraceMediaRow), used_by(DatasetItemMediaRow)))))

    def _insert_new(self, table: type[TraceMediaRow] | type[DatasetItemMediaRow], **values: Any) -> None:
        """Insert a link unless it exists (a link is recorded again on every replay)."""
        dialect = postgresql if self._session.get_bind().dialect.name == "postgresql" else sqlite
        self._session.execute(dialect.insert(table).values(**values).on_conflict_do_nothing())


def _media(row: MediaRow) -> Media:
    return Media(
        id=row.id, project_id=row.project_id, sha256_hash=row.sha256_hash, content_type=row.content_type,
        content_length=row.content_length, object_key=row.object_key, created_at=row.created_at,
        uploaded_at=row.uploaded_at, upload_http_status=row.upload_http_status,
        upload_http_error=row.upload_http_error, upload_time_ms=row.upload_time_ms,
    )



