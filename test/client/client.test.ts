/**
 * The client's behaviour without a socket: a fetch, a clock, randomness and sleep are injected.
 * How fetch is called (as a plain function), typed errors, retries that honour Retry-After
 * (bounded, jittered, only when safe), the timeout and the caller's AbortSignal, the CBOR batch
 * through the canonical encoder, and checking a record's signature client-side.
 */
import { describe, expect, test } from "bun:test";
import {
  decodeCanonical,
  type FetchFunction,
  generateKeyPair,
  parseRetryAfter,
  retryDelayMs,
  StemeClient,
  StemeClientError,
  signClaim,
  toHex,
  verifyRecord,
} from "../../src/client/index.ts";

interface Call {
  url: string;
  init: RequestInit;
}

/** A fetch answering from a list (the last answer repeats), recording each call. */
function scripted(answers: Array<() => Response>): { fetch: FetchFunction; calls: Call[] } {
  const calls: Call[] = [];
  const fetch: FetchFunction = async (url, init) => {
    calls.push({ url, init });
    return (answers[Math.min(calls.length - 1, answers.length - 1)] as () => Response)();
  };
  return { fetch, calls };
}

function problem(status: number, code: string, headers: Record<string, string> = {}, hint?: string): () => Response {
  const body = { type: `https://stemedb.dev/problems/${code}`, title: code, status, code, detail: `a ${code}`, hint };
  return () =>
    new Response(JSON.stringify(body), {
      status,
      headers: { "content-type": "application/problem+json", "x-request-id": "req-7", ...headers },
    });
}
const ok = (value: unknown) => () => Response.json(value, { status: 200 });
const health = { status: "ok", version: "0.1.0", lsn: 3 };

/** A client whose waits are recorded instead of slept. */
function client(fetch: FetchFunction, options: Partial<ConstructorParameters<typeof StemeClient>[0]> = {}) {
  const waits: number[] = [];
  const c = new StemeClient({
    url: "http://db.test/",
    fetch,
    random: () => 0.5,
    sleep: async (ms) => {
      waits.push(ms);
    },
    ...options,
  });
  return { c, waits };
}

async function failure(promise: Promise<unknown>): Promise<StemeClientError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof StemeClientError) return err;
    throw err;
  }
  throw new Error("expected a StemeClientError");
}

describe("calling fetch", () => {
  test("a given fetch is called as a plain function (a browser's fetch throws 'Illegal invocation' on any other this)", async () => {
    const thisSeen: unknown[] = [];
    const browserLike = function (this: unknown, _url: string, _init: RequestInit) {
      thisSeen.push(this);
      if (this !== undefined && this !== globalThis) throw new TypeError("Illegal invocation");
      return Promise.resolve(Response.json(health));
    };
    const c = new StemeClient({ url: "http://db.test", fetch: browserLike });
    expect(await c.health()).toEqual(health);
    expect(thisSeen).toEqual([undefined]);
  });

  test("without one, the platform's globalThis.fetch is looked up at call time and called unbound", async () => {
    const original = globalThis.fetch;
    const thisSeen: unknown[] = [];
    globalThis.fetch = Object.assign(
      function (this: unknown) {
        thisSeen.push(this);
        return Promise.resolve(Response.json(health));
      },
      { preconnect: original.preconnect },
    ) as typeof fetch;
    try {
      expect(await new StemeClient({ url: "http://db.test" }).health()).toEqual(health);
    } finally {
      globalThis.fetch = original;
    }
    expect(thisSeen.length).toBe(1);
    expect(thisSeen[0] === undefined || thisSeen[0] === globalThis).toBe(true);
  });

  test("the URL, method, headers (with the client's own) and body are what the method says", async () => {
    const { fetch, calls } = scripted([ok({ id: "ab", lsn: 1, status: "accepted", duplicate: false })]);
    const { c } = client(fetch, { headers: { authorization: "Bearer k" } });
    const signed = signClaim(generateKeyPair(), {
      kind: "assertion",
      subject: "a/b",
      predicate: "p",
      object: 1,
      confidence: 0.75,
    });
    await c.submit(signed);
    const call = calls[0] as Call;
    expect(call.url).toBe("http://db.test/v1/assert");
    expect(call.init.method).toBe("POST");
    expect(call.init.headers).toMatchObject({
      authorization: "Bearer k",
      "content-type": "application/json",
      accept: "application/json",
    });
    expect(JSON.parse(call.init.body as string)).toMatchObject({ subject: "a/b", confidence: 0.75, sig: toHex(signed.sig) });
  });

  test("with() makes a client with some options changed and the headers merged", async () => {
    const { fetch, calls } = scripted([ok(health)]);
    const { c } = client(fetch, { headers: { authorization: "Bearer k" } });
    await c.with({ headers: { "x-request-id": "mine" } }).health();
    expect(calls[0]?.init.headers).toMatchObject({ authorization: "Bearer k", "x-request-id": "mine" });
  });
});

