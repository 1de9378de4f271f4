/**
 * Configuration: command-line flags over `STEMEDB_*` environment variables over defaults.
 * `settings` is the one table of them: `stemedb serve`'s flags and its `--help` (cli/commands/
 * serve.ts) and `.env.example` (`envExample()`, written by `make docs`) are derived from it.
 */
import net from "node:net";
import os from "node:os";
import { presetNames, type PresetName } from "../cluster/config.ts";
import { isWildcard, parseHostPort } from "../cluster/net/address.ts";
import { shardCountMax } from "../cluster/placement.ts";
import type { ClusterSettings } from "../cluster/run.ts";
import { StemeError } from "../core/errors.ts";
import { batchBodyBytesMax, batchRecordsMax, clockSkewMsDefault, writeBodyBytesMax } from "../core/limits.ts";
import type { LogLevel } from "../core/logger.ts";

export interface Config {
  dataDir: string;
  bindHost: string;
  bindPort: number;
  sync: "batch" | "none";
  syncsInFlight: number;
  segmentBytesMax: number;
  clockSkewMs: number;
  queueRecordsMax: number;
  writeBodyBytesMax: number;
  batchBodyBytesMax: number;
  batchRecordsMax: number;
  httpTimeoutSecs: number;
  verifyThreads: number;
  viewsMax: number;
  viewsBytesMax: number;
  recordCacheBytesMax: number;
  indexCacheBytes: number;
  indexWalBytesMax: number;
  indexFlushMs: number;
  indexCheckpointMs: number;
  queryWorkers: number;
  trustIntervalMs: number;
  auditEntriesMax: number;
  auditRetentionDays: number;
  escalateKappa: number;
  /** Content defense (docs/DEFENSE.md): quarantine policy, per-agent breakers, the global breaker. */
  quarantineUnknownAgents: boolean;
  quarantineTrustBelow: number;
  quarantineGold: boolean;
  quarantineGoldConfidence: number;
  breakerWindowMs: number;
  breakerBadMax: number;
  breakerRateMax: number;
  breakerCoolDownMs: number;
  shedFsyncP99Ms: number;
  readBodyBytesMax: number;
  rateRead: number;
  rateWrite: number;
  rateAdmin: number;
  tlsCertPath: string;
  tlsKeyPath: string;
  tlsMinVersion: "1.2" | "1.3";
  insecure: boolean;
  backupDir: string;
  archiveDir: string;
  archiveIntervalSecs: number;
  archiveS3: string;
  changesFollowersMax: number;
  changesBufferEventsMax: number;
  changesBufferBytesMax: number;
  changesHeartbeatSecs: number;
  logLevel: LogLevel;
  /** Browser pages allowed to call the API (CORS), as exact origins `scheme://host[:port]`. */
  corsOrigins: string[];
  /** The cluster's data plane (docs/CLUSTER.md#settings): in effect only with --cluster-bind. */
  antiEntropyIntervalSecs: number;
  replicationQueueRecordsMax: number;
  quorumTimeoutMs: number;
  /** The cluster (docs/CLUSTER.md#starting-a-cluster): the settings as given ("" when not set)… */
  clusterBind: string;
  join: string;
  clusterKeyFile: string;
  nodeName: string;
  replicationFactor: number;
  shards: number;
  advertise: string;
  clusterPreset: PresetName;
  clusterTlsCert: string;
  clusterTlsKey: string;
  clusterTlsCa: string;
  /** … and what they come to: null for a single node (no --cluster-bind). */
  cluster: ClusterSettings | null;
}

/** The cluster's TCP port when --cluster-bind gives a host alone; gossip is one above (SPEC: 18182 and 18183). */
export const clusterPortDefault = 18182;

export interface Setting {
  key: keyof Config;
  flag: string;
  env: string;
  default: string;
  help: string;
  /** A switch: `--flag` alone means true on the command line. */
  boolean?: true;
  /** The value's placeholder in help: N when absent for a numeric setting, else VALUE. */
  value?: string;
  /** The default as people should read it, when `default` depends on the machine. */
  shownDefault?: string;
  /** Repeatable on the command line; the environment variable takes a comma-separated list. */
  multiple?: true;
}

