/**
 * Prometheus metrics (docs/OPERATIONS.md#monitoring). One registry per server instance, so tests can start several
 * servers in one process without metric-name collisions.
 *
 * Names follow https://prometheus.io/docs/practices/naming/: `stemedb_<layer>_<what>`, the
 * unit next (in base units: `_seconds`, `_bytes`), and `_total` last on counters — which only
 * grow — and on nothing else. Every metric has help text; a label's values are few and sum to
 * something meaningful. test/metrics/naming.test.ts holds every metric to this, and
 * docs/METRICS.md lists them (written from this registry by `make docs`; test/api/docs.test.ts keeps it current).
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { clusterMetrics } from "./cluster.ts";
import { registerProcessMetrics } from "./process.ts";
import { replicationMetrics } from "./replication.ts";
import { type BackupTimes, mirroredCounter, type ScrapeSources, ScrapeSamples } from "./scrape.ts";

export type Metrics = ReturnType<typeof createMetrics>;

/**
 * Latency buckets, seconds, shared by fsync, index and HTTP histograms. Chosen from what was
 * measured on NVMe-backed VMs: an fdatasync takes 0.2–2 ms when the disk is healthy, 20–70 ms
 * under contention, and hundreds of ms when it is failing; reads answer from memory in tens of
 * µs. So: fine steps (1–2.5×) from 100 µs to 10 ms where healthy values live, coarser up to
 * 2.5 s where only the alert thresholds (fsync p99 > 50 ms warns, the global breaker's 1 s
 * sheds) need resolving. 14 buckets keep each labelled series small.
 */
const latencyBuckets = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export function createMetrics(options: { processMetrics?: boolean } = {}) {
  const registry = new Registry();
  if (options.processMetrics ?? true) registerProcessMetrics(registry);
  const registers = [registry];
  const scrape = new ScrapeSamples();
  return {
    registry,
    /** Hands over what the scrape-time metrics read (once the server's parts exist). */
    sampleAtScrape(sources: ScrapeSources): void {
      scrape.attach(sources);
    },
    ...walMetrics(registers),
    ...indexAndIngestMetrics(registers),
    ...httpMetrics(registers),
    ...readMetrics(registers, scrape),
    ...defenseMetrics(registers, scrape),
    ...backupMetrics(registers, scrape),
    ...changesMetrics(registers, scrape),
    ...replicationMetrics(registers),
    ...clusterMetrics(registers),
  };
}

/** The record log: set by src/log as it commits, rotates and recovers. */
function walMetrics(registers: Registry[]) {
  return {
    walFsyncSeconds: new Histogram({
      name: "stemedb_wal_fsync_seconds",
      help: "fdatasync latency of one group commit",
      buckets: latencyBuckets,
      registers,
    }),
    walBatchRecords: new Histogram({
      name: "stemedb_wal_batch_records",
      help: "records per group commit",
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 10000],
      registers,
    }),
    walBytesTotal: new Counter({ name: "stemedb_wal_bytes_total", help: "bytes appended to the log", registers }),
    walWritesTotal: new Counter({ name: "stemedb_wal_writes_total", help: "group commits (write + sync) performed", registers }),
    walRecordsTotal: new Counter({ name: "stemedb_wal_records_total", help: "records appended to the log", registers }),
    walSegments: new Gauge({ name: "stemedb_wal_segments", help: "segment files in the log", registers }),
    walDiskBytes: new Gauge({ name: "stemedb_wal_disk_bytes", help: "bytes of all segment files", registers }),
    walRotationsTotal: new Counter({ name: "stemedb_wal_rotations_total", help: "segment rotations", registers }),
    walLastLsn: new Gauge({ name: "stemedb_wal_last_lsn", help: "log position of the last durable record", registers }),
    walRecoveryTruncatedBytesTotal: new Counter({
      name: "stemedb_wal_recovery_truncated_bytes_total",
      help: "bytes cut from a torn tail at start-up",
      registers,
    }),
    walRecoveriesTotal: new Counter({
      name: "stemedb_wal_recoveries_total",
      help: "start-up recoveries, by outcome: clean, torn_tail (a torn tail was cut), corrupt (the start was refused)",
      labelNames: ["outcome"] as const,
      registers,
    }),
  };
}