describe("errors", () => {
  test("a problem answer is a StemeClientError with its code, status, hint, request id and Retry-After", async () => {
    const { fetch } = scripted([problem(404, "not_found", {}, "check the id")]);
    const err = await failure(client(fetch).c.get("00"));
    expect(err).toBeInstanceOf(Error);
    expect([err.code, err.status, err.hint, err.requestId, err.retryAfterMs]).toEqual([
      "not_found",
      404,
      "check the id",
      "req-7",
      null,
    ]);
    expect(err.problem.detail).toBe("a not_found");
    expect(err.message).toBe("not_found: a not_found");
  });

  test("an answer that is not StemeDB's (a proxy's HTML page) is bad_response, whatever its status", async () => {
    for (const status of [200, 502]) {
      const { fetch } = scripted([() => new Response("<html>Bad gateway</html>", { status })]);
      const err = await failure(client(fetch).c.health());
      expect([err.code, err.status]).toEqual(["bad_response", status]);
      expect(err.problem.detail).toContain("not JSON");
    }
  });

  test("a connection that fails rejects with the platform's own error (the CLI says 'unreachable' from it)", async () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
    const { c } = client(async () => {
      throw refused;
    });
    await expect(c.health()).rejects.toBe(refused);
  });
});

describe("retries", () => {
  test("Retry-After in seconds and as an HTTP date; jitter; exponential backoff without it", () => {
    const now = Date.UTC(2026, 0, 1);
    expect(parseRetryAfter("3", now)).toBe(3000);
    expect(parseRetryAfter(" 0 ", now)).toBe(0);
    expect(parseRetryAfter(new Date(now + 5000).toUTCString(), now)).toBe(5000);
    expect(parseRetryAfter(new Date(now - 5000).toUTCString(), now)).toBe(0);
    expect(parseRetryAfter("soon", now)).toBeNull();
    expect(parseRetryAfter(null, now)).toBeNull();
    // Retry-After plus up to a fifth of it (at most 1 s).
    expect(retryDelayMs(429, "2", 0, () => 0, now)).toBe(2000);
    expect(retryDelayMs(429, "2", 0, () => 0.999999, now)).toBeCloseTo(2400, 0);
    expect(retryDelayMs(503, "30", 0, () => 0.999999, now)).toBeCloseTo(31000, 0);
    // 429 without it: 250–500 ms, then 500–1000, 1000–2000.
    expect([0, 1, 2].map((a) => retryDelayMs(429, null, a, () => 0, now))).toEqual([250, 500, 1000]);
    expect([0, 1, 2].map((a) => retryDelayMs(429, null, a, () => 1, now))).toEqual([500, 1000, 2000]);
    // Not retried: a 503 without Retry-After (a lasting condition), any other status.
    expect(retryDelayMs(503, null, 0, () => 0, now)).toBeNull();
    for (const status of [200, 400, 404, 409, 500, 502]) expect(retryDelayMs(status, "1", 0, () => 0, now)).toBeNull();
  });

  test("a 429 with Retry-After is waited out (with jitter) and the request sent again", async () => {
    const { fetch, calls } = scripted([problem(429, "rate_limited", { "retry-after": "2" }), ok(health)]);
    const { c, waits } = client(fetch);
    expect(await c.health()).toEqual(health);
    expect(calls.length).toBe(2);
    expect(waits).toEqual([2200]);
  });

  test("a submission is retried (records are idempotent by content address); the retry sends the same body", async () => {
    const { fetch, calls } = scripted([
      problem(503, "overloaded", { "retry-after": "1" }),
      ok({ id: "ab", lsn: 1, status: "accepted", duplicate: false }),
    ]);
    const { c, waits } = client(fetch);
    const signed = signClaim(generateKeyPair(), {
      kind: "assertion",
      subject: "a/b",
      predicate: "p",
      object: 1,
      confidence: 0.5,
    });
    await c.submit(signed);
    expect(waits).toEqual([1100]);
    expect(calls[1]?.init.body).toBe(calls[0]?.init.body as string);
  });

  test("at most `retries` more attempts (default 3), then the last answer's error", async () => {
    const { fetch, calls } = scripted([problem(429, "rate_limited", { "retry-after": "1" })]);
    const { c, waits } = client(fetch);
    const err = await failure(c.health());
    expect([err.code, err.status, err.retryAfterMs]).toEqual(["rate_limited", 429, 1000]);
    expect(calls.length).toBe(4);
    expect(waits).toEqual([1100, 1100, 1100]);
  });

  test("retries: 0 sends once", async () => {
    const { fetch, calls } = scripted([problem(429, "rate_limited", { "retry-after": "1" }), ok(health)]);
    const err = await failure(client(fetch, { retries: 0 }).c.health());
    expect(err.code).toBe("rate_limited");
    expect(calls.length).toBe(1);
  });

  test("a wait beyond what is left of retryWaitMsMax is not waited: the error says how long the server asked", async () => {
    const { fetch, calls } = scripted([problem(429, "breaker_open", { "retry-after": "30" })]);
    const { c, waits } = client(fetch, { retryWaitMsMax: 10_000 });
    const err = await failure(c.health());
    expect([err.code, err.retryAfterMs]).toEqual(["breaker_open", 30_000]);
    expect(calls.length).toBe(1);
    expect(waits).toEqual([]);
    // Two waits of 4.4 s fit in 10 s, a third does not.
    const second = scripted([problem(503, "overloaded", { "retry-after": "4" })]);
    const again = client(second.fetch, { retryWaitMsMax: 10_000 });
    await failure(again.c.health());
    expect(again.waits).toEqual([4400, 4400]);
    expect(second.calls.length).toBe(3);
  });

  test("a 503 without Retry-After (a failed log) is not retried", async () => {
    const { fetch, calls } = scripted([problem(503, "log_write_failed"), ok(health)]);
    expect((await failure(client(fetch).c.health())).code).toBe("log_write_failed");
    expect(calls.length).toBe(1);
  });

  test("admin actions that must not be sent twice are not retried", async () => {
    for (const call of [
      (c: StemeClient) => c.resetBreaker("ab"),
      (c: StemeClient) => c.decideQuarantine("ab", "approve"),
      (c: StemeClient) => c.resolveEscalation("e1", "done"),
    ]) {
      const { fetch, calls } = scripted([problem(429, "rate_limited", { "retry-after": "1" }), ok({})]);
      expect((await failure(call(client(fetch).c))).code).toBe("rate_limited");
      expect(calls.length).toBe(1);
    }
  });
});

