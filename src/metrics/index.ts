/**
 * Prometheus metrics (SPEC §10). One registry per server instance, so tests can start several
 * servers in one process without metric-name collisions. Names are `stemedb_<layer>_<what>`,
 * units last (`_seconds`, `_bytes`, `_total`).
 */
import fs from "node:fs";
import { Counter, Gauge, Histogram, Registry } from "prom-client";

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
  const reg = [registry];
  return {
    registry,
    // WAL (the record log)
    walFsyncSeconds: new Histogram({
      name: "stemedb_wal_fsync_seconds",
      help: "fdatasync latency of one group commit",
      buckets: latencyBuckets,
      registers: reg,
    }),
    walBatchRecords: new Histogram({
      name: "stemedb_wal_batch_records",
      help: "records per group commit",
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 10000],
      registers: reg,
    }),
    walBytesTotal: new Counter({ name: "stemedb_wal_bytes_total", help: "bytes appended to the log", registers: reg }),
    walWritesTotal: new Counter({
      name: "stemedb_wal_writes_total",
      help: "group commits (write + sync) performed",
      registers: reg,
    }),
    walRecordsTotal: new Counter({ name: "stemedb_wal_records_total", help: "records appended to the log", registers: reg }),
    walSegments: new Gauge({ name: "stemedb_wal_segments", help: "segment files in the log", registers: reg }),
    walDiskBytes: new Gauge({ name: "stemedb_wal_disk_bytes", help: "bytes of all segment files", registers: reg }),
    walRotationsTotal: new Counter({ name: "stemedb_wal_rotations_total", help: "segment rotations", registers: reg }),
    walLastLsn: new Gauge({ name: "stemedb_wal_last_lsn", help: "log position of the last durable record", registers: reg }),
    walRecoveryTruncatedBytesTotal: new Counter({
      name: "stemedb_wal_recovery_truncated_bytes_total",
      help: "bytes cut from a torn tail at start-up",
      registers: reg,
    }),
    walRecoveriesTotal: new Counter({
      name: "stemedb_wal_recoveries_total",
      help: "start-up recoveries, by outcome",
      labelNames: ["outcome"] as const,
      registers: reg,
    }),
    // Index and storage
    indexOpSeconds: new Histogram({
      name: "stemedb_index_op_seconds",
      help: "index operation latency",
      labelNames: ["op"] as const,
      buckets: latencyBuckets,
      registers: reg,
    }),
    indexLsn: new Gauge({ name: "stemedb_index_lsn", help: "log position the index reflects", registers: reg }),
    indexDamageDetectedTotal: new Counter({
      name: "stemedb_index_damage_detected_total",
      help: "times damage in the index was found (at start, then rebuilt; or while serving, then reads refused)",
      registers: reg,
    }),
    indexDamaged: new Gauge({
      name: "stemedb_index_damaged",
      help: "1 while the index is known damaged and reads from it are refused (restart or reindex to rebuild)",
      registers: reg,
    }),
    // Ingest
    ingestRecordsTotal: new Counter({
      name: "stemedb_ingest_records_total",
      help: "records submitted, by kind and result",
      labelNames: ["kind", "result"] as const,
      registers: reg,
    }),
    assertionsIngestedTotal: new Counter({
      name: "stemedb_assertions_ingested_total",
      help: "assertions newly stored",
      registers: reg,
    }),
    ingestQueueDepth: new Gauge({
      name: "stemedb_ingest_queue_depth",
      help: "records waiting in the ingest pipeline",
      registers: reg,
    }),
    ingestRejectedOverloadTotal: new Counter({
      name: "stemedb_ingest_overload_rejections_total",
      help: "submissions refused with 503 because the queue was full",
      registers: reg,
    }),
    // HTTP
    httpRequestsTotal: new Counter({
      name: "stemedb_http_requests_total",
      help: "HTTP requests by route, method and status",
      labelNames: ["route", "method", "status"] as const,
      registers: reg,
    }),
    httpRequestSeconds: new Histogram({
      name: "stemedb_http_request_duration_seconds",
      help: "HTTP request latency by route",
      labelNames: ["route", "method"] as const,
      buckets: latencyBuckets,
      registers: reg,
    }),
    errorsTotal: new Counter({
      name: "stemedb_errors_total",
      help: "errors by code and layer",
      labelNames: ["code", "layer"] as const,
      registers: reg,
    }),

    rateLimitRejectionsTotal: new Counter({
      name: "stemedb_rate_limit_rejections_total",
      help: "requests refused with 429 by the rate limiter, by endpoint class",
      labelNames: ["endpoint"] as const,
      registers: reg,
    }),
    limitRejectionsTotal: new Counter({
      name: "stemedb_limit_rejections_total",
      help: "requests refused for a size or time limit (413 body too large, 408 request timeout)",
      labelNames: ["status"] as const,
      registers: reg,
    }),

    // Backups (from backup-status.json, written by backup, verify --backup and archive).
    backupLastSuccess: new Gauge({
      name: "stemedb_backup_last_success_timestamp_seconds",
      help: "when the last backup finished (0: none recorded)",
      registers: reg,
    }),
    backupLastVerify: new Gauge({
      name: "stemedb_backup_last_verify_timestamp_seconds",
      help: "when a backup was last verified (0: never)",
      registers: reg,
    }),
    backupLastVerifyOk: new Gauge({
      name: "stemedb_backup_last_verify_ok",
      help: "1 when the last backup verification passed, 0 when it failed or never ran",
      registers: reg,
    }),
    archiveLastCopy: new Gauge({
      name: "stemedb_archive_last_copy_timestamp_seconds",
      help: "when the last archival pass finished (0: none)",
      registers: reg,
    }),
    querySeconds: new Histogram({
      name: "stemedb_query_seconds",
      help: "time to answer a query (GET/POST /v1/query), by lens ('multiple' for several at once)",
      labelNames: ["lens"] as const,
      // Views answer in microseconds, resolutions in a millisecond or so; the tail past 50 ms
      // is what an SLO watches.
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: reg,
    }),

    // Reads: views and TrustRank (gauges set at scrape time from the engine's counters).
    viewReads: new Gauge({
      name: "stemedb_view_reads",
      help: "lens answers looked up in materialized views since start, by result",
      labelNames: ["result"] as const,
      registers: reg,
    }),
    viewInvalidations: new Gauge({
      name: "stemedb_view_invalidations",
      help: "materialized views dropped because a record or TrustRank changed them, since start",
      registers: reg,
    }),
    views: new Gauge({ name: "stemedb_views", help: "materialized views held", registers: reg }),
    trustLsn: new Gauge({ name: "stemedb_trust_lsn", help: "log position the current TrustRank reflects", registers: reg }),
    trustAgents: new Gauge({ name: "stemedb_trust_agents", help: "agents in the current TrustRank", registers: reg }),

    // Content defense (SPEC §6): quarantine and circuit breakers (gauges set at scrape time).
    quarantined: new Gauge({ name: "stemedb_quarantined", help: "assertions held in quarantine now", registers: reg }),
    quarantineDecisionsTotal: new Counter({
      name: "stemedb_quarantine_decisions_total",
      help: "quarantine decisions (authority reviews) acknowledged since start, by action: hold, approve, reject",
      labelNames: ["action"] as const,
      registers: reg,
    }),
    breakers: new Gauge({
      name: "stemedb_breakers",
      help: "per-agent circuit breakers by state: closed, open, half_open",
      labelNames: ["state"] as const,
      registers: reg,
    }),
    breakerRejectionsTotal: new Counter({
      name: "stemedb_breaker_rejections_total",
      help: "writes refused by a circuit breaker: agent (429 breaker_open) or global (503 overloaded, slow fsync)",
      labelNames: ["breaker"] as const,
      registers: reg,
    }),
    globalBreakerOpen: new Gauge({
      name: "stemedb_global_breaker_open",
      help: "1 while the global breaker sheds writes because fdatasync is slow",
      registers: reg,
    }),
  };
}

