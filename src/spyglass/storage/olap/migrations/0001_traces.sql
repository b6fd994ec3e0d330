-- Traces: one row per version; ReplacingMergeTree keeps the highest event_ts per key,
-- is_deleted = 1 tombstones it. Reads dedupe with FINAL (lists) or ORDER BY event_ts DESC LIMIT 1 (points).
CREATE TABLE IF NOT EXISTS traces
(
    id String,
    project_id String,
    timestamp DateTime64(6, 'UTC'),
    name String,
    user_id Nullable(String),
    session_id Nullable(String),
    release Nullable(String),
    version Nullable(String),
    environment LowCardinality(String) DEFAULT 'default',
    public Bool,
    bookmarked Bool,
    tags Array(String),
    input Nullable(String) CODEC(ZSTD(3)),
    output Nullable(String) CODEC(ZSTD(3)),
    metadata Map(LowCardinality(String), String),
    created_at DateTime64(6, 'UTC'),
    updated_at DateTime64(6, 'UTC'),
    event_ts DateTime64(6, 'UTC'),
    is_deleted UInt8,
    INDEX idx_id id TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_session_id session_id TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_user_id user_id TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_created_at created_at TYPE minmax GRANULARITY 1
)
ENGINE = ReplacingMergeTree(event_ts, is_deleted)
PARTITION BY toYYYYMM(timestamp)
ORDER BY (project_id, toDate(timestamp), id)
-- A processed job is acknowledged once its rows are written: they must survive a power loss too.
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1