/** The index (set by src/index as it applies batches) and the ingest pipeline. */
function indexAndIngestMetrics(registers: Registry[]) {
  return {
    indexOpSeconds: new Histogram({
      name: "stemedb_index_op_seconds",
      help: "index operation latency, by operation (apply_batch; checkpoint: the background WAL checkpoint)",
      labelNames: ["op"] as const,
      buckets: latencyBuckets,
      registers,
    }),
    indexLsn: new Gauge({ name: "stemedb_index_lsn", help: "log position the index reflects", registers }),
    indexCheckpointFailuresTotal: new Counter({
      name: "stemedb_index_checkpoint_failures_total",
      help: "background WAL checkpoints of the index that failed (the applying thread then checkpoints past the WAL bound)",
      registers,
    }),
    indexDamageDetectedTotal: new Counter({
      name: "stemedb_index_damage_detected_total",
      help: "times damage in the index was found (at start, then rebuilt; or while serving, then reads refused)",
      registers,
    }),
    indexDamaged: new Gauge({
      name: "stemedb_index_damaged",
      help: "1 while the index is known damaged and reads from it are refused (restart or reindex to rebuild)",
      registers,
    }),
    ingestRecordsTotal: new Counter({
      name: "stemedb_ingest_records_total",
      help: "records submitted, by kind (record kind, or unknown) and result: accepted, quarantined, duplicate, rejected",
      labelNames: ["kind", "result"] as const,
      registers,
    }),
    assertionsIngestedTotal: new Counter({
      name: "stemedb_assertions_ingested_total",
      help: "assertions newly stored",
      registers,
    }),
    ingestQueueDepth: new Gauge({
      name: "stemedb_ingest_queue_depth",
      help: "records waiting in the ingest pipeline",
      registers,
    }),
    ingestRejectedOverloadTotal: new Counter({
      name: "stemedb_ingest_overload_rejections_total",
      help: "submissions refused with 503 because the queue was full",
      registers,
    }),
  };
}

/** Requests at the door: counted and timed by route, refusals by reason, errors by code. */
function httpMetrics(registers: Registry[]) {
  return {
    httpRequestsTotal: new Counter({
      name: "stemedb_http_requests_total",
      help: "HTTP requests, by route template, method and status",
      labelNames: ["route", "method", "status"] as const,
      registers,
    }),
    httpRequestSeconds: new Histogram({
      name: "stemedb_http_request_duration_seconds",
      help: "HTTP request latency, by route template and method",
      labelNames: ["route", "method"] as const,
      buckets: latencyBuckets,
      registers,
    }),
    errorsTotal: new Counter({
      name: "stemedb_errors_total",
      help: "errors, by layer (http, ingest) and code (for ingest the problem code, for http the response status)",
      labelNames: ["code", "layer"] as const,
      registers,
    }),
    rateLimitRejectionsTotal: new Counter({
      name: "stemedb_rate_limit_rejections_total",
      help: "requests refused with 429 by the rate limiter, by endpoint class",
      labelNames: ["endpoint"] as const,
      registers,
    }),
    limitRejectionsTotal: new Counter({
      name: "stemedb_limit_rejections_total",
      help: "requests refused for a size or time limit (413 body too large, 408 request timeout)",
      labelNames: ["status"] as const,
      registers,
    }),
    querySeconds: new Histogram({
      name: "stemedb_query_seconds",
      help: "time to answer a query (GET/POST /v1/query), by lens ('multiple' for several at once)",
      labelNames: ["lens"] as const,
      // Views answer in microseconds, resolutions in a millisecond or so; the tail past 50 ms
      // is what an SLO watches.
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    }),
  };
}

/** Reads: materialized views and TrustRank, read at scrape time. */
function readMetrics(registers: Registry[], scrape: ScrapeSamples) {
  return {
    viewReadsTotal: mirroredCounter({
      name: "stemedb_view_reads_total",
      help: "lens answers looked up in materialized views, by result: hit, miss",
      labelNames: ["result"] as const,
      registers,
      counts: () => {
        const v = scrape.read("views");
        return v && [[{ result: "hit" }, v.hits] as const, [{ result: "miss" }, v.misses] as const];
      },
    }),
    queryWorkerQueriesTotal: mirroredCounter({
      name: "stemedb_query_worker_queries_total",
      help: "cold queries sent to query workers, by outcome: answered, handed_back (resolved on the event loop instead)",
      labelNames: ["outcome"] as const,
      registers,
      counts: () => {
        const w = scrape.read("queryWorkers");
        return w && [[{ outcome: "answered" }, w.answered] as const, [{ outcome: "handed_back" }, w.handedBack] as const];
      },
    }),
    queryWorkers: sampledGauge(
      registers,
      "stemedb_query_workers",
      "query workers open and answering (--query-workers)",
      () => scrape.read("queryWorkers")?.ready,
    ),
    viewInvalidationsTotal: mirroredCounter({
      name: "stemedb_view_invalidations_total",
      help: "materialized views dropped because a record or TrustRank changed them",
      registers,
      counts: () => {
        const v = scrape.read("views");
        return v && [[{}, v.invalidations] as const];
      },
    }),
    views: sampledGauge(registers, "stemedb_views", "materialized views held", () => scrape.read("views")?.size),
    viewsBytes: sampledGauge(
      registers,
      "stemedb_views_bytes",
      "memory the materialized views hold, estimated, bytes (bounded by --views-bytes)",
      () => scrape.read("views")?.bytes,
    ),
    recordCacheRecords: sampledGauge(
      registers,
      "stemedb_record_cache_records",
      "decoded records kept for queries to read again",
      () => scrape.read("recordCache")?.records,
    ),
    recordCacheBytes: sampledGauge(
      registers,
      "stemedb_record_cache_bytes",
      "memory the decoded records kept for queries hold, estimated, bytes (bounded by --record-cache-bytes)",
      () => scrape.read("recordCache")?.bytes,
    ),
    trustLsn: sampledGauge(registers, "stemedb_trust_lsn", "log position the current TrustRank reflects", () => {
      return scrape.read("trust")?.lsn;
    }),
    trustAgents: sampledGauge(registers, "stemedb_trust_agents", "agents in the current TrustRank", () => {
      return scrape.read("trust")?.agents;
    }),
  };
}

