-- Scores on traces, observations, sessions and dataset runs. Same versioning as traces.
CREATE TABLE IF NOT EXISTS scores
(
    id String,
    project_id String,
    timestamp DateTime64(6, 'UTC'),
    name String,
    value Float64,
    string_value Nullable(String),
    long_string_value String,
    data_type LowCardinality(String),
    source LowCardinality(String),
    comment Nullable(String),
    metadata Map(LowCardinality(String), String),
    trace_id Nullable(String),
    observation_id Nullable(String),
    session_id Nullable(String),
    dataset_run_id Nullable(String),
    config_id Nullable(String),
    queue_id Nullable(String),
    author_user_id Nullable(String),
    execution_trace_id Nullable(String),
    environment LowCardinality(String) DEFAULT 'default',
    created_at DateTime64(6, 'UTC'),
    updated_at DateTime64(6, 'UTC'),
    event_ts DateTime64(6, 'UTC'),
    is_deleted UInt8,
    INDEX idx_id id TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_trace_id trace_id TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_session_id session_id TYPE bloom_filter(0.01) GRANULARITY 1
)
ENGINE = ReplacingMergeTree(event_ts, is_deleted)
PARTITION BY toYYYYMM(timestamp)
ORDER BY (project_id, toDate(timestamp), name, id)
-- A processed job is acknowledged once its rows are written: they must survive a power loss too.
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1
