"""Every setting Spyglass reads, in one place.

Read only by `bootstrap` and `cli`; everything else receives plain values. Environment
variables use the `SPYGLASS_` prefix; the `LANGFUSE_INIT_*` variables are read unprefixed
so that a Langfuse deployment's headless-initialisation config works unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

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
    clickhouse_user: str | None = Field(default=None, description="ClickHouse server user (overrides the URL's).")
    clickhouse_password: str | None = Field(
        default=None, description="ClickHouse server password (overrides the URL's)."
    )
    clickhouse_database: str | None = Field(
        default=None, description="ClickHouse server database; created by `spyglass migrate` when missing."
    )
    clickhouse_cluster: str | None = Field(
        default=None,
        description="ClickHouse cluster name: tables are created `ON CLUSTER` with Replicated* engines.",
    )
    olap_pool_size: int = Field(default=4, description="Concurrent OLAP connections (chDB runs one query each).")
    redis_url: str | None = Field(
        default=None,
        description="Redis URL (`redis://…`): the ingestion queue (Streams) and the shared cache. "
        "Default: an in-process queue in the data dir and an in-memory cache.",
    )
    redis_prefix: str = Field(default="spyglass", description="Prefix of every Redis key Spyglass uses.")
    queue_visibility_timeout_seconds: float = Field(
        default=60.0,
        description="Redis queue: a job taken by a worker that neither acks nor retries it within this time "
        "(the worker died) is delivered to another worker.",
    )
    s3_bucket: str | None = Field(
        default=None, description="S3 bucket for raw ingestion batches and media files. Default: `<data_dir>/blobs`."
    )
    s3_endpoint_url: str | None = Field(
        default=None, description="S3-compatible endpoint (MinIO, R2, …). Default: AWS for the region."
    )
    s3_region: str | None = Field(default=None, description="S3 region. Default: boto3's configuration.")
    s3_access_key_id: str | None = Field(default=None, description="S3 access key. Default: boto3's chain.")
    s3_secret_access_key: str | None = Field(default=None, description="S3 secret key. Default: boto3's chain.")
    s3_force_path_style: bool = Field(
        default=False, description="Address the bucket in the path (`endpoint/bucket/key`), as MinIO needs."
    )
    s3_prefix: str = Field(default="", description="Key prefix inside the bucket (e.g. `spyglass/`).")
    s3_timeout_seconds: float = Field(
        default=5.0, description="S3 connect/read timeout; past it (after retries) ingestion answers 503."
    )
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
    worker_concurrency: int = Field(
        default=1, description="Consumer threads in `spyglass worker` (and in `serve`'s worker with a shared queue)."
    )
    worker_max_attempts: int = Field(
        default=10,
        description="Attempts per queue job (backoff 0.5 s doubling to 60 s) before it goes to the dead-letter list.",
    )
    keep_raw_events: bool = Field(
        default=False,
        description="Keep each accepted request body under `<data_dir>/blobs/ingest/` after it was applied "
        "(an audit trail, about twice the disk). Off: a body is deleted once its rows are durable in the OLAP store.",
    )
    metrics_max_range_days: int = Field(
        default=400, description="Longest fromTimestamp..toTimestamp range a metrics query may ask for (days)."
    )
    prompt_cache_ttl_seconds: float = Field(
        default=60.0, gt=0,
        description="How long a resolved prompt stays in the read cache. Writes invalidate it at once in every "
        "process sharing the cache (Redis); the TTL bounds staleness only between processes without Redis.",
    )
    otlp_grpc: Literal["auto", "on", "off"] = Field(
        default="auto",
        description="OTLP/gRPC receiver: `on`, `off`, or `auto` (on when the queue is shared through Redis, "
        "off on the embedded default; `serve --otlp-grpc-port` turns it on).",
    )
    otlp_grpc_port: int = Field(default=4317, description="Port of the OTLP/gRPC receiver (binds SPYGLASS_HOST).")
    public_url: str | None = Field(
        default=None,
        description="Base URL clients reach this server at (e.g. `https://spyglass.example.com`), used in the "
        "media upload/download links the server signs. Default: the base URL of each request.",
    )
    media_max_bytes: int = Field(
        default=1_000_000_000, gt=0, description="Largest media file a client may upload (bytes)."
    )
    media_url_ttl_seconds: int = Field(
        default=3600, gt=0, description="How long a media upload or download link stays valid (seconds)."
    )
    extract_inline_media: bool = Field(
        default=True,
        description="Move base64 media found in ingested input/output/metadata (data URIs, provider and GenAI "
        "message parts) to media storage and keep a `@@@langfuseMedia:…@@@` reference in the trace instead.",
    )
    log_level: str = Field(default="info", description="Log level: debug, info, warning, error.")

    @property
    def otlp_grpc_enabled(self) -> bool:
        return self.otlp_grpc == "on" or (self.otlp_grpc == "auto" and self.redis_url is not None)

    @property
    def embedded_olap(self) -> bool:
        return self.clickhouse_url is None or self.clickhouse_url.startswith("chdb://")

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'spyglass.db').resolve()}"

    @property
    def resolved_clickhouse_url(self) -> str:
        return self.clickhouse_url or f"chdb://{(self.data_dir / 'olap').resolve()}"
