/**
 * The change feed against real server processes on loopback (`bun src/main.ts serve`), read by
 * real clients: raw fetch with the SSE reader, and the client's `follow()`. Following from 0
 * sees every record in LSN order while writes go on; a connection killed mid-stream resumes
 * with Last-Event-ID with no gap and no repeat; filters; heartbeats; a follower that reads
 * nothing is cut off with its last position and the metric moves; a second agent contradicting
 * a watched pair raises a conflict event; the door, the follower bound, a disconnect freeing
 * its buffer at once, and a shutdown ending streams cleanly.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { initDataDir } from "../../src/store/datadir.ts";
import {
  type FeedEvent,
  generateKeyPair,
  type KeyPair,
  type SignedRecord,
  StemeClient,
  signClaim,
  toHex,
} from "../../src/client/index.ts";
import { type SseMessage, SseParser } from "../../src/client/sse.ts";
import { cleanupAll, runCli, type ServerProcess, sleep, spawnServer, tempDir } from "./helpers.ts";

let server: ServerProcess;
let client: StemeClient;
const writer = generateKeyPair();
const other = generateKeyPair();

beforeAll(async () => {
  server = await spawnServer(tempDir("stemedb-changes-"), {
    args: ["--changes-heartbeat-secs", "1", "--changes-buffer-events", "100", "--changes-buffer-bytes", "1000000"],
  });
  client = new StemeClient({ url: server.url });
});

afterAll(async () => {
  await cleanupAll();
});

let serial = 0;
const claim = (key: KeyPair, fields: Record<string, unknown> = {}) => {
  serial++;
  return signClaim(key, {
    kind: "assertion",
    subject: `it/feed/s${serial % 7}`,
    predicate: "n",
    object: serial,
    confidence: 0.5,
    ...fields,
  });
};

/** Writes records; returns each one's LSN. */
async function write(records: SignedRecord[]): Promise<number[]> {
  const res = await client.submitBatch(records, { format: "cbor" });
  return res.results.map((r) => {
    if (!("lsn" in r)) throw new Error(`write refused: ${JSON.stringify(r)}`);
    return r.lsn;
  });
}

async function head(): Promise<number> {
  return (await client.health()).lsn;
}

