-- Observations of one trace lie together: `trace_id` joins the sorting key before `id`.
-- With ids alone, the ~100 observations of a long trace were scattered over as many
-- granules of their day, and reading one trace decompressed the IO of each of them
-- (p50 ~100 ms at 300k spans, growing with the data). A trace id never changes once
-- written (merge keeps the first), so it is a safe key column for ReplacingMergeTree.
-- Rebuilt by copy; re-running after a crash at any point converges to the same table.
CREATE TABLE IF NOT EXISTS observations_by_trace
(
    id String,
    project_id String,
    trace_id String,
    type LowCardinality(String),
    parent_observation_id Nullable(String),
    start_time DateTime64(6, 'UTC'),
    end_time Nullable(DateTime64(6, 'UTC')),
    completion_start_time Nullable(DateTime64(6, 'UTC')),
    name String,
    environment LowCardinality(String) DEFAULT 'default',
    level LowCardinality(String),
    status_message Nullable(String),
    version Nullable(String),
    input Nullable(String) CODEC(ZSTD(3)),
    output Nullable(String) CODEC(ZSTD(3)),
    metadata Map(LowCardinality(String), String),
    provided_model_name Nullable(String),
    internal_model_id Nullable(String),
    model_parameters Nullable(String),
    provided_usage_details Map(LowCardinality(String), UInt64),
    usage_details Map(LowCardinality(String), UInt64),
    provided_cost_details Map(LowCardinality(String), Decimal64(12)),
    cost_details Map(LowCardinality(String), Decimal64(12)),
    total_cost Nullable(Decimal64(12)),
    usage_pricing_tier_id Nullable(String),
    usage_pricing_tier_name Nullable(String),
    prompt_id Nullable(String),
    prompt_name Nullable(String),
    prompt_version Nullable(UInt16),
    created_at DateTime64(6, 'UTC'),
    updated_at DateTime64(6, 'UTC'),
    event_ts DateTime64(6, 'UTC'),
    is_deleted UInt8,
    INDEX idx_id id TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_trace_id trace_id TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_created_at created_at TYPE minmax GRANULARITY 1
)
ENGINE = ReplacingMergeTree(event_ts, is_deleted)
PARTITION BY toYYYYMM(start_time)
ORDER BY (project_id, toDate(start_time), trace_id, id)
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1;
TRUNCATE TABLE observations_by_trace;
INSERT INTO observations_by_trace SELECT * FROM observations;
-- Left over only by a crash between the RENAME and the DROP; `observations` is complete then.
DROP TABLE IF EXISTS observations_by_id;
RENAME TABLE observations TO observations_by_id, observations_by_trace TO observations;
DROP TABLE observations_by_id
