/**
 * `follow()` (src/client/follow.ts) against an injected fetch, no sockets: the server's side is
 * scripted per connection. Typed events; a dropped connection is resumed with the last event
 * ID it saw (the opening block's, a heartbeat's, a record's, a cut-off's) after a backoff that
 * grows and starts over once events flow; Retry-After is honoured; a 4xx that retrying cannot
 * fix is thrown; breaking the loop or aborting closes the connection.
 */
import { describe, expect, test } from "bun:test";
import { type FeedEvent, FollowError, type FollowOptions, feedUrl, follow } from "../../src/client/follow.ts";

const encoder = new TextEncoder();

interface Call {
  url: string;
  headers: Record<string, string>;
  /** Set when the client cancelled the body or aborted the request. */
  closed: boolean;
}

/** A connection's script: chunks of text, then the end ("end"), an error ("error"), or hold open ("hold"). */
type Script = {
  status?: number;
  headers?: Record<string, string>;
  body?: string;
  chunks?: string[];
  after?: "end" | "error" | "hold";
};

function server(scripts: Script[]) {
  const calls: Call[] = [];
  const fetch = async (url: string, init: RequestInit): Promise<Response> => {
    const call: Call = { url, headers: { ...(init.headers as Record<string, string>) }, closed: false };
    calls.push(call);
    const script = scripts.shift();
    if (!script) throw new TypeError("connection refused");
    let fail: ((err: unknown) => void) | null = null;
    init.signal?.addEventListener("abort", () => {
      call.closed = true;
      fail?.(new DOMException("aborted", "AbortError")); // as fetch does: the body errors
    });
    if (script.status && script.status !== 200)
      return new Response(script.body ?? "", { status: script.status, headers: script.headers ?? {} });
    const chunks = [...(script.chunks ?? [])];
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        fail = (err) => c.error(err);
      },
      pull(c) {
        const next = chunks.shift();
        if (next !== undefined) return c.enqueue(encoder.encode(next));
        if (script.after === "error") return c.error(new TypeError("network connection lost"));
        if (script.after === "hold") return new Promise<void>(() => {});
        c.close();
      },
      cancel() {
        call.closed = true;
      },
    });
    return new Response(body, { status: 200, headers: { "content-type": "text/event-stream" } });
  };
  return { calls, fetch };
}

const record = (lsn: number) =>
  `event: record\nid: ${lsn}\ndata: {"id":"r${lsn}","kind":"assertion","lsn":${lsn},"recorded_at":1}\n\n`;

/** Collects events until `n` or the iterator ends; the delays it slept. */
async function collect(scripts: Script[], options: FollowOptions = {}, n = Number.POSITIVE_INFINITY) {
  const s = server(scripts);
  const delays: number[] = [];
  const events: FeedEvent[] = [];
  const it = follow(
    { url: "http://node.test/", headers: { authorization: "Bearer k" }, fetch: s.fetch },
    {
      random: () => 1,
      sleep: async (ms) => {
        delays.push(ms);
      },
      ...options,
    },
  );
  let error: unknown = null;
  try {
    for await (const ev of it) {
      events.push(ev);
      if (events.length >= n) break;
    }
  } catch (err) {
    error = err;
  }
  return { events, delays, calls: s.calls, error };
}

