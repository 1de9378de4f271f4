/**
 * Following the change feed (`GET /v1/changes`, docs/API.md#change-feed) from a client: an
 * async iterator of typed events that survives dropped connections.
 *
 *     for await (const ev of client.follow({ since: 0, subject: "pharma/drug/*" })) {
 *       if (ev.type === "record") handle(ev.record);    // every record once, in LSN order
 *     }
 *
 * On a network error, an ended stream or a 429/5xx, it reconnects — after the server's
 * `retry:` delay (or `retryMs`), doubled per failure up to `maxRetryMs`, with jitter, or the server's
 * `Retry-After` — and sends the last event ID it saw as `Last-Event-ID`, so the server resumes
 * right after it: no record is lost or repeated across a reconnect. The server's first block
 * sets that ID even before any record arrives, and heartbeats move it past records a filter
 * skipped. A `cutoff` (the server dropped a follower too slow to keep up) is yielded, then the
 * iterator reconnects from the position it names, as after any drop. Other `4xx` answers
 * (a bad parameter, a missing key) are thrown as `FollowError`. It stops when `signal` aborts
 * or the loop breaks.
 *
 * Web-standard APIs only (fetch, ReadableStream, TextDecoder, AbortSignal): it runs wherever
 * the client does. No EventSource: it cannot send headers (an API key) in browsers.
 */
import { SseParser } from "./sse.ts";

/** A stored record as the feed sends it: the listing shape (docs/API.md#get-v1assertions). */
export type FeedRecord = Record<string, unknown> & { id: string; kind: string; lsn: number; recorded_at: number };

export interface FeedRecordEvent {
  type: "record";
  lsn: number;
  record: FeedRecord;
}

export interface FeedConflictEvent {
  type: "conflict";
  subject: string;
  predicate: string;
  lens: string;
  conflict: number;
  /** null on the first event for the pair on a connection (where it stands). */
  previous_conflict: number | null;
  winner_id: string | null;
  previous_winner_id: string | null;
  value: unknown;
  lsn: number;
}

export interface FeedCutoffEvent {
  type: "cutoff";
  /** The last position the server sent; the iterator resumes after it. */
  last_lsn: number;
  reason: string;
}

export type FeedEvent = FeedRecordEvent | FeedConflictEvent | FeedCutoffEvent;

