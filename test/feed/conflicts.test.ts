/**
 * `conflict` events for watched pairs (src/feed/conflicts.ts) over a real store and the real
 * query engine: the first event says where a pair stands; then one each time κ crosses the
 * watcher's threshold (up or down) or the winner changes, and none otherwise; a pair is
 * resolved once per pass however many records touched it (the debounce), and not at all for
 * records that cannot change it; a record that lands while a pair is being resolved is
 * checked against the new answer, so it is not missed.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { toHex } from "../../src/core/hex.ts";
import { generateKeyPair, type KeyPair } from "../../src/crypto/sign.ts";
import { type SignedRecord, signRecord } from "../../src/crypto/signed.ts";
import { ChangeFeed, type WatchRequest } from "../../src/feed/change-feed.ts";
import type { ConflictEvent, Resolver } from "../../src/feed/conflicts.ts";
import { QueryEngine } from "../../src/query/engine.ts";
import { Store } from "../../src/store/store.ts";
import { TrustService } from "../../src/trust/service.ts";
import { appendAcknowledged, Reader } from "./helpers.ts";

const now = Date.now();
let dir: string;
let store: Store;
let engine: QueryEngine;
let feed: ChangeFeed;

function openFeed(resolve: Resolver = (q) => engine.answerWithDeps(q), conflictDelayMs = 0): ChangeFeed {
  return new ChangeFeed(store, resolve, {
    followersMax: 8,
    bufferEventsMax: 1000,
    bufferBytesMax: 1 << 24,
    heartbeatMs: 0,
    conflictDelayMs,
  });
}

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "stemedb-feed-conflicts-"));
  store = await Store.open(dir, { create: true, sync: "none" });
  engine = new QueryEngine(store, new TrustService(store), { viewsMax: 10_000 });
  feed = openFeed();
});

afterEach(async () => {
  feed.close();
  engine.close();
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

let serial = 0;
function sign(key: KeyPair, fields: Record<string, unknown>): SignedRecord {
  serial++;
  return signRecord({ v: 1, agent: toHex(key.publicKey), ts: now - 100_000 + serial, ...fields }, key.secretKey, "json");
}
const say = (key: KeyPair, object: unknown, confidence = 0.5, subject = "c/aspirin", predicate = "dose") =>
  sign(key, { kind: "assertion", subject, predicate, object, confidence });
const id = (r: SignedRecord) => toHex(r.id);

/** Appends and waits until the feed has fanned out and every pass it caused has run. */
async function write(...records: SignedRecord[]): Promise<void> {
  await appendAcknowledged(store, records);
  await quiet();
}

async function quiet(): Promise<void> {
  await Bun.sleep(0); // the fan-out (setImmediate)
  while (feed.conflicts.busy) await Bun.sleep(1);
}

const watching: WatchRequest = { pairs: [{ subject: "c/aspirin", predicate: "dose" }], lens: "consensus", threshold: 0.5 };

/** A follower that takes no records (no epoch is ever written), only conflict events. */
function watcher(watch: WatchRequest = watching): { reader: Reader; next(): Promise<ConflictEvent> } {
  const reader = new Reader(feed.follow({ filter: { kinds: new Set(["epoch"]) }, watch }));
  let seen = 0;
  return {
    reader,
    async next() {
      while (reader.others.filter((m) => m.type === "conflict").length <= seen) await reader.step();
      return JSON.parse(reader.others.filter((m) => m.type === "conflict")[seen++]?.data as string);
    },
  };
}

const [x, y, z, w] = [generateKeyPair(), generateKeyPair(), generateKeyPair(), generateKeyPair()];

