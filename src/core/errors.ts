/**
 * Operating errors: one closed table, `code → status, title, meaning`, and a typed error that
 * names its code. Everything else follows from the row: the HTTP status and RFC 9457 problem
 * document (api/problem.ts), the OpenAPI problem list (api/openapi), docs/API.md#errors and docs/CLI.md#exit-codes, and the
 * CLI's exit code (cli/fail.ts through `exitCodeOf`).
 *
 * Two kinds of failure (after TigerBeetle's TIGER_STYLE): a broken invariant is a bug and throws
 * through `invariant()` loudly — the server logs it with its stack and answers `500 internal`,
 * the CLI writes a report — while everything a client or the environment can cause (bad input,
 * a full disk, a torn write, a missing file) is a `StemeError` that callers handle.
 */

/**
 * The CLI's exit codes, their own mapping (not HTTP statuses): scripts test for these. A
 * failure's code follows from its problem row (`exit`, or its HTTP status class); see
 * `exitCodeOf`.
 */
export const exitCodes = {
  /** Done. */
  ok: 0,
  /** A check ran and found damage (verify, verify-bundle, verify --index). */
  damage: 1,
  /** The command line or the input it names is wrong: fix the call. */
  usage: 2,
  /** The operation could not be done: a missing or unusable file or directory, a refusal. */
  failed: 3,
  /** The server could not be reached. */
  unreachable: 4,
  /** A bug: the command wrote a report (EX_SOFTWARE, sysexits.h). */
  internal: 70,
} as const;

export type ExitName = keyof typeof exitCodes;

export interface ProblemSpec {
  /** The HTTP status of its problem document. */
  status: number;
  /** A short, fixed title (RFC 9457 `title`). */
  title: string;
  /** What it means, for the API reference. */
  meaning: string;
  /** The hint given when the thrower gives none. */
  hint?: string;
  /** False: raised only on the command line or at start-up, never in an HTTP answer. */
  http?: false;
  /** The CLI exit code; by default `usage` for a client's input mistake (400, 413, 415, 422), else `failed`. */
  exit?: ExitName;
}