export const settings: Setting[] = [
  {
    key: "dataDir",
    flag: "data-dir",
    value: "DIR",
    env: "STEMEDB_DATA_DIR",
    default: "./data",
    help: "data directory (log, index, node key)",
  },
  {
    key: "bindHost",
    flag: "bind",
    value: "HOST:PORT",
    env: "STEMEDB_BIND_ADDR",
    default: "127.0.0.1:18180",
    help: "HOST:PORT to listen on",
  },
  {
    key: "sync",
    flag: "sync",
    value: "batch|none",
    env: "STEMEDB_SYNC",
    default: "batch",
    help: '"batch": ack after fdatasync (group commit); "none": never sync (benchmarks only)',
  },
  {
    key: "syncsInFlight",
    flag: "syncs-in-flight",
    env: "STEMEDB_SYNCS_IN_FLIGHT",
    default: "2",
    help: "log fdatasyncs running at once, 1–16 (pipelined group commit; each acknowledges what was written before it began; 1: one at a time)",
  },
  {
    key: "segmentBytesMax",
    flag: "segment-bytes",
    env: "STEMEDB_SEGMENT_BYTES",
    default: String(64 * 1024 * 1024),
    help: "log segment size before rotation, bytes",
  },
  {
    key: "clockSkewMs",
    flag: "max-clock-skew-ms",
    env: "STEMEDB_MAX_CLOCK_SKEW_MS",
    default: String(clockSkewMsDefault),
    help: "how far in the future a record's ts may be, ms",
  },
  {
    key: "queueRecordsMax",
    flag: "queue-records",
    env: "STEMEDB_QUEUE_RECORDS_MAX",
    default: "50000",
    help: "records in the ingest pipeline before 503 + Retry-After",
  },
  {
    key: "writeBodyBytesMax",
    flag: "write-body-limit",
    env: "STEMEDB_WRITE_BODY_LIMIT",
    default: String(writeBodyBytesMax),
    help: "largest single-record request body, bytes",
  },
  {
    key: "batchBodyBytesMax",
    flag: "batch-body-limit",
    env: "STEMEDB_BATCH_BODY_LIMIT",
    default: String(batchBodyBytesMax),
    help: "largest batch request body, bytes",
  },
  {
    key: "batchRecordsMax",
    flag: "batch-records",
    env: "STEMEDB_BATCH_RECORDS_MAX",
    default: String(batchRecordsMax),
    help: "most records in one batch",
  },
  {
    key: "httpTimeoutSecs",
    flag: "http-timeout-secs",
    env: "STEMEDB_HTTP_TIMEOUT_SECS",
    default: "30",
    help: "idle connection timeout, seconds",
  },
  {
    key: "verifyThreads",
    flag: "verify-threads",
    env: "STEMEDB_VERIFY_THREADS",
    default: String(Math.min(64, navigator.hardwareConcurrency || 2)),
    shownDefault: "one per core, at most 64",
    help: "signature-checking threads, 1–64",
  },
  {
    key: "viewsMax",
    flag: "views-max",
    env: "STEMEDB_VIEWS_MAX",
    default: "100000",
    help: "materialized views kept in memory (0: off)",
  },
  {
    key: "viewsBytesMax",
    flag: "views-bytes",
    env: "STEMEDB_VIEWS_BYTES_MAX",
    default: String(64 * 1024 * 1024),
    help: "memory materialized views may hold, bytes (estimated; the least recently read go first; 0: views off)",
  },
  {
    key: "recordCacheBytesMax",
    flag: "record-cache-bytes",
    env: "STEMEDB_RECORD_CACHE_BYTES_MAX",
    default: String(32 * 1024 * 1024),
    help: "memory decoded records kept for queries to read again may hold, bytes (estimated; 0: none kept)",
  },
  {
    key: "queryWorkers",
    flag: "query-workers",
    env: "STEMEDB_QUERY_WORKERS",
    // One core gains nothing from a second thread and pays its overhead (docs/BENCHMARKS.md).
    default: String((navigator.hardwareConcurrency || 2) > 1 ? Math.min(64, navigator.hardwareConcurrency || 2) : 0),
    shownDefault: "one per core, at most 64; none on one core",
    help: "threads resolving cold queries beside the event loop, at most 64 (0: all on the event loop)",
  },
  {
    key: "indexCacheBytes",
    flag: "index-cache-bytes",
    env: "STEMEDB_INDEX_CACHE_BYTES",
    default: String(32 * 1024 * 1024),
    help: "SQLite page cache of the index, bytes (each query worker has half as much of its own)",
  },
  {
    key: "indexWalBytesMax",
    flag: "index-wal-bytes-max",
    env: "STEMEDB_INDEX_WAL_BYTES_MAX",
    default: String(64 * 1024 * 1024),
    help: "the index's WAL is checkpointed by a thread of its own after each batch; past this many bytes (at least ~4 MiB, at most 4 GiB) the applying thread checkpoints itself (0: no checkpoint thread, SQLite's own every ~4 MiB)",
  },
  {
    key: "indexFlushMs",
    flag: "index-flush-ms",
    env: "STEMEDB_INDEX_FLUSH_MS",
    default: "20",
    help: "the index applies acknowledged records at least this often, ms, at most 60000 (one transaction each; shorter: shorter stalls of the event loop)",
  },
  {
    key: "indexCheckpointMs",
    flag: "index-checkpoint-ms",
    env: "STEMEDB_INDEX_CHECKPOINT_MS",
    default: "100",
    help: "the index's checkpoint thread copies the WAL into the file at most this often, ms, at most 60000 (0: after every batch)",
  },

  {
    key: "trustIntervalMs",
    flag: "trust-interval-ms",
    env: "STEMEDB_TRUST_INTERVAL_MS",
    default: "1000",
    help: "how often TrustRank looks for new votes and reviews, ms",
  },
  {
    key: "auditEntriesMax",
    flag: "audit-entries",
    env: "STEMEDB_AUDIT_ENTRIES_MAX",
    default: "1000000",
    help: "query audit entries kept (0: no audit trail)",
  },
  {
    key: "auditRetentionDays",
    flag: "audit-days",
    env: "STEMEDB_AUDIT_RETENTION_DAYS",
    default: "30",
    help: "days a query audit entry is kept",
  },
  {
    key: "escalateKappa",
    flag: "escalate-kappa",
    value: "X",
    env: "STEMEDB_ESCALATE_KAPPA",
    default: "0.5",
    help: "κ at which a query with escalate=true opens an escalation, in (0, 1]",
  },
  {
    key: "quarantineUnknownAgents",
    flag: "quarantine-unknown-agents",
    env: "STEMEDB_QUARANTINE_UNKNOWN_AGENTS",
    default: "false",
    boolean: true,
    help: "hold assertions from agents with no trust seed and no visible assertion until an authority approves one",
  },
  {
    key: "quarantineTrustBelow",
    flag: "quarantine-trust-below",
    value: "X",
    env: "STEMEDB_QUARANTINE_TRUST_BELOW",
    default: "0",
    help: "hold assertions from agents whose TrustRank τ is below this, in [0, 1] (0: off)",
  },
  {
    key: "quarantineGold",
    flag: "quarantine-gold",
    env: "STEMEDB_QUARANTINE_GOLD",
    default: "false",
    boolean: true,
    help: "hold assertions that contradict a gold standard at --quarantine-gold-confidence or more",
  },
  {
    key: "quarantineGoldConfidence",
    flag: "quarantine-gold-confidence",
    value: "X",
    env: "STEMEDB_QUARANTINE_GOLD_CONFIDENCE",
    default: "0.8",
    help: "confidence from which a contradiction of a gold standard is held, in [0, 1]",
  },
  {
    key: "breakerWindowMs",
    flag: "breaker-window-ms",
    env: "STEMEDB_BREAKER_WINDOW_MS",
    default: "60000",
    help: "sliding window of each agent's circuit breaker, ms",
  },
  {
    key: "breakerBadMax",
    flag: "breaker-bad-max",
    env: "STEMEDB_BREAKER_BAD_MAX",
    default: "50",
    help: "quarantined or rejected writes of one agent in a window that open its breaker (0: never)",
  },
  {
    key: "breakerRateMax",
    flag: "breaker-rate-max",
    env: "STEMEDB_BREAKER_RATE_MAX",
    default: "120000",
    help: "writes of one agent in a window past which its breaker opens (0: no bound)",
  },
  {
    key: "breakerCoolDownMs",
    flag: "breaker-cooldown-ms",
    env: "STEMEDB_BREAKER_COOLDOWN_MS",
    default: "30000",
    help: "how long an open breaker refuses an agent (429) before a probe write may pass, ms",
  },
  {
    key: "shedFsyncP99Ms",
    flag: "shed-fsync-p99-ms",
    value: "MS",
    env: "STEMEDB_SHED_FSYNC_P99_MS",
    default: "1000",
    help: "shed writes (503 overloaded) while the recent fdatasync p99 is above this, ms (0: never)",
  },
  {
    key: "readBodyBytesMax",
    flag: "read-body-limit",
    env: "STEMEDB_READ_BODY_LIMIT",
    default: String(64 * 1024),
    help: "largest body of a read request (POST /v1/query) or admin request, bytes",
  },
  {
    key: "rateRead",
    flag: "rate-read",
    env: "STEMEDB_RATE_READ",
    default: "20000",
    help: "read requests a second per API key and per client address (burst 2×; 0: no limit)",
  },
  {
    key: "rateWrite",
    flag: "rate-write",
    env: "STEMEDB_RATE_WRITE",
    default: "10000",
    help: "write requests a second per API key and per client address (burst 2×; 0: no limit)",
  },
  {
    key: "rateAdmin",
    flag: "rate-admin",
    env: "STEMEDB_RATE_ADMIN",
    default: "100",
    help: "admin requests a second per API key and per client address (burst 2×; 0: no limit)",
  },
  {
    key: "tlsCertPath",
    flag: "tls-cert",
    value: "FILE",
    env: "STEMEDB_TLS_CERT_PATH",
    default: "",
    help: "PEM certificate (chain) to serve HTTPS with; needs --tls-key",
  },
  {
    key: "tlsKeyPath",
    flag: "tls-key",
    value: "FILE",
    env: "STEMEDB_TLS_KEY_PATH",
    default: "",
    help: "PEM private key for --tls-cert",
  },
  {
    key: "tlsMinVersion",
    flag: "tls-min-version",
    value: "1.2|1.3",
    env: "STEMEDB_TLS_MIN_VERSION",
    default: "1.3",
    help: "oldest TLS version accepted: 1.3, or 1.2 for old clients",
  },
  {
    key: "insecure",
    flag: "insecure",
    env: "STEMEDB_INSECURE",
    default: "false",
    boolean: true,
    help: "serve with no API keys on a non-loopback address (true/false) — never in production",
  },
  {
    key: "backupDir",
    flag: "backup-dir",
    value: "DIR",
    env: "STEMEDB_BACKUP_DIR",
    default: "",
    help: "where POST /v1/admin/snapshot puts backups (one new directory each)",
  },
  {
    key: "archiveDir",
    flag: "archive-dir",
    value: "DIR",
    env: "STEMEDB_ARCHIVE_DIR",
    default: "",
    help: "archive sealed log segments and the active tail here, for point-in-time restore",
  },
  {
    key: "archiveIntervalSecs",
    flag: "archive-interval-secs",
    env: "STEMEDB_ARCHIVE_INTERVAL_SECS",
    default: "60",
    help: "how often the archive is brought up to date, seconds",
  },
  {
    key: "archiveS3",
    flag: "archive-s3",
    value: "s3://BUCKET/PREFIX",
    env: "STEMEDB_ARCHIVE_S3",
    default: "",
    help: "also upload archived segments to s3://bucket/prefix (AWS_* variables for credentials)",
  },
  {
    key: "changesFollowersMax",
    flag: "changes-followers-max",
    env: "STEMEDB_CHANGES_FOLLOWERS_MAX",
    default: "128",
    help: "change feed (GET /v1/changes) followers connected at once; past it, 503 too_many_followers",
  },
  {
    key: "changesBufferEventsMax",
    flag: "changes-buffer-events",
    env: "STEMEDB_CHANGES_BUFFER_EVENTS_MAX",
    default: "10000",
    help: "events a change feed follower may have waiting before it is cut off as too slow",
  },
  {
    key: "changesBufferBytesMax",
    flag: "changes-buffer-bytes",
    env: "STEMEDB_CHANGES_BUFFER_BYTES_MAX",
    default: String(8 * 1024 * 1024),
    help: "bytes a change feed follower may have waiting before it is cut off as too slow",
  },
  {
    key: "changesHeartbeatSecs",
    flag: "changes-heartbeat-secs",
    env: "STEMEDB_CHANGES_HEARTBEAT_SECS",
    default: "15",
    help: "a heartbeat comment to every change feed follower this often, seconds",
  },
  {
    key: "antiEntropyIntervalSecs",
    flag: "anti-entropy-interval-secs",
    env: "STEMEDB_ANTI_ENTROPY_INTERVAL_SECS",
    default: "30",
    help: "in a cluster: how often each shard's Merkle root is compared with its other replicas, seconds (a difference is repaired both ways)",
  },
  {
    key: "replicationQueueRecordsMax",
    flag: "replication-queue-records",
    env: "STEMEDB_REPLICATION_QUEUE_RECORDS_MAX",
    default: "100000",
    help: "in a cluster: records waiting to be pushed to one peer at most; past it pushes are dropped and anti-entropy repairs them",
  },
  {
    key: "quorumTimeoutMs",
    flag: "quorum-timeout-ms",
    env: "STEMEDB_QUORUM_TIMEOUT_MS",
    default: "5000",
    help: "in a cluster: how long an ack=quorum write waits for the other replicas before it answers 503 not_enough_replicas, ms",
  },
  {
    key: "logLevel",
    flag: "log-level",
    value: "LEVEL",
    env: "STEMEDB_LOG_LEVEL",
    default: "info",
    help: "debug | info | warn | error",
  },
  {
    key: "corsOrigins",
    flag: "cors-origin",
    value: "ORIGIN",
    env: "STEMEDB_CORS_ORIGINS",
    default: "",
    multiple: true,
    help: "let browser pages from ORIGIN (scheme://host[:port]) call the API (CORS); repeat the flag, or comma-separate the variable",
  },
  ...clusterSettings(),
];

