CREATE TABLE IF NOT EXISTS {{database}}.{{table}}_trace_id_ts {{on_cluster}} (
    TraceId String CODEC(ZSTD(1)),
    Start DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    End DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.01) GRANULARITY 1
) ENGINE = {{engine}}
PARTITION BY toDate(Start)
ORDER BY (TraceId, Start)
{{ttl_start}}
SETTINGS index_granularity = 8192