/** A raw follower: fetch + the SSE reader, pumping in the background. */
function rawFollow(query: string, headers: Record<string, string> = {}) {
  const stop = new AbortController();
  const messages: SseMessage[] = [];
  const parser = new SseParser();
  const text: string[] = [];
  const state = { status: 0, ended: false, error: null as unknown, headers: new Headers() };
  const done = (async () => {
    try {
      const res = await fetch(`${server.url}/v1/changes${query}`, { headers, signal: stop.signal });
      state.status = res.status;
      state.headers = res.headers;
      if (!res.ok || !res.body) return;
      const decoder = new TextDecoder();
      for await (const chunk of res.body) {
        const t = decoder.decode(chunk, { stream: true });
        text.push(t);
        messages.push(...parser.push(t));
      }
      state.ended = true;
    } catch (err) {
      state.error = err;
    }
  })();
  const records = () => messages.filter((m) => m.type === "record").map((m) => Number(m.lastEventId));
  return { stop, messages, parser, text, state, done, records };
}

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** `name{labels} value` of /metrics. */
async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line ? Number(line.slice(name.length + 1)) : 0;
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe("GET /v1/changes", () => {
  test("from 0: every record in LSN order; a connection killed mid-stream resumes with Last-Event-ID, no gap, no repeat, while writes go on", async () => {
    await write(Array.from({ length: 60 }, () => claim(writer)));
    let writing = true;
    const background = (async () => {
      while (writing) await write(Array.from({ length: 15 }, () => claim(writer)));
    })();
    const first = rawFollow("?since=0");
    await until("120 records", () => first.records().length >= 120);
    first.stop.abort();
    await first.done;
    expect(first.state.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    expect(first.state.headers.get("cache-control")).toBe("no-cache");
    expect(first.state.headers.get("x-accel-buffering")).toBe("no");
    const seen = first.records();
    // The header wins over since=0: the stream goes on after what was seen, not from the start.
    const second = rawFollow("?since=0", { "last-event-id": first.parser.lastEventId });
    await until("300 records in all", () => seen.length + second.records().length >= 300);
    writing = false;
    await background;
    const last = await head();
    await until("the head", () => (second.records().at(-1) ?? 0) >= last);
    second.stop.abort();
    const all = [...seen, ...second.records()];
    expect(all).toEqual(range(1, last));
    expect(second.messages[0]?.type).toBe("record"); // nothing before the first new record
  }, 60_000);

  test("follow() in the client: drops injected mid-stream are resumed, every record once, in order", async () => {
    const start = await head();
    let connections = 0;
    const killer = async (url: string, init: RequestInit): Promise<Response> => {
      connections++;
      const mine = new AbortController();
      init.signal?.addEventListener("abort", () => mine.abort());
      const res = await fetch(url, { ...init, signal: mine.signal });
      setTimeout(() => mine.abort(), 150 + Math.random() * 150); // the network drops this one soon
      return res;
    };
    const stop = new AbortController();
    const got: number[] = [];
    const follower = new StemeClient({ url: server.url, fetch: killer as typeof fetch });
    let writing = true;
    const background = (async () => {
      while (writing) {
        await write(Array.from({ length: 10 }, () => claim(writer)));
        await sleep(20);
      }
    })();
    for await (const ev of follower.follow({ since: start, signal: stop.signal, retryMs: 20, maxRetryMs: 100 })) {
      expect(ev.type).toBe("record");
      if (ev.type === "record") got.push(ev.lsn);
      if (got.length >= 400) writing = false;
      if (!writing && got.at(-1) === (await head())) stop.abort();
    }
    await background;
    expect(connections).toBeGreaterThan(2);
    expect(got).toEqual(range(start + 1, start + got.length));
  }, 60_000);

  test("filters: subject exact, prefix and tail; kind; agent — past and live alike", async () => {
    const t = toHex(crypto.getRandomValues(new Uint8Array(4)));
    const subjects = [`f${t}/a`, `f${t}/a/b`, `f${t}/x/a`, `f${t}/ab`];
    const written: Array<{ lsn: number; subject?: string; kind: string; agent: string }> = [];
    const put = async (records: SignedRecord[]) => {
      const lsns = await write(records);
      for (const [i, r] of records.entries()) {
        written.push({
          lsn: lsns[i] as number,
          kind: r.record.kind,
          agent: toHex(r.record.agent),
          ...(r.record.kind === "assertion" ? { subject: r.record.subject } : {}),
        });
      }
      return lsns;
    };
    const start = await head();
    const cases: Array<{ q: string; keep: (w: (typeof written)[number]) => boolean }> = [
      { q: `subject=f${t}/a`, keep: (w) => w.subject === `f${t}/a` },
      { q: `subject=f${t}/a/*`, keep: (w) => w.subject?.startsWith(`f${t}/a/`) === true },
      { q: "subject=*/a", keep: (w) => w.subject?.endsWith("/a") === true },
      { q: "kind=vote,retraction", keep: (w) => w.kind === "vote" || w.kind === "retraction" },
      { q: `agent=${toHex(other.publicKey)}`, keep: (w) => w.agent === toHex(other.publicKey) },
    ];
    const live = cases.map((c) => rawFollow(`?${c.q}`));
    await until("live followers", async () => (await metric("stemedb_changes_followers")) >= cases.length);
    const firstBatch = subjects.flatMap((s) => [claim(writer, { subject: s }), claim(other, { subject: s })]);
    await put(firstBatch);
    await put([
      signClaim(other, { kind: "vote", target: toHex((firstBatch[0] as SignedRecord).id), value: 1 }),
      signClaim(writer, { kind: "retraction", target: toHex((firstBatch[2] as SignedRecord).id) }),
      claim(other, { subject: subjects[2] }),
    ]);
    const end = await head();
    for (const [i, c] of cases.entries()) {
      const want = written.filter((w) => w.lsn > start && w.lsn <= end && c.keep(w)).map((w) => w.lsn);
      expect([c.q, want.length > 0]).toEqual([c.q, true]);
      const past = rawFollow(`?since=${start}&${c.q}`);
      await until(`past ${c.q}`, () => past.records().length >= want.length);
      await until(`live ${c.q}`, () => (live[i]?.records().length ?? 0) >= want.length);
      expect([c.q, past.records()]).toEqual([c.q, want]);
      expect([c.q, live[i]?.records()]).toEqual([c.q, want]);
      past.stop.abort();
      live[i]?.stop.abort();
    }
    const bad = rawFollow("?subject=a//b");
    await bad.done;
    expect(bad.state.status).toBe(400);
    for (const q of ["?since=-1", "?since=12x", `?since=${end + 1000}`, "?kind=thing", "?lens=trust", "?watch=a", "?sincе=1"]) {
      const res = await fetch(`${server.url}/v1/changes${q}`);
      expect([q, res.status, ((await res.json()) as { code: string }).code]).toEqual([q, 400, "invalid_query"]);
    }
  }, 60_000);

  test("heartbeats arrive on a quiet stream (--changes-heartbeat-secs 1)", async () => {
    const f = rawFollow("?subject=nobody/*");
    await until("two heartbeats", () => f.text.join("").split(": heartbeat").length - 1 >= 2, 5000);
    f.stop.abort();
    expect(f.records()).toEqual([]);
  }, 20_000);

  test("a follower that reads nothing is cut off with its last position; the metric moves; its buffer is freed", async () => {
    const cutoffs = await metric('stemedb_changes_cutoffs_total{reason="slow_consumer"}');
    const start = await head();
    // Read the answer's head, then nothing: the socket's buffers fill, then the follower's.
    const res = await fetch(`${server.url}/v1/changes`);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    await reader.read();
    const note = "n".repeat(4000);
    for (let i = 0; i < 40 && (await metric('stemedb_changes_cutoffs_total{reason="slow_consumer"}')) === cutoffs; i++)
      await write(Array.from({ length: 100 }, () => claim(writer, { note })));
    await until(
      "the cut-off",
      async () => (await metric('stemedb_changes_cutoffs_total{reason="slow_consumer"}')) === cutoffs + 1,
    );
    // Now read what it was handed: records in order from the start, then where it stands.
    const parser = new SseParser();
    const messages: SseMessage[] = [];
    const decoder = new TextDecoder();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      messages.push(...parser.push(decoder.decode(value, { stream: true })));
    }
    const records = messages.filter((m) => m.type === "record").map((m) => Number(m.lastEventId));
    const cutoff = messages.at(-1) as SseMessage;
    expect(cutoff.type).toBe("cutoff");
    const { last_lsn, reason } = JSON.parse(cutoff.data) as { last_lsn: number; reason: string };
    expect(reason).toBe("slow_consumer");
    expect(records.length).toBeGreaterThan(0);
    expect(records).toEqual(range(start + 1, last_lsn));
    expect(last_lsn).toBeLessThan(await head());
    expect(await metric("stemedb_changes_buffered_events")).toBe(0);
  }, 90_000);

  test("a conflict event when a second agent contradicts a watched pair (follow() with watch)", async () => {
    const pair = { subject: `it/conflict/${toHex(crypto.getRandomValues(new Uint8Array(4)))}`, predicate: "dose_mg" };
    await write([claim(writer, { ...pair, object: 100, confidence: 0.8 })]);
    const stop = new AbortController();
    const events: FeedEvent[] = [];
    const following = (async () => {
      for await (const ev of client.follow({ kind: "epoch", watch: [pair], minConflict: 0.5, signal: stop.signal })) {
        events.push(ev);
        if (events.length === 2) stop.abort();
      }
    })();
    await until("the opening state", () => events.length === 1);
    expect(events[0]).toMatchObject({ type: "conflict", ...pair, conflict: 0, previous_conflict: null, value: 100 });
    await write([claim(other, { ...pair, object: 250, confidence: 0.8 })]);
    await following;
    expect(events[1]).toMatchObject({
      type: "conflict",
      ...pair,
      lens: "consensus",
      conflict: 1,
      previous_conflict: 0,
      value: 250,
    });
  }, 30_000);
});