/** The cluster's rows (docs/CLUSTER.md#starting-a-cluster); without --cluster-bind the node is single and the rest is unused. */
function clusterSettings(): Setting[] {
  return [
    {
      key: "clusterBind",
      flag: "cluster-bind",
      value: "HOST:CPORT",
      env: "STEMEDB_CLUSTER_BIND_ADDR",
      default: "",
      help: `join a cluster: TCP streams on CPORT (default ${clusterPortDefault}), gossip on UDP CPORT+1; unset: a single node`,
    },
    {
      key: "join",
      flag: "join",
      value: "HOST:CPORT",
      env: "STEMEDB_JOIN",
      default: "",
      multiple: true,
      help: "members to join through (their --cluster-bind address); repeat or comma-separate; none: this node starts the cluster",
    },
    {
      key: "clusterKeyFile",
      flag: "cluster-key-file",
      value: "FILE",
      env: "STEMEDB_CLUSTER_KEY_FILE",
      default: "",
      help: "the cluster key: 64 hex digits a line, the primary first (`openssl rand -hex 32`); mode 0600",
    },
    {
      key: "nodeName",
      flag: "node-name",
      value: "NAME",
      env: "STEMEDB_NODE_NAME",
      default: "",
      shownDefault: "the host name",
      help: "this node's name in the cluster, unique among its members",
    },
    {
      key: "replicationFactor",
      flag: "replication-factor",
      env: "STEMEDB_REPLICATION_FACTOR",
      default: "2",
      help: "copies of each shard (at most the number of live nodes); the same on every node",
    },
    {
      key: "shards",
      flag: "shards",
      env: "STEMEDB_SHARDS",
      default: "256",
      help: "shards, fixed when the cluster is created: a node with another count is refused",
    },
    {
      key: "advertise",
      flag: "advertise",
      value: "HOST",
      env: "STEMEDB_ADVERTISE_ADDR",
      default: "",
      shownDefault: "the --cluster-bind host",
      help: "the host other members reach this node at (needed when --cluster-bind is 0.0.0.0 or ::)",
    },
    {
      key: "clusterPreset",
      flag: "cluster-preset",
      value: "lan|wan|local",
      env: "STEMEDB_CLUSTER_PRESET",
      default: "lan",
      help: "membership timings: lan (one data centre), wan (across regions), local (one machine, tests)",
    },
    {
      key: "clusterTlsCert",
      flag: "cluster-tls-cert",
      value: "FILE",
      env: "STEMEDB_CLUSTER_TLS_CERT_PATH",
      default: "",
      help: "mutual TLS on the cluster's TCP port: this node's PEM certificate (with --cluster-tls-key, --cluster-tls-ca)",
    },
    {
      key: "clusterTlsKey",
      flag: "cluster-tls-key",
      value: "FILE",
      env: "STEMEDB_CLUSTER_TLS_KEY_PATH",
      default: "",
      help: "the PEM private key for --cluster-tls-cert",
    },
    {
      key: "clusterTlsCa",
      flag: "cluster-tls-ca",
      value: "FILE",
      env: "STEMEDB_CLUSTER_TLS_CA_PATH",
      default: "",
      help: "the PEM CA certificate that signed every member's --cluster-tls-cert",
    },
  ];
}

