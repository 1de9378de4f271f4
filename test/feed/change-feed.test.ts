/**
 * The change feed over a real store (temp dir, real log, real SQLite), no sockets: a follower's
 * stream read through the real SSE reader. The hand-over from past records (index pages, then
 * the store's queue of acknowledged records the index has not applied) to live ones is tested
 * with records landing in every place at once — indexed, acknowledged but not indexed,
 * acknowledged but not yet fanned out — and between catch-up steps; filters select the same
 * records whether they are past or live; buffers are bounded; watched pairs raise `conflict`.
 *
 * Records go in as ingest puts them in (log append, then `enqueueIndex`), with `--sync none`:
 * no step of an append waits on a timer, so what is indexed when is under the test's control.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { StemeError } from "../../src/core/errors.ts";
import { toHex } from "../../src/core/hex.ts";
import { generateKeyPair, type KeyPair } from "../../src/crypto/sign.ts";
import { type SignedRecord, signRecord } from "../../src/crypto/signed.ts";
import { ChangeFeed, type ChangeFeedOptions, type FollowRequest } from "../../src/feed/change-feed.ts";
import { parseSubjectMatch } from "../../src/index/list.ts";
import { createMetrics, type Metrics } from "../../src/metrics/index.ts";
import { QueryEngine } from "../../src/query/engine.ts";
import type { Resolver } from "../../src/feed/conflicts.ts";
import { Store } from "../../src/store/store.ts";
import { TrustService } from "../../src/trust/service.ts";
import { prng } from "../support/prng.ts";
import { appendAcknowledged, Reader } from "./helpers.ts";

const now = Date.now();
let dir: string;
let store: Store;
let engine: QueryEngine;
let metrics: Metrics;
let feed: ChangeFeed;
/** Fan-outs scheduled and not yet run (the feed's `schedule`, run by `settle`). */
let fanOuts: Array<() => void> = [];

function openFeed(options: Partial<ChangeFeedOptions> = {}, resolve?: Resolver): ChangeFeed {
  return new ChangeFeed(store, resolve ?? ((q) => engine.answerWithDeps(q)), {
    followersMax: 8,
    bufferEventsMax: 10_000,
    bufferBytesMax: 64 << 20,
    heartbeatMs: 0,
    conflictDelayMs: 0,
    pageRecords: 7,
    metrics,
    schedule: (fn) => fanOuts.push(fn),
    ...options,
  });
}

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "stemedb-feed-"));
  store = await Store.open(dir, { create: true, sync: "none" });
  const trust = new TrustService(store);
  engine = new QueryEngine(store, trust, { viewsMax: 10_000 });
  metrics = createMetrics({ processMetrics: false });
  fanOuts = [];
  feed = openFeed();
});

