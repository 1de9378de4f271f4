/**
 * One request of the client, start to finish: `fetch` called as a plain function (never as a
 * method of an options object: a browser's `fetch` called on anything but `window` throws
 * "Illegal invocation"), a timeout and the caller's `AbortSignal`, and retries that honour
 * `Retry-After`.
 *
 * Retries (RFC 9110 §10.2.3 Retry-After; RFC 6585 §4 for 429):
 *
 * - a `429` or a `503` that carries Retry-After is tried again after that long (seconds or an
 *   HTTP date), plus a jitter of up to a fifth of it (at most 1 s) so that many clients
 *   refused at once do not all come back at the same instant;
 * - a `429` without it, after an exponential backoff (0.25–0.5 s, 0.5–1 s, 1–2 s, …);
 * - a `503` without it is not retried: StemeDB sends one without Retry-After only for a lasting
 *   condition (a failed log that needs a restart, a node shutting down); a full disk, an
 *   overloaded node, a failing index and a deadline say Retry-After and are retried;
 * - at most `retries` more attempts (default 3) and `retryWaitMsMax` of waiting in all (default
 *   30 s): a Retry-After longer than what is left is not waited for, the error says it instead
 *   (`retryAfterMs`);
 * - only requests that are safe to repeat: reads, queries, and record submissions — a record
 *   is addressed by the hash of its content, so sending it twice stores it once (the second
 *   answer says `duplicate: true`). Admin actions (resolve an escalation, decide a quarantine,
 *   reset a breaker) are sent once.
 *
 * The timeout covers one attempt, until its body is read (for a streamed body, until the
 * headers arrive); waits between attempts are not counted in it but end early on an abort.
 */
import { clientProblem, StemeClientError } from "./errors.ts";

/** The `fetch` the client calls: the platform's, or one the caller passes (a test's, a proxy's). */
export type FetchFunction = (url: string, init: RequestInit) => Promise<Response>;

export interface TransportOptions {
  /** The `fetch` to use; the platform's `globalThis.fetch` by default. */
  fetch?: FetchFunction;
  /** Give up on an attempt with no answer after this long: `StemeClientError` code `timeout`. 0: no timeout. Default 60,000. */
  timeoutMs?: number;
  /** Abort every request of this client when it fires (the promise rejects with the signal's reason). */
  signal?: AbortSignal;
  /** Attempts after the first for a 429/503 (see above). 0 turns retries off. Default 3. */
  retries?: number;
  /** The most time spent waiting between attempts of one request, in ms. Default 30,000. */
  retryWaitMsMax?: number;
  /** Randomness for the jitter, in [0, 1) (tests pass a fixed one). */
  random?: () => number;
  /** How the client waits between attempts (tests pass one that records the waits). */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** The clock for a Retry-After given as an HTTP date. */
  now?: () => number;
}

export const timeoutMsDefault = 60_000;
export const retriesDefault = 3;
export const retryWaitMsMaxDefault = 30_000;
/** The first backoff of a 429 without Retry-After; it doubles with each attempt. */
const backoffMsFirst = 500;
const jitterMsMax = 1000;

/** What a request is: where, how, and whether sending it twice is harmless. */
export interface Exchange {
  url: string;
  init: RequestInit;
  idempotent: boolean;
  /** Hand the response over once its headers arrive (its body is the caller's to read). */
  stream?: boolean;
}

/** The answer: the response and, unless streamed, its body as text. */
export interface Answer {
  response: Response;
  text: string;
}

/**
 * The wait before the next attempt after an answer with `status` and `retryAfter` (the header,
 * or null), or null when it is not to be retried. `attempt` counts from 0.
 */
export function retryDelayMs(
  status: number,
  retryAfter: string | null,
  attempt: number,
  random: () => number,
  nowMs: number,
): number | null {
  if (status !== 429 && status !== 503) return null;
  const asked = parseRetryAfter(retryAfter, nowMs);
  if (asked !== null) return asked + random() * Math.min(jitterMsMax, asked / 5);
  if (status === 503) return null;
  const backoff = backoffMsFirst * 2 ** attempt;
  return backoff / 2 + (random() * backoff) / 2;
}