/** Every stable code a client, an operator or a script can meet. Append rows; never rename one. */
export const problems = {
  // ------------------------------------------------------------------ 400: the input is wrong
  malformed_json: { status: 400, title: "Malformed JSON", meaning: "the body does not parse as JSON" },
  malformed_cbor: { status: 400, title: "Malformed CBOR", meaning: "the body does not parse as CBOR" },
  non_canonical_cbor: {
    status: 400,
    title: "CBOR body is not canonical",
    meaning: "a CBOR body not in canonical form (`offset` names the byte)",
  },
  invalid_record: {
    status: 400,
    title: "Invalid record",
    meaning: "not a record: not an object, or not a CBOR {body, sig} map",
  },
  invalid_request: {
    status: 400,
    title: "Invalid request",
    meaning: "the request body is not the expected shape (e.g. not {records: [...]}, an empty batch)",
  },
  unknown_field: {
    status: 400,
    title: "Unknown field",
    meaning: "a field the kind or request does not have (`field` names it)",
  },
  missing_field: { status: 400, title: "Missing field", meaning: "a required field (or `sig`) is absent" },
  invalid_type: { status: 400, title: "Wrong type", meaning: "a wrong type, or null for an optional field (leave it out)" },
  out_of_range: {
    status: 400,
    title: "Value out of range",
    meaning: "v ≠ 1, unknown kind, confidence outside [0, 1], tier outside 1–5, vote ≠ ±1, …",
  },
  too_long: {
    status: 400,
    title: "Value too long",
    meaning: "a text, list or object over its limit (`bytes_max` / `items_max`)",
  },
  too_deep: { status: 400, title: "Nested too deeply", meaning: "object nested deeper than 32 levels" },
  invalid_text: { status: 400, title: "Invalid text", meaning: "control characters, lone surrogates, empty text" },
  invalid_path: {
    status: 400,
    title: "Invalid concept path",
    meaning: "a subject that is not segment/segment/… with no empty segment",
  },
  invalid_number: { status: 400, title: "Invalid number", meaning: "NaN or infinity (CBOR only)" },
  bad_hex: { status: 400, title: "Bad hex", meaning: "a byte field that is not hex of the right length" },
  bad_signature: {
    status: 400,
    title: "Signature does not verify",
    meaning: "the signature does not verify; `computed_id` is the id the server computed",
    hint: "sign the 32 id bytes (BLAKE3 of the canonical CBOR body) with the agent's key; compare this id with your client's to find a canonicalisation bug",
  },
  wrong_kind: {
    status: 400,
    title: "Wrong kind of record for this endpoint",
    meaning: "an endpoint for one kind of record given another kind",
  },
  invalid_query: {
    status: 400,
    title: "Invalid query parameter",
    meaning: "a bad query parameter or path segment (`field` names it)",
  },
  unknown_lens: { status: 400, title: "Unknown lens", meaning: "no such lens (`expected` lists them)" },
  // ------------------------------------------------------------------ 401–405: who and where
  unauthorized: {
    status: 401,
    title: "API key required",
    meaning: "no API key, or an unknown or revoked one",
    hint: "an admin makes keys with POST /v1/admin/keys or `stemedb keys create`",
  },
  forbidden: { status: 403, title: "Role too low for this endpoint", meaning: "the key's role is too low for the endpoint" },
  not_registrar: {
    status: 403,
    title: "Not the source's registrar",
    meaning: "a source retraction signed by neither the registrar nor an authority",
  },
  not_found: { status: 404, title: "Not found", meaning: "no such record, escalation, key or route" },
  unknown_source: { status: 404, title: "Unknown source", meaning: "no such source on this node" },
  unknown_epoch: { status: 404, title: "Unknown epoch", meaning: "no such epoch on this node" },
  audit_disabled: {
    status: 404,
    title: "Query audit trail is off",
    meaning: "the server runs without a query audit trail (--audit-entries 0)",
  },
  method_not_allowed: {
    status: 405,
    title: "Method not allowed",
    meaning: "the path exists but not with this method; `Allow` lists the methods",
  },
  request_timeout: {
    status: 408,
    title: "Request body too slow",
    meaning: "the request body did not arrive within --http-timeout-secs",
  },
  // ------------------------------------------------------------------ 409: the state says no
  already_resolved: { status: 409, title: "Escalation already resolved", meaning: "the escalation is already resolved" },
  already_decided: {
    status: 409,
    title: "Already decided",
    meaning: "the held assertion was already approved or rejected (`state` says which)",
  },
  source_disputed: {
    status: 409,
    title: "Source disputed",
    meaning: "two or more agents registered the source and the request does not say whose registration it means",
    hint: 'name the registration to confirm: {"record": "<source record id>"} (the problem lists them)',
  },
  no_backup_dir: {
    status: 409,
    title: "No backup directory configured",
    meaning: "the server has no --backup-dir; snapshots need one",
    hint: "start the server with --backup-dir DIR",
  },
  busy: {
    status: 409,
    title: "Busy",
    meaning: "a snapshot is already being taken; retry after Retry-After seconds",
  },
  exists: {
    status: 409,
    title: "Already exists",
    meaning: "the target directory or file exists and is not empty; a backup goes into a new directory",
  },
  // ------------------------------------------------------------------ 413–429: limits
  payload_too_large: {
    status: 413,
    title: "Payload too large",
    meaning: "the body is over the endpoint's limit (`bytes_max`)",
  },
  batch_too_large: {
    status: 413,
    title: "Batch too large",
    meaning: "more than 10,000 records in one batch (`items_max`)",
  },
  unsupported_media_type: { status: 415, title: "Unsupported media type", meaning: "neither JSON nor CBOR" },
  clock_skew: {
    status: 422,
    title: "Timestamp is in the future",
    meaning: "ts more than --max-clock-skew-ms ahead of the server's clock",
    hint: "check the agent's clock (NTP); ts is milliseconds since the Unix epoch",
  },
  query_too_large: {
    status: 422,
    title: "Query too large",
    meaning: "the query would read more than 50,000 records",
  },
  export_too_large: {
    status: 422,
    title: "Export too large",
    meaning: "the bundle would hold more than 2,000,000 records; narrow the selection",
  },
  rate_limited: {
    status: 429,
    title: "Too many requests",
    meaning: "the key's or the address's bucket for this endpoint class is empty; see Retry-After",
  },
  breaker_open: {
    status: 429,
    title: "Circuit breaker open for this agent",
    meaning: "the signing agent's circuit breaker is open (too many writes, or too many held or rejected ones); see Retry-After",
  },
  // ------------------------------------------------------------------ 500: the node is at fault
  internal: {
    status: 500,
    title: "Internal error",
    meaning: "a bug; the server log has the request id and the stack",
    exit: "internal",
  },
  log_corrupt: {
    status: 500,
    title: "Log corrupt",
    meaning: "a damaged log segment",
    hint: "run `stemedb verify`, then `stemedb repair` if it finds damage",
    exit: "damage",
  },
  key_permissions: {
    status: 500,
    title: "Key file readable by others",
    meaning: "keys.json is readable by others",
    hint: "chmod 600 the file",
  },
  backup_failed: {
    status: 500,
    title: "Backup failed",
    meaning: "the snapshot found the log or index inconsistent",
    hint: "run `stemedb verify`",
  },
  io_error: { status: 500, title: "I/O error", meaning: "reading, writing or hashing a file failed" },
  // ------------------------------------------------------------------ 503: not now
  overloaded: {
    status: 503,
    title: "Server overloaded",
    meaning: "the ingest queue is full, or the disk is slow (fdatasync p99 over --shed-fsync-p99-ms); retry after Retry-After",
  },
  log_write_failed: {
    status: 503,
    title: "Log write failed",
    meaning: "the disk refused a write or sync; the node takes no writes until restarted",
  },
  disk_full: {
    status: 503,
    title: "Disk full",
    meaning: "no space left for the log; this write was not stored; writes resume when space returns",
  },
  log_closed: { status: 503, title: "Log closed", meaning: "the node is shutting down" },
  unavailable: {
    status: 503,
    title: "Not ready",
    meaning: "the node is shutting down, or (in a cluster) has not joined yet; retry after Retry-After",
  },
  index_failed: {
    status: 503,
    title: "Index failing",
    meaning: "the index is failing (e.g. a full disk); acknowledged records are safe; retry",
  },
  index_damaged: {
    status: 503,
    title: "Index damaged",
    meaning:
      "the index failed a page checksum or disagrees with the log; the node refuses reads and writes from it until it is rebuilt (at the next start, or by stemedb reindex)",
    hint: "run `stemedb reindex` (the log is intact; the index is rebuilt from it), or restart the server: it rebuilds an index found damaged",
    exit: "damage",
  },
  timeout: {
    status: 503,
    title: "No answer in time",
    meaning: "no answer within --http-timeout-secs; retry",
  },
  too_many_followers: {
    status: 503,
    title: "Too many change feed followers",
    meaning: "the change feed already has --changes-followers-max followers; retry after Retry-After",
    hint: "retry later, or raise --changes-followers-max",
  },
  not_enough_replicas: {
    status: 503,
    title: "Not enough replicas",
    meaning:
      "a cluster write could not be made durable on as many replicas of its shard as `ack` asks for (`replicas_acked` says how many did); it may be stored on some, and a retry is idempotent",
    hint: "retry after Retry-After; `stemedb admin cluster health` shows which members are down",
  },
  shard_unavailable: {
    status: 503,
    title: "Shard unavailable",
    meaning:
      "no replica of the shard that answers this read is reachable and in sync (they are down, or still syncing after a join); nothing is answered from a partial shard",
    hint: "retry after Retry-After; `stemedb admin shard info` shows the shard's replicas and their states",
  },
  // ------------------------------------------------------------------ the command line and start-up
  usage: {
    status: 400,
    http: false,
    title: "Wrong usage",
    meaning: "an unknown flag, a missing argument, a value of the wrong form",
    hint: "see --help",
  },
  unreachable: {
    status: 503,
    http: false,
    title: "Server unreachable",
    meaning: "no server answers at the URL",
    hint: "is the server running? (--server URL, or STEMEDB_URL)",
    exit: "unreachable",
  },
  bad_config: {
    status: 400,
    http: false,
    title: "Bad configuration",
    meaning: "a flag, environment variable or config file value is wrong",
    exit: "usage",
  },
  bad_key_file: { status: 400, http: false, title: "Bad key file", meaning: "a key file is missing, unreadable or not a key" },
  not_initialized: {
    status: 500,
    http: false,
    title: "Not a data directory",
    meaning: "the directory holds no StemeDB node",
    hint: "run `stemedb init --data-dir DIR` (or `stemedb serve`, which initialises the default)",
  },
  already_initialized: {
    status: 409,
    http: false,
    title: "Already initialised",
    meaning: "the directory already holds a StemeDB node",
  },
  locked: {
    status: 500,
    http: false,
    title: "Data directory in use",
    meaning: "another process holds the data directory",
    hint: "stop the server first, or point at another --data-dir",
  },
  format_version: {
    status: 500,
    http: false,
    title: "Unknown data format",
    meaning: "the data directory was written by another format version",
  },
  index_version: {
    status: 500,
    http: false,
    title: "Index format changed",
    meaning: "the index was written by another index format; it is rebuilt from the log",
  },
  index_open_failed: { status: 500, http: false, title: "Index cannot open", meaning: "the index file cannot be opened" },
  index_checksum_missing: {
    status: 500,
    http: false,
    title: "Index checksum extension missing",
    meaning: "the SQLite extension that checksums the index's pages cannot be found or loaded",
    hint: "make setup compiles native/stemedb_cksm.c; the compiled binary carries it inside",
  },
  no_keys: {
    status: 500,
    http: false,
    title: "No API keys",
    meaning: "a server bound beyond loopback refuses to run without API keys",
    hint: "make one with `stemedb keys create`, or pass --insecure",
  },
  bind_failed: {
    status: 500,
    http: false,
    title: "Cannot listen",
    meaning: "the server cannot listen on its address",
    hint: "is another server on that port? pick another with --bind HOST:PORT",
  },
  backup_invalid: {
    status: 400,
    http: false,
    title: "Backup invalid",
    meaning: "a backup directory that is not a complete backup, or one that fails its checks",
    exit: "damage",
  },
  bad_bundle: {
    status: 400,
    http: false,
    title: "Bundle fails its checks",
    meaning: "an audit bundle item whose id, signature or manifest does not check (`item` and `offset` say where)",
    exit: "damage",
  },
  target_unreachable: {
    status: 400,
    http: false,
    title: "Restore target beyond the backup",
    meaning: "the point in time asked for is not covered by the backup and its archived segments",
  },
  bad_path: {
    status: 400,
    http: false,
    title: "Unusable path",
    meaning:
      "a file or directory named on the command line is missing, or is the wrong kind (a file where a directory belongs, or the reverse)",
  },
  no_signing_key: {
    status: 403,
    http: false,
    title: "No signing key for this caller",
    meaning:
      "a writing MCP tool on the node's /mcp endpoint, called with an API key the node keeps no signing key for, or on an open node (no keys: nobody to sign as); a tool result, never an HTTP answer",
    hint: "make a key the node signs for: `stemedb keys create --signing --role writer --name NAME` (or POST /v1/admin/keys with \"signing\": true); or run `stemedb mcp --key FILE` on the agent's machine to sign with the agent's own key",
  },
  data_file_corrupt: {
    status: 500,
    title: "Data directory file damaged",
    meaning:
      "a file of the data directory (meta.json, node.key, authorities.json, keys.json) is not JSON, has the wrong shape, or cannot be read",
    hint: "restore the file from a backup (`stemedb restore`), or correct it by hand; the log is not affected (`stemedb verify`)",
  },
  not_clustered: {
    status: 409,
    title: "Not in a cluster",
    meaning:
      "a cluster operation (leave, drain) on a node started without --cluster-bind, or a drain of a member that is dead or has left",
    hint: "start the node with --cluster-bind and --cluster-key-file (docs/CLUSTER.md)",
  },
  cluster_refused: {
    status: 500,
    http: false,
    title: "Cluster refused this node",
    meaning: "a seed refused the join: the cluster has another shard count, or another live node holds this node's name",
    hint: "start the node with the cluster's --shards and a --node-name of its own",
  },
} as const satisfies Record<string, ProblemSpec>;

