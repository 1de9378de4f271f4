/**
 * Materialized views are derived: after any sequence of writes, an answer served from a view
 * equals the answer resolved from scratch, and dropping every view changes no answer. A real
 * store (temp dir, real SQLite, real log), no sockets.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { toHex } from "../../src/core/hex.ts";
import { generateKeyPair, type KeyPair } from "../../src/crypto/sign.ts";
import { signRecord } from "../../src/crypto/signed.ts";
import { Ingest } from "../../src/ingest/pipeline.ts";
import { lensNames } from "../../src/lens/index.ts";
import { QueryEngine } from "../../src/query/engine.ts";
import { jsonBytes } from "../../src/query/views.ts";
import { type QueryAnswer, type QueryRequest, runQuery } from "../../src/query/query.ts";
import { Store } from "../../src/store/store.ts";
import { TrustService } from "../../src/trust/service.ts";
import { prng } from "../support/prng.ts";

const now = Date.now();
let dir: string;
let store: Store;
let ingest: Ingest;
let trust: TrustService;
let engine: QueryEngine;

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "stemedb-views-"));
  store = await Store.open(dir, { create: true, sync: "none" });
  ingest = new Ingest(store, { clockSkewMs: 1000, queueRecordsMax: 10_000, now: () => now });
  trust = new TrustService(store);
  engine = new QueryEngine(store, trust, { viewsMax: 10_000 });
});

afterEach(async () => {
  engine.close();
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function sign(key: KeyPair, fields: Record<string, unknown>, ts: number) {
  return signRecord({ v: 1, agent: toHex(key.publicKey), ts, ...fields }, key.secretKey, "json");
}

async function submit(key: KeyPair, fields: Record<string, unknown>, ts: number): Promise<string> {
  return submitSigned(sign(key, fields, ts));
}

async function submitSigned(signed: ReturnType<typeof sign>): Promise<string> {
  const [r] = await ingest.submit([{ shape: "cbor", body: signed.body, sig: signed.sig }]);
  if (!r?.ok) throw new Error(`write refused: ${r?.ok === false ? r.error.message : "?"}`);
  return toHex(signed.id);
}

/**
 * Answers without the positions they were computed at: a view computed at LSN 10 that nothing
 * since has changed says `lsn: 10`, the same answer resolved now says the current position.
 */
function positionless(answers: Record<string, QueryAnswer>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [lens, { lsn: _l, trust_lsn: _t, ...rest }] of Object.entries(answers)) out[lens] = rest;
  return out;
}

/** The answer resolved from scratch, with the same TrustRank the engine uses. */
async function fromScratch(q: QueryRequest) {
  return positionless((await runQuery(store, q, trust.current)).answers);
}

const subjects = ["v/a", "v/b"];
const predicates = ["p", "q"];