/** Retry-After (RFC 9110 §10.2.3): delay-seconds or an HTTP date, in ms from now; null when absent or unreadable. */
export function parseRetryAfter(value: string | null, nowMs: number): number | null {
  if (value === null) return null;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? null : Math.max(0, at - nowMs);
}

function sleepFor(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** One attempt's signal: the caller's, and the timeout's. */
interface AttemptSignal {
  signal: AbortSignal;
  timedOut(): boolean;
  /** The timeout no longer applies (a streamed body's headers arrived). */
  stopTimer(): void;
  /** The attempt is over: stop the timer and stop listening to the caller's signal. */
  release(): void;
}

function attemptSignal(caller: AbortSignal | undefined, timeoutMs: number): AttemptSignal {
  const controller = new AbortController();
  let timedOut = false;
  const onAbort = () => controller.abort(caller?.reason);
  if (caller?.aborted) controller.abort(caller.reason);
  else caller?.addEventListener("abort", onAbort, { once: true });
  const timer =
    timeoutMs > 0
      ? setTimeout(() => {
          timedOut = true;
          controller.abort(new DOMException(`no answer within ${timeoutMs} ms`, "TimeoutError"));
        }, timeoutMs)
      : undefined;
  const stopTimer = () => clearTimeout(timer);
  return {
    signal: controller.signal,
    timedOut: () => timedOut,
    stopTimer,
    release() {
      stopTimer();
      caller?.removeEventListener("abort", onAbort);
    },
  };
}

export class Transport {
  private readonly send: FetchFunction;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly retryWaitMsMax: number;
  private readonly random: () => number;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  private readonly now: () => number;

  constructor(readonly options: TransportOptions) {
    const given = options.fetch;
    // Called as a plain function, with the platform's fetch looked up at call time.
    this.send = given ? (url, init) => given(url, init) : (url, init) => globalThis.fetch(url, init);
    this.timeoutMs = checkCount("timeoutMs", options.timeoutMs ?? timeoutMsDefault);
    this.retries = checkCount("retries", options.retries ?? retriesDefault);
    this.retryWaitMsMax = checkCount("retryWaitMsMax", options.retryWaitMsMax ?? retryWaitMsMaxDefault);
    this.random = options.random ?? Math.random;
    this.sleep = options.sleep ?? sleepFor;
    this.now = options.now ?? Date.now;
  }

  /** Sends `exchange`, retrying as above; rejects on a timeout, an abort, or a failed connection. */
  async exchange(exchange: Exchange): Promise<Answer> {
    let waitedMs = 0;
    for (let attempt = 0; ; attempt++) {
      const answer = await this.attempt(exchange);
      const { response } = answer;
      const retryAfter = response.headers.get("retry-after");
      const delay =
        exchange.idempotent && attempt < this.retries
          ? retryDelayMs(response.status, retryAfter, attempt, this.random, this.now())
          : null;
      // Only an error answer is retried, and its body has been read: nothing is left open.
      if (delay === null || waitedMs + delay > this.retryWaitMsMax) return answer;
      await this.sleep(delay, this.options.signal);
      waitedMs += delay;
    }
  }

  private async attempt(exchange: Exchange): Promise<Answer> {
    this.options.signal?.throwIfAborted(); // whatever the fetch does with an aborted signal
    const guard = attemptSignal(this.options.signal, this.timeoutMs);
    let released = false;
    try {
      const response = await this.send(exchange.url, { ...exchange.init, signal: guard.signal });
      if (exchange.stream && response.ok) {
        // The body streams past this call: the timeout stops here, the caller's signal still applies.
        guard.stopTimer();
        released = true;
        return { response, text: "" };
      }
      return { response, text: await response.text() };
    } catch (err) {
      if (guard.timedOut()) {
        const problem = clientProblem(
          0,
          "timeout",
          "No answer in time",
          `no answer from ${exchange.url} within ${this.timeoutMs} ms`,
        );
        throw new StemeClientError(0, problem, null, { cause: err });
      }
      throw err;
    } finally {
      if (!released) guard.release();
    }
  }
}

function checkCount(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${name}: expected an integer ≥ 0, got ${value}`);
  return value;
}
