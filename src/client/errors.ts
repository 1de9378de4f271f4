/**
 * What the client throws when a request fails: `StemeClientError`, carrying the server's RFC 9457
 * problem (docs/API.md#errors) — its stable `code`, the HTTP `status`, the `hint`, the request id
 * to find it in the server's log, and how long the server asked to wait (Retry-After).
 *
 * Failures with no answer from a StemeDB server are the same type with `status` 0 where the
 * client itself decided (`timeout`: no answer within `timeoutMs`), or `bad_response` when
 * something answered that is not StemeDB (a proxy's HTML page). A connection that fails
 * (refused, reset, DNS) rejects with the platform's own error, and an abort through the
 * caller's `AbortSignal` with the signal's reason, as `fetch` does.
 */

/** An RFC 9457 problem document as the server sends it. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  code: string;
  detail: string;
  hint?: string;
  request_id?: string;
  [extra: string]: unknown;
}

export interface ClientErrorOptions {
  /** The server's Retry-After, in ms, when it sent one. */
  retryAfterMs?: number | null;
  cause?: unknown;
}

/** A failed request, as an exception: `code` is the problem's stable code. */
export class StemeClientError extends Error {
  /** The problem's stable code (`rate_limited`, `bad_signature`, `not_found`, …; `timeout` from the client itself). */
  readonly code: string;
  /** What to do about it, when the server said. */
  readonly hint: string | undefined;
  /** How long the server asked to wait before trying again (Retry-After), in ms; null when it did not say. */
  readonly retryAfterMs: number | null;

  constructor(
    /** The HTTP status; 0 when no answer came (a client-side timeout). */
    readonly status: number,
    readonly problem: Problem,
    /** The server's X-Request-Id for this request (its log has it), when an answer came. */
    readonly requestId: string | null,
    options: ClientErrorOptions = {},
  ) {
    super(`${problem.code}: ${problem.detail}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "StemeClientError";
    this.code = typeof problem.code === "string" ? problem.code : "bad_response";
    this.hint = typeof problem.hint === "string" ? problem.hint : undefined;
    this.retryAfterMs = options.retryAfterMs ?? null;
  }
}

/** A problem the client makes up for an answer that is not a problem document. */
export function clientProblem(status: number, code: string, title: string, detail: string): Problem {
  return { type: `https://stemedb.dev/problems/${code}`, title, status, code, detail };
}