describe("timeout and abort", () => {
  /** A fetch that answers only when its signal aborts (then rejects with the signal's reason). */
  const hanging: FetchFunction = (_url, init) =>
    new Promise((_, reject) => init.signal?.addEventListener("abort", () => reject(init.signal?.reason)));

  test("no answer within timeoutMs: StemeClientError code timeout, status 0", async () => {
    const started = performance.now();
    const err = await failure(new StemeClient({ url: "http://db.test", fetch: hanging, timeoutMs: 30 }).health());
    expect([err.code, err.status, err.requestId]).toEqual(["timeout", 0, null]);
    expect(err.problem.detail).toContain("within 30 ms");
    expect(performance.now() - started).toBeLessThan(2000);
  });

  test("the caller's AbortSignal aborts a request in flight with the signal's reason", async () => {
    const controller = new AbortController();
    const pending = new StemeClient({ url: "http://db.test", fetch: hanging, signal: controller.signal }).health();
    controller.abort(new Error("user went away"));
    await expect(pending).rejects.toThrow("user went away");
  });

  test("an already aborted signal fails at once; one that fires during a retry's wait ends the wait", async () => {
    const aborted = AbortSignal.abort(new Error("before"));
    const { fetch, calls } = scripted([ok(health)]);
    await expect(new StemeClient({ url: "http://db.test", fetch, signal: aborted }).health()).rejects.toThrow("before");
    const controller = new AbortController();
    const busy = scripted([problem(429, "rate_limited", { "retry-after": "5" })]);
    const pending = new StemeClient({ url: "http://db.test", fetch: busy.fetch, signal: controller.signal }).health();
    await Bun.sleep(20);
    controller.abort(new Error("during the wait"));
    await expect(pending).rejects.toThrow("during the wait");
    expect(busy.calls.length).toBe(1);
    expect(calls.length).toBe(0);
  });

  test("options are checked", () => {
    expect(() => new StemeClient({ url: "http://db.test", retries: -1 })).toThrow(RangeError);
    expect(() => new StemeClient({ url: "http://db.test", timeoutMs: 1.5 })).toThrow(
      "timeoutMs: expected an integer ≥ 0, got 1.5",
    );
  });
});