afterEach(async () => {
  feed.close();
  engine.close();
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Runs the scheduled fan-outs. */
function settle(): void {
  for (const run of fanOuts.splice(0)) run();
}

let serial = 0;
function sign(key: KeyPair, fields: Record<string, unknown>): SignedRecord {
  serial++;
  return signRecord({ v: 1, agent: toHex(key.publicKey), ts: now - 100_000 + serial, ...fields }, key.secretKey, "json");
}

const agents = [generateKeyPair(), generateKeyPair(), generateKeyPair()];
const claim = (n: number, subject = `f/s${n % 5}`, key = agents[n % 3] as KeyPair) =>
  sign(key, { kind: "assertion", subject, predicate: "p", object: n, confidence: 0.5 });

async function append(records: SignedRecord[]): Promise<number[]> {
  return appendAcknowledged(store, records);
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe("the hand-over from past records to live ones", () => {
  test("records indexed, acknowledged but not indexed, and not yet fanned out: each once, in LSN order", async () => {
    await append(range(1, 20).map((n) => claim(n)));
    await store.indexCaughtUp();
    settle();
    await append(range(21, 30).map((n) => claim(n)));
    settle();
    // No timer ran since: the index has 1–20, the store's queue 21–30, and the feed has sent out 30.
    expect([store.indexLsn, feed.position]).toEqual([20, 30]);
    feed.follow({ filter: {} }); // with a follower, a batch waits for the fan-out (with none it is skipped)
    await append(range(31, 35).map((n) => claim(n))); // acknowledged, not yet fanned out
    expect(feed.position).toBe(30);
    const r = new Reader(feed.follow({ filter: {}, since: 0 }));
    await r.until(7); // the first index page (7 records)
    await append(range(36, 38).map((n) => claim(n))); // lands between two catch-up steps
    // Index pages to 20, the store's queue to 30 (the feed's position), then live — with 31–38
    // acknowledged and waiting for the fan-out, which sends them to it.
    await r.until(30);
    while (r.follower.state !== "live") await r.step();
    expect(r.lsns()).toEqual(range(1, 30));
    settle();
    expect(await r.until(38)).toEqual(range(1, 38));
    await append(range(39, 40).map((n) => claim(n)));
    settle();
    expect(await r.until(40)).toEqual(range(1, 40));
    expect(r.parser.lastEventId).toBe("40");
  });

  test("writes between every catch-up step, a follower starting mid-log, one starting now: nothing lost, nothing twice", async () => {
    await append(range(1, 50).map((n) => claim(n)));
    await store.indexCaughtUp();
    settle();
    const fromMid = new Reader(feed.follow({ filter: {}, since: 23 }));
    const fromNow = new Reader(feed.follow({ filter: {} }));
    let next = 51;
    for (let step = 0; step < 12; step++) {
      if (fromMid.follower.state === "catching_up") await fromMid.step();
      await append(range(next, next + 2).map((n) => claim(n)));
      next += 3;
      if (step % 3 === 0) await store.indexCaughtUp(); // sometimes the index catches up meanwhile
      if (step % 2 === 0) settle();
    }
    settle();
    const last = next - 1;
    expect(await fromMid.until(last - 23)).toEqual(range(24, last));
    expect(await fromNow.until(last - 50)).toEqual(range(51, last));
  });

  test("a record's data is the record as a listing shows it, whether it came from the index, the queue or live", async () => {
    const [first] = await append([claim(1)]);
    await store.indexCaughtUp();
    settle();
    const [second] = await append([claim(2)]);
    settle();
    const r = new Reader(feed.follow({ filter: {}, since: 0 }));
    await r.until(2);
    const [third] = await append([claim(3)]);
    settle();
    await r.until(3);
    for (const [i, lsn] of [first, second, third].entries()) {
      const loc = store.index.lookupId(Uint8Array.from(Buffer.from(r.records[i]?.data.id as string, "hex")));
      expect(r.records[i]?.lsn).toBe(lsn as number);
      expect(r.records[i]?.data).toEqual({
        ...store.view(loc ?? (store.lookupId(Buffer.from(r.records[i]?.data.id as string, "hex")) as never)),
      });
    }
    expect(r.records[0]?.data.flags).toEqual([]);
  });

  test("a follower whose filter takes nothing moves its resume point by heartbeats; one opened at the end is live at once", async () => {
    await append(range(1, 5).map((n) => claim(n)));
    settle();
    const r = new Reader(feed.follow({ filter: { subject: parseSubjectMatch("nothing/*") }, since: 2 }));
    await r.step(); // the opening block: id 2
    expect(r.parser.lastEventId).toBe("2");
    const reading = r.step(); // a catch-up step finds nothing and goes live; a heartbeat then says 5
    while (r.follower.state !== "live") await Bun.sleep(1);
    feed.heartbeat();
    await reading;
    expect(r.parser.lastEventId).toBe("5");
    expect(r.records).toEqual([]);
    expect(feed.follow({ filter: {}, since: 5 }).state).toBe("catching_up"); // until its first pull…
    expect(feed.gauges().followers).toBe(2);
    await append([claim(6)]);
    settle();
    expect(feed.gauges().bufferedEvents).toBe(1); // …but live already: it was handed record 6
  });
});

describe("filters", () => {
  test("past and live followers select the same records, the ones the filter names", async () => {
    const rand = prng(5);
    const subjects = ["g/a", "g/a/b", "g/a/b/c", "h/a", "h/b/a", "a", "g/ab"];
    const [k0, k1, k2] = agents as [KeyPair, KeyPair, KeyPair];
    const filters: Array<{ name: string; req: FollowRequest["filter"]; keep: (r: SignedRecord) => boolean }> = [
      { name: "prefix", req: { subject: parseSubjectMatch("g/a/*") }, keep: (r) => subjectOf(r)?.startsWith("g/a/") ?? false },
      { name: "tail", req: { subject: parseSubjectMatch("*/a") }, keep: (r) => subjectOf(r)?.endsWith("/a") ?? false },
      { name: "exact", req: { subject: parseSubjectMatch("g/a") }, keep: (r) => subjectOf(r) === "g/a" },
      {
        name: "kind",
        req: { kinds: new Set(["vote", "retraction"] as const) },
        keep: (r) => ["vote", "retraction"].includes(r.record.kind),
      },
      { name: "agent", req: { agent: k1.publicKey }, keep: (r) => toHex(r.record.agent) === toHex(k1.publicKey) },
      {
        name: "all three",
        req: { subject: parseSubjectMatch("*/a"), kinds: new Set(["assertion"] as const), agent: k2.publicKey },
        keep: (r) => subjectOf(r)?.endsWith("/a") === true && toHex(r.record.agent) === toHex(k2.publicKey),
      },
    ];
    const live = filters.map((f) => new Reader(feed.follow({ filter: f.req })));
    const written: SignedRecord[] = [];
    for (let n = 0; n < 120; n++) {
      const key = [k0, k1, k2][Math.floor(rand() * 3)] as KeyPair;
      const earlier = written[Math.floor(rand() * written.length)];
      const r =
        earlier && rand() < 0.3
          ? sign(
              key,
              rand() < 0.5
                ? { kind: "vote", target: toHex(earlier.id), value: 1 }
                : { kind: "retraction", target: toHex(earlier.id) },
            )
          : sign(key, {
              kind: "assertion",
              subject: subjects[Math.floor(rand() * subjects.length)],
              predicate: "p",
              object: n,
              confidence: 0.5,
            });
      written.push(r);
    }
    for (let i = 0; i < written.length; i += 10) {
      await append(written.slice(i, i + 10));
      if (i % 30 === 0) await store.indexCaughtUp();
      settle();
    }
    await store.indexCaughtUp();
    for (const [i, f] of filters.entries()) {
      const want = written
        .map((r, j) => ({ r, lsn: j + 1 }))
        .filter(({ r }) => f.keep(r))
        .map(({ lsn }) => lsn);
      expect([f.name, want.length > 0]).toEqual([f.name, true]);
      const past = new Reader(feed.follow({ filter: f.req, since: 0 }));
      expect([f.name, await past.until(want.length)]).toEqual([f.name, want]);
      expect([f.name, await (live[i] as Reader).until(want.length)]).toEqual([f.name, want]);
      await past.cancel();
    }
  });
});

function subjectOf(r: SignedRecord): string | undefined {
  return r.record.kind === "assertion" ? r.record.subject : undefined;
}

describe("bounds", () => {
  test("a follower that reads nothing is cut off at its bound; the metric counts it; the others go on", async () => {
    feed.close();
    feed = openFeed({ bufferEventsMax: 20 });
    const slow = new Reader(feed.follow({ filter: {} }));
    await slow.step(); // the opening block; then it reads no more
    const fast = new Reader(feed.follow({ filter: {} }));
    for (let n = 1; n <= 30; n += 5) {
      await append(range(n, n + 4).map((i) => claim(i)));
      settle();
      await fast.until(n + 4);
    }
    expect(feed.gauges().followers).toBe(1);
    expect((await metrics.registry.getSingleMetric("stemedb_changes_cutoffs_total")?.get())?.values).toEqual([
      { labels: { reason: "slow_consumer" }, value: 1 },
    ]);
    // What the slow one gets when it reads again: nothing it was not handed, then where it stands.
    while (!slow.ended) await slow.step();
    expect(slow.records).toEqual([]);
    expect(slow.others).toEqual([{ type: "cutoff", data: '{"last_lsn":0,"reason":"slow_consumer"}', lastEventId: "0" }]);
    expect(fast.lsns()).toEqual(range(1, 30));
  });

  test("a record the log cannot give back: whoever should get it is cut off before it (read_failed), never skips it", async () => {
    await append(range(1, 3).map((n) => claim(n)));
    await store.indexCaughtUp();
    settle();
    const live = new Reader(feed.follow({ filter: {} }));
    const other = new Reader(feed.follow({ filter: { subject: parseSubjectMatch("elsewhere/*") } }));
    await live.step();
    await other.step();
    const [lsn] = await append([claim(4)]);
    // Damage record 4's frame in the log file before the fan-out reads it.
    const e = store.pendingAfter(3)[0] as { segment: number; offset: number };
    const file = path.join(store.dataDir.logDir, `${String(e.segment).padStart(10, "0")}.seg`);
    const fd = fs.openSync(file, "r+");
    fs.writeSync(fd, Buffer.from("garbage!"), 0, 8, e.offset + 20);
    fs.closeSync(fd);
    settle();
    while (!live.ended) await live.step();
    expect(live.records).toEqual([]);
    expect(live.others).toEqual([{ type: "cutoff", data: '{"last_lsn":3,"reason":"read_failed"}', lastEventId: "3" }]);
    expect(other.follower.state).not.toBe("ended"); // its filter did not take the record: nothing to read
    // Catching up over it fails the same way.
    const past = new Reader(feed.follow({ filter: {}, since: 0 }));
    while (!past.ended) await past.step();
    expect(past.lsns()).toEqual([1, 2, 3]);
    expect(past.others.at(-1)?.data).toBe('{"last_lsn":3,"reason":"read_failed"}');
    expect(lsn).toBe(4);
    const counted = (await metrics.registry.getSingleMetric("stemedb_changes_cutoffs_total")?.get())?.values;
    expect(counted).toEqual([{ labels: { reason: "read_failed" }, value: 2 }]);
  });

  test("a follower that goes away frees its buffer at once", async () => {
    const r = new Reader(feed.follow({ filter: {} }));
    await r.step();
    await append(range(1, 12).map((n) => claim(n)));
    settle();
    expect(feed.gauges()).toMatchObject({ followers: 1, bufferedEvents: 12 });
    expect(feed.gauges().bufferedBytes).toBeGreaterThan(12 * 500);
    await r.cancel();
    expect(feed.gauges()).toMatchObject({ followers: 0, bufferedEvents: 0, bufferedBytes: 0 });
  });

  test("past --changes-followers-max a follower is refused with too_many_followers", () => {
    for (let i = 0; i < 8; i++) feed.follow({ filter: {} });
    let err: unknown;
    try {
      feed.follow({ filter: {} });
    } catch (e) {
      err = e;
    }
    expect(err instanceof StemeError && err.code).toBe("too_many_followers");
    expect((err as StemeError).status).toBe(503);
  });

  test("closing the feed ends every stream after what was waiting", async () => {
    const r = new Reader(feed.follow({ filter: {} }));
    await r.step();
    await append(range(1, 3).map((n) => claim(n)));
    settle();
    feed.close();
    while (!r.ended) await r.step();
    expect(r.lsns()).toEqual([1, 2, 3]);
    expect(() => feed.follow({ filter: {} })).toThrow(/shutting down/);
  });
});