describe("the door, the bound, disconnects, shutdown", () => {
  let guarded: ServerProcess;
  let reader = "";

  test("with keys: none → 401; a reader key follows", async () => {
    const dir = tempDir("stemedb-changes-keys-");
    initDataDir(dir);
    const made = await runCli(["keys", "create", "--data-dir", dir, "--role", "reader", "--name", "follower"]);
    reader = made.stdout.trim().split("\n").at(-1) as string;
    guarded = await spawnServer(dir, {
      args: ["--changes-followers-max", "2", "--http-timeout-secs", "1", "--changes-heartbeat-secs", "1"],
    });
    const res = await fetch(`${guarded.url}/v1/changes`);
    expect(res.status).toBe(401);
    expect(((await res.json()) as { code: string }).code).toBe("unauthorized");
  }, 30_000);

  test("a stream outlives the connection idle timeout (--http-timeout-secs 1), heartbeats flowing", async () => {
    const auth = { authorization: `Bearer ${reader}` };
    const stop = new AbortController();
    const res = await fetch(`${guarded.url}/v1/changes`, { headers: auth, signal: stop.signal });
    const body = (res.body as ReadableStream<Uint8Array>).getReader();
    const t0 = Date.now();
    let beats = 0;
    while (Date.now() - t0 < 4000) {
      const { done, value } = await body.read();
      expect(done).toBe(false);
      beats += new TextDecoder().decode(value).split(": heartbeat").length - 1;
    }
    expect(beats).toBeGreaterThanOrEqual(3);
    stop.abort();
    const metrics = async () => (await fetch(`${guarded.url}/metrics`, { headers: auth })).text();
    await until("the follower gone", async () => (await metrics()).includes("stemedb_changes_followers 0"), 3000);
  }, 30_000);

  test("past --changes-followers-max: 503 too_many_followers; a disconnect frees its place and buffer at once", async () => {
    const auth = { authorization: `Bearer ${reader}` };
    const a = new AbortController();
    const one = await fetch(`${guarded.url}/v1/changes`, { headers: auth, signal: a.signal });
    const two = await fetch(`${guarded.url}/v1/changes`, { headers: auth });
    expect([one.status, two.status]).toEqual([200, 200]);
    const three = await fetch(`${guarded.url}/v1/changes`, { headers: auth });
    expect(three.status).toBe(503);
    expect(three.headers.get("retry-after")).toBe("5");
    expect(((await three.json()) as { code: string }).code).toBe("too_many_followers");
    a.abort();
    const followers = async () => {
      const text = await (await fetch(`${guarded.url}/metrics`, { headers: auth })).text();
      return Number(
        text
          .split("\n")
          .find((l) => l.startsWith("stemedb_changes_followers "))
          ?.split(" ")[1],
      );
    };
    await until("the place freed", async () => (await followers()) === 1, 3000);
    const again = await fetch(`${guarded.url}/v1/changes`, { headers: auth });
    expect(again.status).toBe(200);
    // Shutdown: every stream ends cleanly and the process exits at once.
    const body = (two.body as ReadableStream<Uint8Array>).getReader();
    const t0 = Date.now();
    const exit = guarded.stop();
    let tail = "";
    for (;;) {
      const { done, value } = await body.read();
      if (done) break;
      tail += new TextDecoder().decode(value);
    }
    expect(tail).toContain(": server shutting down");
    expect(await exit).toBe(0);
    expect(Date.now() - t0).toBeLessThan(5000);
  }, 30_000);
});