export interface FollowOptions {
  /** Start after this log position; absent or "now": only new records. */
  since?: number | "now";
  /** Exact path, `a/b/*` (below a path) or `*\/b` (ending so). */
  subject?: string;
  /** Record kinds (default: every kind). */
  kind?: string | string[];
  /** Only records signed by this agent (hex public key). */
  agent?: string;
  /** (subject, predicate) pairs to hear `conflict` events about. */
  watch?: ReadonlyArray<{ subject: string; predicate: string }>;
  lens?: string;
  layers?: string[];
  /** κ threshold of conflict events (the server's default 0.5). */
  minConflict?: number;
  signal?: AbortSignal;
  /** First reconnection delay, ms. Default: the server's (`retry:`), else 1000. */
  retryMs?: number;
  /** Longest reconnection delay, ms. Default 30 000. */
  maxRetryMs?: number;
  /** Told before each reconnection. */
  onReconnect?: (info: { attempt: number; delayMs: number; error: unknown }) => void;
  /** For tests: randomness for jitter, and waiting. */
  random?: () => number;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/** Where the feed is: the client's base URL, headers (an API key) and fetch. */
export interface FollowTarget {
  url: string;
  headers?: Record<string, string>;
  fetch?: (url: string, init: RequestInit) => Promise<Response>;
}

/** An answer the feed will not retry (a 4xx other than 408 and 429). */
export class FollowError extends Error {
  constructor(
    readonly status: number,
    readonly problem: { code?: string; detail?: string; [field: string]: unknown },
  ) {
    super(`${problem.code ?? `HTTP ${status}`}: ${problem.detail ?? "the change feed refused the request"}`);
    this.name = "FollowError";
  }
  get code(): string | undefined {
    return this.problem.code;
  }
}

/** Why one connection ended and how soon to try again. */
interface Drop {
  error: unknown;
  /** The server's Retry-After, ms. */
  retryAfterMs?: number;
  /** The stream moved on (events, or a new resume point): the backoff starts over. */
  progressed: boolean;
}

export function feedUrl(base: string, o: FollowOptions): string {
  const q = new URLSearchParams();
  if (o.since !== undefined) q.set("since", String(o.since));
  if (o.subject !== undefined) q.set("subject", o.subject);
  if (o.kind !== undefined) q.set("kind", Array.isArray(o.kind) ? o.kind.join(",") : o.kind);
  if (o.agent !== undefined) q.set("agent", o.agent);
  for (const w of o.watch ?? []) q.append("watch", `${w.subject}|${w.predicate}`);
  if (o.lens !== undefined) q.set("lens", o.lens);
  if (o.layers !== undefined) q.set("layers", o.layers.join(","));
  if (o.minConflict !== undefined) q.set("min_conflict", String(o.minConflict));
  const query = q.toString();
  return `${base.replace(/\/+$/, "")}/v1/changes${query ? `?${query}` : ""}`;
}

function sleepFor(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

/** Follow the change feed; see the top of this file. */
export async function* follow(target: FollowTarget, options: FollowOptions = {}): AsyncGenerator<FeedEvent, void, undefined> {
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  if (options.signal?.aborted) stop.abort();
  const parser = new SseParser();
  const url = feedUrl(target.url, options);
  const sleep = options.sleep ?? sleepFor;
  const random = options.random ?? Math.random;
  let failures = 0;
  try {
    while (!stop.signal.aborted) {
      const drop: Drop = { error: null, progressed: false };
      yield* connection(target, url, parser, stop.signal, drop);
      if (stop.signal.aborted) return;
      failures = drop.progressed ? 1 : failures + 1;
      const base = options.retryMs ?? parser.retryMs ?? 1000;
      const backoff = Math.min(options.maxRetryMs ?? 30_000, base * 2 ** (failures - 1));
      const delayMs = drop.retryAfterMs ?? Math.round(backoff * (0.5 + random() / 2));
      options.onReconnect?.({ attempt: failures, delayMs, error: drop.error });
      await sleep(delayMs, stop.signal);
    }
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
    stop.abort(); // a loop that breaks closes the connection
  }
}

/** One connection: yields its events until it ends; says why in `drop`. Throws what must not be retried. */
async function* connection(
  target: FollowTarget,
  url: string,
  parser: SseParser,
  signal: AbortSignal,
  drop: Drop,
): AsyncGenerator<FeedEvent, void, undefined> {
  const headers: Record<string, string> = { accept: "text/event-stream", ...target.headers };
  if (parser.lastEventId !== "") headers["last-event-id"] = parser.lastEventId;
  const doFetch = target.fetch ?? ((u: string, init: RequestInit) => fetch(u, init));
  let response: Response;
  try {
    response = await doFetch(url, { method: "GET", headers, signal });
  } catch (err) {
    drop.error = err;
    return;
  }
  if (!response.ok || !response.body) {
    await refusal(response, drop);
    return;
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  parser.reset();
  const resumedFrom = parser.lastEventId;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      for (const message of parser.push(decoder.decode(value, { stream: true }))) {
        const event = toFeedEvent(message.type, message.data, message.lastEventId);
        if (!event) continue;
        drop.progressed = true;
        yield event;
        if (signal.aborted) return;
        if (event.type === "cutoff") parser.lastEventId = String(event.last_lsn);
      }
      // A heartbeat that moved the resume point is progress too.
      if (parser.lastEventId !== resumedFrom) drop.progressed = true;
    }
    drop.error = new Error("the change feed closed the stream");
  } catch (err) {
    drop.error = err;
  } finally {
    reader.cancel().catch(() => {});
  }
}

/** A non-2xx answer: thrown when retrying cannot help, else noted in `drop`. */
async function refusal(response: Response, drop: Drop): Promise<void> {
  let problem: Record<string, unknown> = {};
  try {
    problem = (await response.json()) as Record<string, unknown>;
  } catch {
    // not a problem document (a proxy's page)
  }
  const retryable = response.status === 408 || response.status === 429 || response.status >= 500;
  if (!retryable) throw new FollowError(response.status, problem);
  const retryAfter = Number(response.headers.get("retry-after"));
  drop.error = new FollowError(response.status, problem);
  if (Number.isFinite(retryAfter) && retryAfter > 0) drop.retryAfterMs = retryAfter * 1000;
}

function toFeedEvent(type: string, data: string, lastEventId: string): FeedEvent | null {
  if (type === "record") {
    const record = JSON.parse(data) as FeedRecord;
    return { type: "record", lsn: Number(lastEventId), record };
  }
  if (type === "conflict") return { type: "conflict", ...(JSON.parse(data) as Omit<FeedConflictEvent, "type">) };
  if (type === "cutoff") {
    const c = JSON.parse(data) as { last_lsn: number; reason: string };
    return { type: "cutoff", last_lsn: c.last_lsn, reason: c.reason };
  }
  return null; // an event type this client does not know: newer servers may add some
}