const numeric = new Set<keyof Config>([
  "syncsInFlight",
  "segmentBytesMax",
  "clockSkewMs",
  "queueRecordsMax",
  "writeBodyBytesMax",
  "batchBodyBytesMax",
  "batchRecordsMax",
  "httpTimeoutSecs",
  "verifyThreads",
  "viewsMax",
  "viewsBytesMax",
  "recordCacheBytesMax",
  "indexCacheBytes",
  "indexWalBytesMax",
  "indexFlushMs",
  "indexCheckpointMs",
  "queryWorkers",
  "trustIntervalMs",
  "auditEntriesMax",
  "auditRetentionDays",
  "readBodyBytesMax",
  "rateRead",
  "rateWrite",
  "rateAdmin",
  "archiveIntervalSecs",
  "changesFollowersMax",
  "changesBufferEventsMax",
  "changesBufferBytesMax",
  "changesHeartbeatSecs",
  "antiEntropyIntervalSecs",
  "replicationQueueRecordsMax",
  "quorumTimeoutMs",
  "replicationFactor",
  "shards",
]);
/** Numeric settings where 0 means "off". */
const zeroAllowed = new Set<keyof Config>([
  "viewsMax",
  "viewsBytesMax",
  "recordCacheBytesMax",
  "indexWalBytesMax",
  "indexCheckpointMs",
  "queryWorkers",
  "auditEntriesMax",
  "rateRead",
  "rateWrite",
  "rateAdmin",
]);