describe("conflict events", () => {
  test("where the pair stands, then each crossing of κ up or down and each new winner, and nothing else", async () => {
    const a1 = say(x, 1);
    await write(a1);
    const watch = watcher();
    await quiet();
    expect(await watch.next()).toMatchObject({
      subject: "c/aspirin",
      predicate: "dose",
      lens: "consensus",
      conflict: 0,
      previous_conflict: null,
      winner_id: id(a1),
      previous_winner_id: null,
      value: 1,
    });
    const a2 = say(y, 2); // two equal camps: κ = 1; a tie goes to the camp with the latest claim
    await write(a2);
    expect(await watch.next()).toMatchObject({
      conflict: 1,
      previous_conflict: 0,
      winner_id: id(a2),
      previous_winner_id: id(a1),
      value: 2,
    });
    const a3 = say(z, 1); // 1.0 against 0.5: κ = 2/3, still over 0.5, but camp 1 wins now
    await write(a3);
    const third = await watch.next();
    expect(third.conflict).toBeCloseTo(2 / 3, 9);
    expect(third).toMatchObject({ previous_conflict: 1, previous_winner_id: id(a2), value: 1 });
    expect([id(a1), id(a3)]).toContain(third.winner_id as string);
    await write(say(w, 1, 0.9)); // 1.9 against 0.5: κ = 5/12, under 0.5
    const fourth = await watch.next();
    expect(fourth.conflict).toBeCloseTo(5 / 12, 9);
    expect(fourth.previous_conflict).toBeCloseTo(2 / 3, 9);
    // A vote, another pair, a retraction that changes neither side of 0.5 nor the winner: no event.
    await write(sign(x, { kind: "vote", target: id(a1), value: 1 }), say(x, 9, 0.5, "c/other"));
    await write(sign(y, { kind: "retraction", target: id(a2) })); // κ → 0: no crossing, same winner
    expect(watch.reader.follower.bufferedEvents).toBe(0);
    expect(watch.reader.others.filter((m) => m.type === "conflict")).toHaveLength(4);
  });

  test("each watcher has its own threshold; the same pair is resolved once for all of them", async () => {
    await write(say(x, 1));
    const low = watcher({ ...watching, threshold: 0.2 });
    const high = watcher({ ...watching, threshold: 0.9 });
    await quiet();
    await low.next();
    await high.next();
    const before = feed.conflicts.resolutions;
    await write(say(y, 2, 0.2)); // 0.5 against 0.2: κ = 4/7 ≈ 0.57
    expect(feed.conflicts.resolutions - before).toBe(1);
    expect((await low.next()).conflict).toBeCloseTo(4 / 7, 9);
    expect(high.reader.follower.bufferedEvents).toBe(0);
    await write(say(z, 2, 0.3)); // 0.5 against 0.5: κ = 1, and camp 2 holds the latest claim
    expect((await high.next()).conflict).toBe(1);
    expect((await low.next()).conflict).toBe(1); // the winner changed, so low hears too
  });

  test("debounce: a batch of ten records about the pair is one resolution and at most one event", async () => {
    await write(say(x, 1));
    const watch = watcher();
    await quiet();
    await watch.next();
    const before = feed.conflicts.resolutions;
    const keys = Array.from({ length: 10 }, () => generateKeyPair());
    await write(...keys.map((k) => say(k, 2)));
    expect(feed.conflicts.resolutions - before).toBe(1);
    const event = await watch.next();
    expect(event.conflict).toBeCloseTo((1 - 5 / 5.5) / 0.5, 9);
    expect(watch.reader.others.filter((m) => m.type === "conflict")).toHaveLength(2);
  });

  test("debounce across batches: writes within the delay are one resolution", async () => {
    feed.close();
    feed = openFeed(undefined, 40);
    await write(say(x, 1));
    const watch = watcher();
    await quiet();
    await watch.next();
    const before = feed.conflicts.resolutions;
    for (let i = 0; i < 5; i++) await appendAcknowledged(store, [say(generateKeyPair(), 2)]);
    await quiet();
    expect(feed.conflicts.resolutions - before).toBe(1);
  });

  test("a record that lands while the pair is being resolved is checked against the new answer", async () => {
    feed.close();
    let inject: SignedRecord | null = null;
    // Resolves, then — before the answer is taken in — a retraction of the claim that answer
    // just learned about is acknowledged and fanned out. The pair's previous answer did not
    // gather that claim, so only the new answer's dependencies can tell the retraction matters.
    feed = openFeed(async (q) => {
      const answer = await engine.answerWithDeps(q);
      if (inject) {
        const r = inject;
        inject = null;
        await appendAcknowledged(store, [r]);
        await Bun.sleep(0);
      }
      return answer;
    });
    const a1 = say(x, 1);
    await write(a1);
    const watch = watcher();
    await quiet();
    await watch.next();
    const a2 = say(y, 2, 0.9);
    inject = sign(y, { kind: "retraction", target: id(a2) });
    await write(a2);
    expect(await watch.next()).toMatchObject({ winner_id: id(a2), previous_winner_id: id(a1) });
    expect(await watch.next()).toMatchObject({ conflict: 0, winner_id: id(a1), previous_winner_id: id(a2) });
  });

  test("a follower that goes away stops its watches; the last watcher of a pair frees it", async () => {
    await write(say(x, 1));
    const watch = watcher();
    await quiet();
    await watch.next();
    expect(feed.conflicts.idle).toBe(false);
    await watch.reader.cancel();
    expect(feed.conflicts.idle).toBe(true);
    const before = feed.conflicts.resolutions;
    await write(say(y, 2));
    expect(feed.conflicts.resolutions).toBe(before);
  });
});