export type ProblemCode = keyof typeof problems;

export interface StemeErrorOptions {
  /** What to do about it; the row's hint when absent. */
  hint?: string;
  /** Extra members for the problem document (e.g. `field`, `computed_id`). */
  extra?: Record<string, unknown>;
  cause?: unknown;
}

export class StemeError extends Error {
  readonly code: ProblemCode;
  readonly hint: string | undefined;
  /** Extra members for the problem document (e.g. `field`, `computed_id`). */
  readonly extra: Record<string, unknown>;

  constructor(code: ProblemCode, message: string, options: StemeErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "StemeError";
    this.code = code;
    this.hint = options.hint ?? (problems[code] as ProblemSpec).hint;
    this.extra = options.extra ?? {};
  }

  get status(): number {
    return problems[this.code].status;
  }

  toProblem(instance?: string): Record<string, unknown> {
    return {
      type: `https://stemedb.dev/problems/${this.code}`,
      title: problems[this.code].title,
      status: this.status,
      code: this.code,
      detail: this.message,
      ...(this.hint ? { hint: this.hint } : {}),
      ...(instance ? { instance } : {}),
      ...this.extra,
    };
  }
}

/** Bad input: the record or request is wrong; nothing was written. */
export function invalid(code: ProblemCode, message: string, extra?: Record<string, unknown>): StemeError {
  return new StemeError(code, message, extra ? { extra } : {});
}

/** A broken invariant is a bug: crash loudly rather than carry on with wrong state. */
export function invariant(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`invariant violated: ${message}`);
}

/** The CLI exit code for a failure with this problem code. */
export function exitCodeOf(code: ProblemCode): number {
  const spec: ProblemSpec = problems[code];
  if (spec.exit) return exitCodes[spec.exit];
  return [400, 413, 415, 422].includes(spec.status) ? exitCodes.usage : exitCodes.failed;
}

/** The codes an HTTP client can meet (the OpenAPI problem list). */
export function httpProblemCodes(): ProblemCode[] {
  return (Object.keys(problems) as ProblemCode[]).filter((c) => (problems[c] as ProblemSpec).http !== false);
}