/**
 * Numeric settings with a ceiling: a thread or an open file each (a slip of the finger,
 * `--query-workers 200`, is refused, not obeyed), or a value past what the layer below can take. Past 2–3 syncs in flight the disk
 * gains nothing (docs/BENCHMARKS.md, "Single-record ingest"); a thread per core is the most
 * the others can use.
 */
const ceilings: Partial<Record<keyof Config, number>> = {
  syncsInFlight: 16,
  queryWorkers: 64,
  verifyThreads: 64,
  // SQLite reads the checkpoint interval as a 32-bit count of pages: 2^31 pages and more turn it off.
  indexWalBytesMax: 4 * 1024 ** 3,
  // Timers past 2^31 − 1 ms fire at once; a minute is already far past any use.
  indexFlushMs: 60_000,
  indexCheckpointMs: 60_000,
};

/** Resolve the configuration. `flags` holds parsed command-line values by flag name. */
export function loadConfig(
  flags: Record<string, string | boolean | undefined>,
  env: Record<string, string | undefined> = process.env,
): Config {
  const raw: Record<string, string> = {};
  for (const s of settings) {
    const fromFlag = flags[s.flag];
    raw[s.key] = typeof fromFlag === "string" ? fromFlag : fromFlag === true ? "true" : (env[s.env] ?? s.default);
  }
  const out: Record<string, unknown> = { ...raw };
  for (const key of numeric) {
    const n = Number(raw[key]);
    const s = settings.find((x) => x.key === key) as Setting;
    const least = zeroAllowed.has(key) ? 0 : 1;
    const most = ceilings[key];
    if (raw[key] === "" || !Number.isSafeInteger(n) || n < least || (most !== undefined && n > most))
      throw configError(
        s,
        raw[key] ?? "",
        most !== undefined ? `an integer from ${least} to ${most}` : least === 0 ? "an integer ≥ 0" : "a positive integer",
      );
    out[key] = n;
  }
  const kappa = Number(raw.escalateKappa);
  if (raw.escalateKappa === "" || !(kappa > 0 && kappa <= 1))
    throw configError(settings.find((x) => x.key === "escalateKappa") as Setting, raw.escalateKappa ?? "", "a number in (0, 1]");
  out.escalateKappa = kappa;
  Object.assign(out, defenseConfig(raw));
  const insecure = raw.insecure ?? "false";
  if (!["true", "false", "1", "0", ""].includes(insecure))
    throw configError(settings.find((x) => x.key === "insecure") as Setting, insecure, "true or false");
  out.insecure = insecure === "true" || insecure === "1";
  if (raw.tlsMinVersion !== "1.2" && raw.tlsMinVersion !== "1.3")
    throw configError(settings.find((x) => x.key === "tlsMinVersion") as Setting, raw.tlsMinVersion ?? "", "1.2 or 1.3");
  if (Boolean(raw.tlsCertPath) !== Boolean(raw.tlsKeyPath))
    throw new StemeError("bad_config", "--tls-cert and --tls-key go together: give both, or neither");
  const bind = parseBind(raw.bindHost ?? "");
  out.bindHost = bind.host;
  out.bindPort = bind.port;
  if (raw.sync !== "batch" && raw.sync !== "none")
    throw configError(settings.find((x) => x.key === "sync") as Setting, raw.sync ?? "", '"batch" or "none"');
  if (!["debug", "info", "warn", "error"].includes(raw.logLevel ?? ""))
    throw configError(settings.find((x) => x.key === "logLevel") as Setting, raw.logLevel ?? "", "debug, info, warn or error");
  out.corsOrigins = parseOrigins(raw.corsOrigins ?? "");
  Object.assign(out, clusterConfig(raw));
  return out as unknown as Config;
}