describe("follow()", () => {
  test("typed events; parameters in the URL; the key in a header", async () => {
    const { events, calls } = await collect(
      [
        {
          chunks: [
            "id: 0\nretry: 1000\n\n",
            record(1),
            ': heartbeat\n\nevent: conflict\ndata: {"subject":"s","predicate":"p","lens":"consensus","conflict":1,',
            '"previous_conflict":0,"winner_id":"r1","previous_winner_id":null,"value":2,"lsn":1}\n\n',
            "event: future\ndata: {}\n\n",
            'event: cutoff\ndata: {"last_lsn":1,"reason":"slow_consumer"}\n\n',
          ],
        },
      ],
      { since: 0, subject: "a/*", kind: ["assertion", "vote"], watch: [{ subject: "s", predicate: "p|q" }], minConflict: 0.7 },
      3,
    );
    expect(events).toEqual([
      { type: "record", lsn: 1, record: { id: "r1", kind: "assertion", lsn: 1, recorded_at: 1 } },
      {
        type: "conflict",
        subject: "s",
        predicate: "p",
        lens: "consensus",
        conflict: 1,
        previous_conflict: 0,
        winner_id: "r1",
        previous_winner_id: null,
        value: 2,
        lsn: 1,
      },
      { type: "cutoff", last_lsn: 1, reason: "slow_consumer" },
    ]);
    const url = new URL(calls[0]?.url as string);
    expect(url.pathname).toBe("/v1/changes");
    expect([...url.searchParams]).toEqual([
      ["since", "0"],
      ["subject", "a/*"],
      ["kind", "assertion,vote"],
      ["watch", "s|p|q"],
      ["min_conflict", "0.7"],
    ]);
    expect(calls[0]?.headers).toMatchObject({ authorization: "Bearer k", accept: "text/event-stream" });
    expect(calls[0]?.headers["last-event-id"]).toBeUndefined();
    expect(calls[0]?.closed).toBe(true); // breaking the loop closed the connection
  });

  test("drops are resumed from the last event id: a record's, a heartbeat's, the opening block's", async () => {
    const { events, calls, delays } = await collect(
      [
        { chunks: ["id: 4\nretry: 1000\n\n", record(5), record(6), 'event: record\nid: 7\ndata: {"id":'], after: "error" },
        { chunks: [": heartbeat\nid: 9\n\n"], after: "end" },
        { chunks: ["id: 9\n\n"], after: "error" },
        { chunks: ["id: 9\n\n", record(10)], after: "hold" },
      ],
      { since: 4 },
      3,
    );
    expect(events.map((e) => (e as { lsn: number }).lsn)).toEqual([5, 6, 10]);
    expect(calls.map((c) => c.headers["last-event-id"])).toEqual([undefined, "6", "9", "9"]);
    // Every reconnect asks for the same URL; the header, which wins over since=4, says where to go on.
    expect(new Set(calls.map((c) => c.url)).size).toBe(1);
    // Each connection but the third moved the resume point on: the backoff starts over; after the third it doubles.
    expect(delays).toEqual([1000, 1000, 2000]);
  });

  test("connection failures back off exponentially up to maxRetryMs, with jitter; Retry-After wins", async () => {
    const problem = JSON.stringify({ code: "too_many_followers", detail: "full" });
    const { events, delays, calls } = await collect(
      [
        { status: 503, body: problem, headers: { "retry-after": "5", "content-type": "application/problem+json" } },
        { status: 502, body: "<html>bad gateway</html>" },
        { status: 429, body: "{}" },
        { chunks: [record(1)], after: "hold" },
      ],
      { retryMs: 100, maxRetryMs: 300, random: () => 0 },
      1,
    );
    expect(events).toHaveLength(1);
    expect(calls).toHaveLength(4);
    expect(delays).toEqual([5000, 100, 150]); // Retry-After 5 s; then 200·½ and min(300, 400)·½ with jitter 0
    // No server at all: it keeps trying (stopped here after five tries), never throwing.
    const stop = new AbortController();
    const errors: unknown[] = [];
    const refused = await collect([], {
      retryMs: 10,
      maxRetryMs: 40,
      signal: stop.signal,
      onReconnect: ({ error }) => {
        errors.push(error);
        if (errors.length === 5) stop.abort();
      },
    });
    expect(refused.error).toBe(null);
    expect(refused.delays).toEqual([10, 20, 40, 40, 40]);
    expect(errors.every((e) => e instanceof TypeError)).toBe(true);
  });

  test("a 4xx retrying cannot fix is thrown with its problem", async () => {
    const body = JSON.stringify({ code: "invalid_query", detail: "since: this node's log ends at 3" });
    const { error, calls } = await collect([{ status: 400, body }]);
    expect(error).toBeInstanceOf(FollowError);
    expect((error as FollowError).status).toBe(400);
    expect((error as FollowError).code).toBe("invalid_query");
    expect(calls).toHaveLength(1);
  });

  test("a cut-off is yielded, then the feed is followed on from the position it names", async () => {
    const { events, calls } = await collect(
      [
        { chunks: ["id: 0\n\n", record(1), 'event: cutoff\ndata: {"last_lsn":1,"reason":"slow_consumer"}\n\n'], after: "end" },
        { chunks: ["id: 1\n\n", record(2)], after: "hold" },
      ],
      {},
      3,
    );
    expect(events.map((e) => e.type)).toEqual(["record", "cutoff", "record"]);
    expect(calls[1]?.headers["last-event-id"]).toBe("1");
  });

  test("aborting the signal ends the iterator and closes the connection", async () => {
    const s = server([{ chunks: ["id: 0\n\n", record(1)], after: "hold" }]);
    const stop = new AbortController();
    const seen: FeedEvent[] = [];
    for await (const ev of follow({ url: "http://node.test", fetch: s.fetch }, { signal: stop.signal })) {
      seen.push(ev);
      stop.abort();
    }
    expect(seen).toHaveLength(1);
    expect(s.calls[0]?.closed).toBe(true);
  });

  test("feedUrl: no parameters without options; a trailing slash on the base is fine", () => {
    expect(feedUrl("http://h:1/", {})).toBe("http://h:1/v1/changes");
    expect(feedUrl("http://h:1", { since: "now", agent: "ab", lens: "trust", layers: ["a", "b"] })).toBe(
      "http://h:1/v1/changes?since=now&agent=ab&lens=trust&layers=a%2Cb",
    );
  });
});
