"""Every setting Spyglass reads, in one place.

Read only by `bootstrap` and `cli`; everything else receives plain values. Environment
variables use the `SPYGLASS_` prefix; the `LANGFUSE_INIT_*` variables are read unprefixed
so that a Langfuse deployment's headless-initialisation config works unchanged.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from spyglass.domain.projects import HeadlessInit


class InitSettings(HeadlessInit, BaseSettings):
    """`LANGFUSE_INIT_*` read from the environment (unprefixed by SPYGLASS_, as in Langfuse)."""

    model_config = SettingsConfigDict(env_prefix="LANGFUSE_INIT_", extra="ignore")

    def to_init(self) -> HeadlessInit:
        return HeadlessInit(**self.model_dump())


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SPYGLASS_", extra="ignore")

    data_dir: Path = Field(
        default=Path("./spyglass-data"),
        description="Directory holding the embedded databases, blobs and the durable queue.",
    )
    host: str = Field(default="127.0.0.1", description="Address `spyglass serve` binds to.")
    port: int = Field(default=3000, description="Port `spyglass serve` listens on.")
    database_url: str | None = Field(
        default=None,
        description="OLTP database URL (SQLAlchemy). Default: SQLite file `<data_dir>/spyglass.db`.",
    )
    clickhouse_url: str | None = Field(
        default=None,
        description="OLAP DSN for clickhouse-connect. Default: embedded chDB at `chdb://<data_dir>/olap`.",
    )
    olap_pool_size: int = Field(default=4, description="Concurrent OLAP connections (chDB runs one query each).")
    salt: str | None = Field(
        default=None,
        validation_alias=AliasChoices("SPYGLASS_SALT", "SALT"),
        description="Salt for API-key hashes. Default: generated once and kept in the data dir.",
    )
    max_ingestion_body_bytes: int = Field(
        default=4_500_000, description="Largest accepted body for `/api/public/ingestion` (bytes, after gunzip)."
    )
    max_otel_body_bytes: int = Field(
        default=64_000_000, description="Largest accepted OTLP body (bytes, after gunzip)."
    )
    max_json_body_bytes: int = Field(default=1_000_000, description="Largest body for other JSON routes.")
    worker_batch_jobs: int = Field(default=16, description="Queue jobs the worker merges into one OLAP write.")
    worker_max_attempts: int = Field(
        default=10,
        description="Attempts per queue job (backoff 0.5 s doubling to 60 s) before it goes to the dead-letter list.",
    )
    keep_raw_events: bool = Field(
        default=False,
        description="Keep each accepted request body under `<data_dir>/blobs/ingest/` after it was applied "
        "(an audit trail, about twice the disk). Off: a body is deleted once its rows are durable in the OLAP store.",
    )
    log_level: str = Field(default="info", description="Log level: debug, info, warning, error.")

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'spyglass.db').resolve()}"

    @property
    def resolved_clickhouse_url(self) -> str:
        return self.clickhouse_url or f"chdb://{(self.data_dir / 'olap').resolve()}"