/** The content-defense settings (fractions and switches, so parsed apart from the integers). */
function defenseConfig(raw: Record<string, string>): Partial<Config> {
  const setting = (key: keyof Config) => settings.find((x) => x.key === key) as Setting;
  const fraction = (key: keyof Config): number => {
    const n = Number(raw[key]);
    if (raw[key] === "" || !(n >= 0 && n <= 1)) throw configError(setting(key), raw[key] ?? "", "a number in [0, 1]");
    return n;
  };
  const count = (key: keyof Config, least: number): number => {
    const n = Number(raw[key]);
    if (raw[key] === "" || !Number.isSafeInteger(n) || n < least)
      throw configError(setting(key), raw[key] ?? "", least === 0 ? "an integer ≥ 0" : `an integer ≥ ${least}`);
    return n;
  };
  const flag = (key: keyof Config): boolean => {
    const v = raw[key] ?? "false";
    if (!["true", "false", "1", "0", ""].includes(v)) throw configError(setting(key), v, "true or false");
    return v === "true" || v === "1";
  };
  const p99 = Number(raw.shedFsyncP99Ms);
  if (raw.shedFsyncP99Ms === "" || !(p99 >= 0 && Number.isFinite(p99)))
    throw configError(setting("shedFsyncP99Ms"), raw.shedFsyncP99Ms ?? "", "a number of ms ≥ 0");
  return {
    quarantineUnknownAgents: flag("quarantineUnknownAgents"),
    quarantineTrustBelow: fraction("quarantineTrustBelow"),
    quarantineGold: flag("quarantineGold"),
    quarantineGoldConfidence: fraction("quarantineGoldConfidence"),
    breakerWindowMs: count("breakerWindowMs", 10),
    breakerBadMax: count("breakerBadMax", 0),
    breakerRateMax: count("breakerRateMax", 0),
    breakerCoolDownMs: count("breakerCoolDownMs", 0),
    shedFsyncP99Ms: p99,
  };
}