describe("materialized views", () => {
  test("a query asked again is kept as a view and answered from it; a write to its pair drops the view", async () => {
    const k = generateKeyPair();
    await submit(k, { kind: "assertion", subject: "v/a", predicate: "p", object: 1, confidence: 0.5 }, now - 10);
    const q: QueryRequest = { subject: "v/a", predicate: "p", lenses: ["consensus"] };
    const first = await engine.query(q);
    expect(first.fromViews).toBe(0);
    // Asked once, nothing is kept (a cold workload fills no cache); asked again, it is.
    expect(engine.views.size).toBe(0);
    const second = await engine.query(q);
    expect(second.fromViews).toBe(0);
    expect(engine.views.size).toBe(1);
    const again = await engine.query(q);
    expect(again.fromViews).toBe(1);
    expect(again.answers).toEqual(first.answers);
    await submit(k, { kind: "assertion", subject: "v/a", predicate: "p", object: 2, confidence: 0.5 }, now - 5);
    const after = await engine.query(q);
    expect(after.fromViews).toBe(0);
    expect(after.answers.consensus?.value).toBe(2);
    // Once kept, a dropped view is kept again at its next ask.
    expect((await engine.query(q)).fromViews).toBe(1);
    // fresh=true never reads a view.
    expect((await engine.query({ ...q, fresh: true })).fromViews).toBe(0);
    // as_of answers are never kept.
    await engine.query({ ...q, asOf: now - 6 });
    expect((await engine.query({ ...q, asOf: now - 6 })).fromViews).toBe(0);
  });

  test("an epoch superseding another, a source's new tier and its confirmation reach views of other pairs", async () => {
    const k = generateKeyPair();
    const authority: KeyPair = store.dataDir.nodeKey;
    await submit(k, { kind: "source", source_id: "src", title: "a blog", tier: 5 }, now - 30);
    await submit(k, { kind: "assertion", subject: "v/a", predicate: "p", object: 1, confidence: 0.5, epoch: "e1" }, now - 20);
    await submit(authority, { kind: "source", source_id: "gov", title: "a regulator", tier: 3 }, now - 30);
    await submit(
      authority,
      { kind: "assertion", subject: "v/b", predicate: "p", object: 1, confidence: 0.9, source: "gov" },
      now - 20,
    );
    await submit(k, { kind: "assertion", subject: "v/b", predicate: "p", object: 2, confidence: 0.5, source: "src" }, now - 19);
    const epochQ: QueryRequest = { subject: "v/a", predicate: "p", lenses: ["consensus"] };
    const tierQ: QueryRequest = { subject: "v/b", predicate: "p", lenses: ["authority"] };
    expect((await engine.query(epochQ)).answers.consensus?.value).toBe(1);
    expect((await engine.query(tierQ)).answers.authority?.value).toBe(1); // tier 3 beats tier 5
    await submit(authority, { kind: "epoch", name: "e2", starts_at: now - 10, supersedes: "e1" }, now - 10);
    const relabel = await submit(k, { kind: "source", source_id: "src", title: "now the label", tier: 1 }, now - 10);
    expect((await engine.query(epochQ)).answers.consensus?.value).toBeNull();
    // A tier 1 nobody confirmed counts as tier 4: the regulator's tier 3 still wins.
    expect((await engine.query(tierQ)).answers.authority?.value).toBe(1);
    expect((await engine.query(tierQ)).fromViews).toBe(1);
    await submit(authority, { kind: "review", action: "confirm_source", target: relabel }, now - 9);
    const tiered = await engine.query(tierQ);
    expect(tiered.answers.authority?.value).toBe(2);
    expect(tiered.fromViews).toBe(0);
  });

  test("views off (viewsMax 0): every query resolves", async () => {
    const off = new QueryEngine(store, trust, { viewsMax: 0 });
    const k = generateKeyPair();
    await submit(k, { kind: "assertion", subject: "v/a", predicate: "p", object: 1, confidence: 0.5 }, now - 10);
    const q: QueryRequest = { subject: "v/a", predicate: "p", lenses: ["recency"] };
    await off.query(q);
    expect((await off.query(q)).fromViews).toBe(0);
    expect(off.views.size).toBe(0);
  });

  test("views are bounded in bytes: past --views-bytes the oldest go, answers stay right, the count matches what is held", async () => {
    const k = generateKeyPair();
    const pairs = 12;
    for (let i = 0; i < pairs; i++)
      await submit(k, { kind: "assertion", subject: `b/${i}`, predicate: "p", object: i, confidence: 0.5 }, now - 100 + i);
    const q = (i: number): QueryRequest => ({ subject: `b/${i}`, predicate: "p", lenses: ["consensus"] });
    // Measure one view, then allow about four of them.
    const probe = new QueryEngine(store, trust, { viewsMax: 100 });
    await probe.query(q(0));
    await probe.query(q(0));
    const one = probe.views.bytes;
    probe.close();
    expect(one).toBeGreaterThan(1000);
    const bounded = new QueryEngine(store, trust, { viewsMax: 100, viewsBytesMax: Math.floor(one * 4.5), hotWindowMs: 0 });
    for (let i = 0; i < pairs; i++) {
      for (let ask = 0; ask < 2; ask++) expect((await bounded.query(q(i))).answers.consensus?.value).toBe(i);
      expect(bounded.views.bytes).toBeLessThanOrEqual(bounded.views.bytesMax);
    }
    expect(bounded.views.size).toBe(4);
    // The newest is kept; which older ones went is the eviction's choice (all were just read).
    expect(bounded.views.has(QueryEngine.keyOf(q(pairs - 1), "consensus"))).toBe(true);
    expect((await bounded.query(q(pairs - 1))).fromViews).toBe(1);
    const gone = Array.from({ length: pairs }, (_, i) => i).filter(
      (i) => !bounded.views.has(QueryEngine.keyOf(q(i), "consensus")),
    );
    expect(gone.length).toBe(pairs - 4);
    // A write drops its view and the bytes it held.
    const before = bounded.views.bytes;
    await submit(k, { kind: "assertion", subject: `b/${pairs - 1}`, predicate: "p", object: 99, confidence: 0.9 }, now - 1);
    expect(bounded.views.has(QueryEngine.keyOf(q(pairs - 1), "consensus"))).toBe(false);
    expect(bounded.views.size).toBe(3);
    expect(bounded.views.bytes).toBeLessThan(before);
    const evicted = gone[0] as number;
    const again = await bounded.query(q(evicted));
    expect(again.fromViews).toBe(0); // evicted: resolved again, and right
    expect(again.answers.consensus?.value).toBe(evicted);
    // A view's JSON is made at its first read and counted from then on (room is made for it).
    const key = QueryEngine.keyOf(q(evicted), "consensus");
    const unread = bounded.views.get(key, performance.now())?.bytes ?? 0;
    const read = bounded.peek(q(evicted));
    expect(read?.answer.value).toBe(evicted);
    const json = read?.json() ?? "";
    expect(JSON.parse(json).value).toBe(evicted);
    expect(bounded.views.get(key, performance.now())?.bytes).toBe(unread + jsonBytes(json));
    expect(bounded.views.bytes).toBeLessThanOrEqual(bounded.views.bytesMax);
    const held = bounded.views.bytes;
    expect(bounded.peek(q(evicted))?.json()).toBe(json);
    expect(bounded.views.bytes).toBe(held);
    bounded.views.clear();
    expect(bounded.views.bytes).toBe(0);
    bounded.close();
    // A budget smaller than one view keeps none, and every query still answers.
    const tiny = new QueryEngine(store, trust, { viewsBytesMax: 100 });
    expect((await tiny.query(q(3))).answers.consensus?.value).toBe(3);
    expect((await tiny.query(q(3))).fromViews).toBe(0);
    expect(tiny.views.size).toBe(0);
    tiny.close();
  });

  test("dropped hot views are recomputed in the background", async () => {
    const k = generateKeyPair();
    await submit(k, { kind: "assertion", subject: "v/a", predicate: "p", object: 1, confidence: 0.5 }, now - 10);
    const q: QueryRequest = { subject: "v/a", predicate: "p", lenses: ["recency"] };
    await engine.query(q);
    await engine.query(q); // read: hot
    await submit(k, { kind: "assertion", subject: "v/a", predicate: "p", object: 3, confidence: 0.5 }, now - 5);
    for (let i = 0; i < 50 && !engine.views.has(QueryEngine.keyOf(q, "recency")); i++) await Bun.sleep(10);
    const served = await engine.query(q);
    expect(served.fromViews).toBe(1);
    expect(served.answers.recency?.value).toBe(3);
  });

  test("property: over random writes of every kind, view answers equal answers from scratch", async () => {
    const rand = prng(42);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
    const authority: KeyPair = store.dataDir.nodeKey;
    const agents = Array.from({ length: 5 }, () => generateKeyPair());
    const claims: Array<{ id: string; key: KeyPair }> = [];
    let ts = now - 100_000;
    // Records signed now and submitted later: others reference them before they arrive.
    const future = Array.from({ length: 12 }, (_, i) => {
      const key = pick(agents);
      const signed = sign(
        key,
        { kind: "assertion", subject: pick(subjects), predicate: pick(predicates), object: pick([1, 2]), confidence: 0.8 },
        ts + 50 * i,
      );
      return { id: toHex(signed.id), key, signed };
    });
    const futureIds = future.map((f) => f.id);
    const step = async () => {
      ts += 1 + Math.floor(rand() * 3);
      const key = rand() < 0.15 ? authority : pick(agents);
      const r = rand();
      if (r < 0.4 || claims.length === 0) {
        const fields: Record<string, unknown> = {
          kind: "assertion",
          subject: pick(subjects),
          predicate: pick(predicates),
          object: pick([1, 2, 2.01, "x"]),
          confidence: pick([0.3, 0.6, 0.9]),
        };
        if (rand() < 0.3) fields.source = pick(["s1", "s2", "s3"]);
        if (rand() < 0.15 && claims.length) fields.supersedes = pick(claims).id;
        if (rand() < 0.15 && claims.length) fields.depends_on = [pick(claims).id];
        if (rand() < 0.1) fields.depends_on = [pick(futureIds)];
        if (rand() < 0.1) fields.epoch = pick(["e1", "e2"]);
        claims.push({ id: await submit(key, fields, ts), key });
      } else if (r < 0.46 && future.length > 0) {
        const f = future.splice(Math.floor(rand() * future.length), 1)[0]!;
        claims.push({ id: await submitSigned(f.signed), key: f.key });
      } else if (r < 0.6) {
        const target = rand() < 0.2 ? pick(futureIds) : pick(claims).id;
        await submit(key, { kind: "vote", target, value: rand() < 0.7 ? 1 : -1 }, ts);
      } else if (r < 0.68) {
        const target = rand() < 0.2 ? { id: pick(futureIds), key: authority } : pick(claims);
        await submit(rand() < 0.7 ? target.key : key, { kind: "retraction", target: target.id }, ts);
      } else if (r < 0.78) {
        const action = pick(["hold", "approve", "reject", "gold", "ungold"]);
        await submit(rand() < 0.8 ? authority : key, { kind: "review", action, target: pick(claims).id }, ts);
      } else if (r < 0.83) {
        const seeded = toHex(pick(agents).publicKey);
        await submit(authority, { kind: "review", action: "trust_seed", target: seeded }, ts);
      } else if (r < 0.93) {
        await submit(
          key,
          { kind: "source", source_id: pick(["s1", "s2", "s3"]), title: "t", tier: 1 + Math.floor(rand() * 5) },
          ts,
        );
      } else if (r < 0.97) {
        await submit(key, { kind: "source_retraction", source_id: pick(["s1", "s2", "s3"]) }, ts);
      } else {
        await submit(authority, { kind: "epoch", name: "e2", starts_at: ts, supersedes: "e1" }, ts);
      }
    };
    let compared = 0;
    let fromViews = 0;
    const keys: QueryRequest[] = subjects.flatMap((subject) =>
      predicates.flatMap((predicate) => lensNames.map((lens) => ({ subject, predicate, lenses: [lens] }))),
    );
    for (let i = 0; i < 150; i++) {
      await step();
      if (i % 3 === 0) trust.refreshNow(); // the background refresh, at arbitrary moments
      for (const key of keys) {
        const q: QueryRequest = rand() < 0.1 ? { ...key, tolerance: 0.01 } : key;
        const viewed = await engine.query(q);
        fromViews += viewed.fromViews;
        expect(positionless(viewed.answers)).toEqual(await fromScratch(q));
        compared++;
      }
    }
    expect(compared).toBe(150 * keys.length);
    expect(fromViews).toBeGreaterThan(1000); // the views were really used
    expect(engine.views.invalidations).toBeGreaterThan(30);

    // Dropping every view and asking again gives the same answers.
    await store.indexCaughtUp();
    const all = keys;
    const before = await Promise.all(all.map(async (q) => positionless((await engine.query(q)).answers)));
    engine.views.clear();
    const after = await Promise.all(all.map(async (q) => positionless((await engine.query(q)).answers)));
    expect(after).toEqual(before);
  }, 60_000);
});
