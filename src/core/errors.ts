/**
 * Operating errors: a small set with a stable `code`, an HTTP status and an operator hint.
 *
 * Two kinds of failure (after TigerBeetle): a broken invariant is a bug and throws through
 * `invariant()` loudly; everything a client or the environment can cause (bad input, a full
 * disk, a torn write) is a `StemeError` that callers handle and the API turns into
 * RFC 9457 problem+json.
 */

export class StemeError extends Error {
  readonly code: string;
  readonly status: number;
  readonly hint: string | undefined;
  /** Extra members for the problem document (e.g. `field`, `computed_id`). */
  readonly extra: Record<string, unknown>;

  constructor(
    code: string,
    status: number,
    message: string,
    options: { hint?: string; extra?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "StemeError";
    this.code = code;
    this.status = status;
    this.hint = options.hint;
    this.extra = options.extra ?? {};
  }

  toProblem(instance?: string): Record<string, unknown> {
    return {
      type: `https://stemedb.dev/problems/${this.code}`,
      title: titleFor(this.code),
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
export function invalid(code: string, message: string, extra?: Record<string, unknown>): StemeError {
  return new StemeError(code, 400, message, extra ? { extra } : {});
}

/** A broken invariant is a bug: crash loudly rather than carry on with wrong state. */
export function invariant(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`invariant violated: ${message}`);
}

const titles: Record<string, string> = {
  malformed_json: "Malformed JSON",
  malformed_cbor: "Malformed CBOR",
  non_canonical_cbor: "CBOR body is not canonical",
  invalid_record: "Invalid record",
  invalid_request: "Invalid request",
  invalid_number: "Invalid number",
  too_deep: "Nested too deeply",
  method_not_allowed: "Method not allowed",
  unknown_lens: "Unknown lens",
  wrong_kind: "Wrong kind of record for this endpoint",
  log_write_failed: "Log write failed",
  unknown_field: "Unknown field",
  missing_field: "Missing field",
  invalid_type: "Wrong type",
  out_of_range: "Value out of range",
  too_long: "Value too long",
  invalid_text: "Invalid text",
  invalid_path: "Invalid concept path",
  bad_hex: "Bad hex",
  bad_signature: "Signature does not verify",
  clock_skew: "Timestamp is in the future",
  batch_too_large: "Batch too large",
  payload_too_large: "Payload too large",
  unsupported_media_type: "Unsupported media type",
  invalid_query: "Invalid query parameter",
  not_found: "Not found",
  overloaded: "Server overloaded",
  unavailable: "Not ready",
  internal: "Internal error",
  unauthorized: "API key required",
  forbidden: "Role too low for this endpoint",
  rate_limited: "Too many requests",
  request_timeout: "Request body too slow",
  timeout: "No answer in time",
  not_registrar: "Not the source's registrar",
  unknown_source: "Unknown source",
  unknown_epoch: "Unknown epoch",
  already_resolved: "Escalation already resolved",
  audit_disabled: "Query audit trail is off",
  query_too_large: "Query too large",
  breaker_open: "Circuit breaker open for this agent",
  disk_full: "Disk full",
  index_failed: "Index failing",
  no_backup_dir: "No backup directory configured",
  busy: "Busy",
  exists: "Already exists",
  backup_invalid: "Backup invalid",
  target_unreachable: "Restore target beyond the backup",
};

function titleFor(code: string): string {
  return titles[code] ?? code.replaceAll("_", " ");
}