/** The cluster's settings: checked, defaulted, and null without --cluster-bind. */
function clusterConfig(raw: Record<string, string>): Partial<Config> {
  const setting = (key: keyof Config) => settings.find((x) => x.key === key) as Setting;
  const integer = (key: keyof Config, least: number, most: number): number => {
    const n = Number(raw[key]);
    if (raw[key] === "" || !Number.isSafeInteger(n) || n < least || n > most)
      throw configError(setting(key), raw[key] ?? "", `an integer from ${least} to ${most}`);
    return n;
  };
  const replicationFactor = integer("replicationFactor", 1, 64);
  const shards = integer("shards", 1, shardCountMax);
  const preset = raw.clusterPreset as PresetName;
  if (!presetNames.includes(preset)) throw configError(setting("clusterPreset"), raw.clusterPreset ?? "", "lan, wan or local");
  const tlsPaths = [raw.clusterTlsCert, raw.clusterTlsKey, raw.clusterTlsCa];
  if (tlsPaths.some(Boolean) && !tlsPaths.every(Boolean))
    throw new StemeError(
      "bad_config",
      "--cluster-tls-cert, --cluster-tls-key and --cluster-tls-ca go together: give all three, or none",
    );
  const given = { replicationFactor, shards, clusterPreset: preset };
  if (!raw.clusterBind) {
    const stray = (["join", "clusterKeyFile", "advertise", "clusterTlsCert"] as const).find((k) => raw[k]);
    if (stray)
      throw new StemeError(
        "bad_config",
        `--${setting(stray).flag} is set but --cluster-bind is not: a node without --cluster-bind is single`,
        {
          hint: "give --cluster-bind HOST:CPORT to join a cluster, or unset the cluster settings",
        },
      );
    return { ...given, cluster: null };
  }
  const bind = hostPort(setting("clusterBind"), raw.clusterBind);
  if (bind.port < 1 || bind.port > 65_534)
    throw configError(setting("clusterBind"), raw.clusterBind, "a CPORT from 1 to 65534 (gossip takes CPORT + 1)");
  if (parseBind(raw.bindHost ?? "").port === 0)
    throw new StemeError("bad_config", "--cluster-bind needs --bind with a port: the members publish it to each other");
  if (!raw.clusterKeyFile)
    throw new StemeError("bad_config", "--cluster-bind needs --cluster-key-file FILE: the key every member holds", {
      hint: "make one with `openssl rand -hex 32 > cluster.key && chmod 600 cluster.key`, and give every node a copy",
    });
  if (!raw.advertise && isWildcard(bind.host))
    throw new StemeError(
      "bad_config",
      `--cluster-bind ${raw.clusterBind} listens everywhere: give --advertise HOST, the address other members reach this node at`,
    );
  const seeds = (raw.join ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const seed = hostPort(setting("join"), s);
      return `${seed.host.includes(":") ? `[${seed.host}]` : seed.host}:${seed.port}`;
    });
  const nodeName = raw.nodeName || os.hostname().slice(0, 128);
  if (Buffer.byteLength(nodeName) > 128 || /[\s\p{Cc}]/u.test(nodeName))
    throw configError(setting("nodeName"), nodeName, "a name of 1 to 128 bytes without spaces or control characters");
  const advertiseHost = raw.advertise || bind.host;
  const bare = (raw.advertise ?? "").replace(/^\[(.*)\]$/, "$1");
  if (raw.advertise && !(net.isIP(bare) || /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(bare)))
    throw configError(setting("advertise"), raw.advertise, "a host name or address, without a port");
  const cluster: ClusterSettings = {
    bindHost: bind.host,
    port: bind.port,
    seeds,
    keyFile: raw.clusterKeyFile,
    nodeName,
    replicationFactor,
    shards,
    advertiseHost: advertiseHost.replace(/^\[|\]$/g, ""),
    preset,
    tls: raw.clusterTlsCert
      ? { certPath: raw.clusterTlsCert, keyPath: raw.clusterTlsKey ?? "", caPath: raw.clusterTlsCa ?? "" }
      : null,
  };
  return { ...given, cluster };
}