/** Content defense (docs/DEFENSE.md): quarantine and circuit breakers. */
function defenseMetrics(registers: Registry[], scrape: ScrapeSamples) {
  return {
    quarantined: sampledGauge(registers, "stemedb_quarantined", "assertions held in quarantine now", () => {
      return scrape.read("defense")?.quarantined;
    }),
    quarantineDecisionsTotal: new Counter({
      name: "stemedb_quarantine_decisions_total",
      help: "quarantine decisions (authority reviews) acknowledged since start, by action: hold, approve, reject",
      labelNames: ["action"] as const,
      registers,
    }),
    breakers: new Gauge({
      name: "stemedb_breakers",
      help: "per-agent circuit breakers by state: closed, open, half_open",
      labelNames: ["state"] as const,
      registers,
      collect() {
        const d = scrape.read("defense");
        if (d) for (const [state, n] of Object.entries(d.breakers)) this.set({ state }, n);
      },
    }),
    breakerRejectionsTotal: new Counter({
      name: "stemedb_breaker_rejections_total",
      help: "writes refused by a circuit breaker: agent (429 breaker_open) or global (503 overloaded, slow fsync)",
      labelNames: ["breaker"] as const,
      registers,
    }),
    globalBreakerOpen: sampledGauge(
      registers,
      "stemedb_global_breaker_open",
      "1 while the global breaker sheds writes because fdatasync is slow",
      () => {
        const d = scrape.read("defense");
        return d && (d.globalBreakerOpen ? 1 : 0);
      },
    ),
  };
}

/**
 * Backups, from backup-status.json (written by backup, verify --backup and archive, which run
 * outside the server), read at scrape time.
 */
function backupMetrics(registers: Registry[], scrape: ScrapeSamples) {
  const status = (pick: (s: BackupTimes) => number) => () => {
    const s = scrape.read("backupStatus");
    return s && pick(s);
  };
  const seconds = (iso: string | undefined) => (iso ? Date.parse(iso) / 1000 : 0);
  return {
    backupLastSuccess: sampledGauge(
      registers,
      "stemedb_backup_last_success_timestamp_seconds",
      "when the last backup finished (0: none recorded)",
      status((s) => seconds(s.last_backup?.at)),
    ),
    backupLastVerify: sampledGauge(
      registers,
      "stemedb_backup_last_verify_timestamp_seconds",
      "when a backup was last verified (0: never)",
      status((s) => seconds(s.last_verify?.at)),
    ),
    backupLastVerifyOk: sampledGauge(
      registers,
      "stemedb_backup_last_verify_ok",
      "1 when the last backup verification passed, 0 when it failed or never ran",
      status((s) => (s.last_verify?.ok ? 1 : 0)),
    ),
    archiveLastCopy: sampledGauge(
      registers,
      "stemedb_archive_last_copy_timestamp_seconds",
      "when the last archival pass finished (0: none)",
      status((s) => seconds(s.last_archive?.at)),
    ),
  };
}

/** The change feed (docs/API.md#change-feed): followers, their buffers, cut-offs. */
function changesMetrics(registers: Registry[], scrape: ScrapeSamples) {
  return {
    changesFollowers: sampledGauge(registers, "stemedb_changes_followers", "change feed followers connected", () => {
      return scrape.read("changes")?.followers;
    }),
    changesBufferedEvents: sampledGauge(
      registers,
      "stemedb_changes_buffered_events",
      "events waiting for change feed followers to read them, all followers together",
      () => scrape.read("changes")?.bufferedEvents,
    ),
    changesBufferedBytes: sampledGauge(
      registers,
      "stemedb_changes_buffered_bytes",
      "bytes of events waiting for change feed followers to read them, all followers together",
      () => scrape.read("changes")?.bufferedBytes,
    ),
    changesEventsTotal: mirroredCounter({
      name: "stemedb_changes_events_total",
      help: "events handed to change feed followers, by type: record, conflict",
      labelNames: ["type"] as const,
      registers,
      counts: () => {
        const c = scrape.read("changes");
        return c && [[{ type: "record" }, c.sent.record] as const, [{ type: "conflict" }, c.sent.conflict] as const];
      },
    }),
    changesCutoffsTotal: new Counter({
      name: "stemedb_changes_cutoffs_total",
      help: "change feed followers cut off, by reason: slow_consumer (its buffer stayed past its bound), read_failed (a record could not be read for it)",
      labelNames: ["reason"] as const,
      registers,
    }),
  };
}

/** An unlabelled gauge set at scrape time from `value` (left as it was while that is null). */
function sampledGauge(registers: Registry[], name: string, help: string, value: () => number | null | undefined): Gauge {
  return new Gauge({
    name,
    help,
    registers,
    collect() {
      const v = value();
      if (v !== null && v !== undefined) this.set(v);
    },
  });
}