describe("batches and verification", () => {
  test("a CBOR batch is the canonical encoding of {records: [{body, sig}]}: the signed bytes as they are", async () => {
    const { fetch, calls } = scripted([ok({ results: [], accepted: 2, rejected: 0 })]);
    const key = generateKeyPair();
    const records = [1, 2].map((n) =>
      signClaim(key, { kind: "assertion", subject: "a/b", predicate: "p", object: n, confidence: 0.25 }),
    );
    await client(fetch).c.submitBatch(records, { format: "cbor" });
    const call = calls[0] as Call;
    expect((call.init.headers as Record<string, string>)["content-type"]).toBe("application/cbor");
    const decoded = decodeCanonical(call.init.body as Uint8Array) as { records: Array<{ body: Uint8Array; sig: Uint8Array }> };
    expect(decoded.records.map((r) => [toHex(r.body), toHex(r.sig)])).toEqual(records.map((r) => [toHex(r.body), toHex(r.sig)]));
  });

  test("verifyRecord: true for a record as the server returns it; false when anything in it is changed", () => {
    const key = generateKeyPair();
    const s = signClaim(key, { kind: "assertion", subject: "a/b", predicate: "p", object: 0.2, confidence: 0.95 });
    const record = { id: toHex(s.id), agent: toHex(key.publicKey), body: toHex(s.body), sig: toHex(s.sig) };
    expect(verifyRecord(record)).toBe(true);
    expect(verifyRecord({ body: s.body, sig: s.sig })).toBe(true);
    const flip = (hex: string, at: number) => hex.slice(0, at) + (hex[at] === "0" ? "1" : "0") + hex.slice(at + 1);
    expect(verifyRecord({ ...record, sig: flip(record.sig, 10) })).toBe(false);
    expect(verifyRecord({ ...record, body: flip(record.body, record.body.length - 1) })).toBe(false);
    expect(verifyRecord({ ...record, id: flip(record.id, 0) })).toBe(false);
    expect(verifyRecord({ ...record, agent: toHex(generateKeyPair().publicKey) })).toBe(false);
    expect(verifyRecord({ ...record, body: "zz" })).toBe(false);
    // Signed by another key than the one the body names.
    const other = signClaim(generateKeyPair(), {
      kind: "assertion",
      subject: "a/b",
      predicate: "p",
      object: 0.2,
      confidence: 0.95,
    });
    expect(verifyRecord({ body: s.body, sig: other.sig })).toBe(false);
  });
});