function hostPort(s: Setting, value: string): { host: string; port: number } {
  try {
    return parseHostPort(value, clusterPortDefault);
  } catch {
    throw configError(s, value, "HOST:CPORT or HOST (an IPv6 host in brackets: [::1]:18182)");
  }
}

/**
 * `--cors-origin` values (comma-joined): each an origin as a browser sends it in `Origin`
 * (RFC 6454 §6.2: scheme, host, and the port unless it is the scheme's default), which is what
 * requests are matched against, exactly. `*` is refused: a page on any site could then call a
 * server that runs open on loopback, with the browser of whoever visits it.
 */
export function parseOrigins(value: string): string[] {
  const setting = settings.find((x) => x.key === "corsOrigins") as Setting;
  const origins: string[] = [];
  for (const item of value.split(",")) {
    const text = item.trim();
    if (text === "") continue;
    let url: URL | null = null;
    try {
      url = new URL(text);
    } catch {
      // said below
    }
    const bare = url !== null && url.pathname === "/" && !url.search && !url.hash && !url.username && !url.password;
    if (!url || (url.protocol !== "http:" && url.protocol !== "https:") || !bare || text.endsWith("?") || text.endsWith("#"))
      throw configError(
        setting,
        text,
        "an origin: http(s)://host[:port], without a path (each page's origin, listed one by one; no *)",
      );
    if (!origins.includes(url.origin)) origins.push(url.origin);
  }
  return origins;
}

export function parseBind(value: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:]+\]|[^:]+):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[2]) : Number.NaN;
  if (!m || port > 65535) throw new StemeError("bad_config", `bind: expected HOST:PORT (e.g. 127.0.0.1:18180), got "${value}"`);
  return { host: (m[1] as string).replace(/^\[|\]$/g, ""), port };
}

function configError(s: Setting, value: string, expected: string): StemeError {
  return new StemeError("bad_config", `--${s.flag} / ${s.env}: expected ${expected}, got "${value}"`);
}

/** The placeholder of a setting's value in help. */
export function settingValue(s: Setting): string {
  return s.value ?? (numeric.has(s.key) ? "N" : "VALUE");
}

/**
 * `.env.example`: every setting's variable with its default and its help, from the table.
 * A default that depends on the machine is left commented out.
 */
export function envExample(): string {
  const lines = [
    "# StemeDB configuration. Flags (stemedb serve --help) override these; these override defaults.",
    "# Generated from the settings table in src/config/config.ts by `make docs`: edit the table, not this file.",
    "",
  ];
  for (const s of settings) {
    lines.push(`# ${s.help}${s.shownDefault ? ` (default: ${s.shownDefault})` : ""}`);
    lines.push(`${s.shownDefault ? "# " : ""}${s.env}=${s.shownDefault ? "" : s.default}`);
  }
  lines.push(
    "",
    "# The command line's client commands (assert, get, query, …): the server, and the API key they send.",
    "STEMEDB_URL=http://127.0.0.1:18180",
    "# STEMEDB_API_KEY=",
  );
  return `${lines.join("\n")}\n`;
}