/**
 * Process metrics, cheap to collect. Not prom-client's collectDefaultMetrics: its heap-space
 * statistics (v8.getHeapSpaceStatistics) take hundreds of milliseconds in Bun with a few
 * million live objects, and a scrape runs on the event loop that answers queries — a 1M-record
 * node stalled 0.4 s every scrape. Each value here costs microseconds.
 */
function registerProcessMetrics(registry: Registry): void {
  const reg = [registry];
  const startedAt = Date.now() / 1000 - process.uptime();
  new Gauge({
    name: "stemedb_process_cpu_seconds_total",
    help: "user and system CPU time spent, seconds",
    labelNames: ["mode"] as const,
    registers: reg,
    collect() {
      const u = process.cpuUsage();
      this.set({ mode: "user" }, u.user / 1e6);
      this.set({ mode: "system" }, u.system / 1e6);
    },
  });
  new Gauge({
    name: "stemedb_process_resident_memory_bytes",
    help: "resident set size, bytes",
    registers: reg,
    collect() {
      this.set(process.memoryUsage.rss());
    },
  });
  new Gauge({
    name: "stemedb_process_heap_bytes",
    help: "JavaScript heap in use and allocated, bytes",
    labelNames: ["kind"] as const,
    registers: reg,
    collect() {
      const m = process.memoryUsage();
      this.set({ kind: "used" }, m.heapUsed);
      this.set({ kind: "total" }, m.heapTotal);
    },
  });
  new Gauge({
    name: "stemedb_process_open_fds",
    help: "open file descriptors",
    registers: reg,
    collect() {
      try {
        this.set(fs.readdirSync("/proc/self/fd").length);
      } catch {
        // not Linux: leave it unset
      }
    },
  });
  const maxFds = (() => {
    try {
      const m = /^Max open files\s+(\d+)/m.exec(fs.readFileSync("/proc/self/limits", "utf8"));
      return m ? Number(m[1]) : null;
    } catch {
      return null;
    }
  })();
  new Gauge({
    name: "stemedb_process_max_fds",
    help: "the open file descriptor limit",
    registers: reg,
    collect() {
      if (maxFds !== null) this.set(maxFds);
    },
  });
  new Gauge({
    name: "stemedb_process_start_time_seconds",
    help: "when the process started, seconds since the epoch",
    registers: reg,
    collect() {
      this.set(startedAt);
    },
  });
}
