/**
 * Query workers (docs/STORAGE.md#query-workers): a cold query resolved on a worker thread must
 * be the answer the event loop gives — same records, same checks, same TrustRank, same caches
 * kept current — and what a worker cannot settle (an id lookup, damage) goes to the node.
 * The workers are real threads over the real data directory; no sockets.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { StemeError } from "../../src/core/errors.ts";
import { toHex } from "../../src/core/hex.ts";
import { generateKeyPair, type KeyPair } from "../../src/crypto/sign.ts";
import { signRecord } from "../../src/crypto/signed.ts";
import { damageMarkerPath } from "../../src/index/damage.ts";
import { Ingest } from "../../src/ingest/pipeline.ts";
import { QueryEngine } from "../../src/query/engine.ts";
import type { QueryRequest } from "../../src/query/query.ts";
import { Store } from "../../src/store/store.ts";
import { TrustService } from "../../src/trust/service.ts";
import { buildIndexFixture, copyFixture, type IndexFixture, tamper } from "../support/index-fixture.ts";

const now = Date.now();
const lenses = ["consensus", "recency", "authority", "skeptic", "vote", "trust"];
const cleanup: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function open(dir: string, create = false) {
  const store = await Store.open(dir, { create, sync: "none", now: () => now });
  const trust = new TrustService(store, { now: () => now });
  trust.refreshNow();
  const onLoop = new QueryEngine(store, trust, { viewsMax: 0 });
  const onWorkers = new QueryEngine(store, trust, { viewsMax: 0, workers: 2 });
  cleanup.push(async () => {
    await onWorkers.close();
    await onLoop.close();
    await store.close();
  });
  while ((onWorkers.pool?.ready ?? 0) < 2) await Bun.sleep(5);
  const ingest = new Ingest(store, { clockSkewMs: 1000, queueRecordsMax: 100_000, now: () => now });
  const submit = async (key: KeyPair, fields: Record<string, unknown>, ts = now - 1000): Promise<string> => {
    const signed = signRecord({ v: 1, agent: toHex(key.publicKey), ts, ...fields }, key.secretKey, "json");
    const [r] = await ingest.submit([{ shape: "cbor", body: signed.body, sig: signed.sig }]);
    if (!r?.ok) throw new Error(`write refused: ${r?.ok === false ? r.error.message : "?"}`);
    return toHex(signed.id);
  };
  return { store, trust, onLoop, onWorkers, submit };
}

type Opened = Awaited<ReturnType<typeof open>>;

/** Every lens of (subject, predicate), on the event loop and on the workers: equal, or the test fails. */
async function expectSame(o: Opened, subject: string, predicate: string, extra: Partial<QueryRequest> = {}) {
  const q: QueryRequest = { subject, predicate, lenses, ...extra };
  const loop = await o.onLoop.query(q);
  const workers = await o.onWorkers.query(q);
  expect(workers.answers).toEqual(loop.answers);
  return workers.answers;
}

describe("answers from query workers", () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "stemedb-pool-"));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test("equal the event loop's, for every lens, on pairs with sources, votes, retractions, supersession and epochs", async () => {
    const o = await open(dir, true);
    const agents = Array.from({ length: 8 }, () => generateKeyPair());
    let ts = now - 500_000;
    for (let s = 0; s < 3; s++)
      await o.submit(agents[0] as KeyPair, { kind: "source", source_id: `src/${s}`, title: `S${s}`, tier: s + 1 }, ts++);
    const ids: string[][] = [];
    for (let pair = 0; pair < 12; pair++) {
      const mine: string[] = [];
      for (let a = 0; a < 2 + (pair % 5); a++) {
        const fields: Record<string, unknown> = {
          kind: "assertion",
          subject: `pool/drug/d${pair >> 1}`,
          predicate: pair % 2 === 0 ? "risk" : "dose",
          object: (pair + a) % 3,
          confidence: 0.5 + ((a * 7) % 5) / 10,
        };
        if (a % 3 !== 2) fields.source = `src/${a % 3}`;
        mine.push(await o.submit(agents[a] as KeyPair, fields, ts++));
      }
      ids.push(mine);
    }
    const [p0, p1, p2, p3] = ids as [string[], string[], string[], string[]];
    await o.submit(agents[5] as KeyPair, { kind: "vote", target: p0[0], value: 1 }, ts++);
    await o.submit(agents[6] as KeyPair, { kind: "vote", target: p0[1], value: -1 }, ts++);
    await o.submit(agents[1] as KeyPair, { kind: "retraction", target: p1[1] }, ts++);
    await o.submit(
      agents[0] as KeyPair,
      {
        kind: "assertion",
        subject: "pool/drug/d1",
        predicate: "risk",
        object: 9,
        confidence: 0.9,
        supersedes: p2[0],
      },
      ts++,
    );
    await o.submit(agents[0] as KeyPair, { kind: "source_retraction", source_id: "src/1" }, ts++);
    await o.submit(agents[0] as KeyPair, { kind: "epoch", name: "e1", starts_at: ts - 10 }, ts++);
    expect(p3.length).toBeGreaterThan(0);
    await o.store.indexCaughtUp();
    o.trust.refreshNow();
    for (let pair = 0; pair < 12; pair++) await expectSame(o, `pool/drug/d${pair >> 1}`, pair % 2 === 0 ? "risk" : "dose");
    await expectSame(o, "pool/drug/d0", "risk", { tolerance: 0.5, validAt: now });
    await expectSame(o, "pool/drug/d1", "risk", { include: ["superseded", "retracted"] });
    await expectSame(o, "pool/drug/nothing", "risk");
    expect(o.onWorkers.pool?.answered).toBe(15);
    expect(o.onWorkers.pool?.handedBack).toBe(0);
  });

  test("a depends_on chain needs the node's id table: handed back, and still the same answer", async () => {
    const o = await open(dir);
    const k = generateKeyPair();
    const root = await o.submit(k, { kind: "assertion", subject: "pool/chain/0", predicate: "p", object: 0, confidence: 0.9 });
    await o.submit(k, {
      kind: "assertion",
      subject: "pool/chain/1",
      predicate: "p",
      object: 1,
      confidence: 0.9,
      depends_on: [root],
    });
    await o.submit(k, { kind: "retraction", target: root });
    const answers = await expectSame(o, "pool/chain/1", "p");
    expect(answers.consensus?.winner).toBeNull(); // the cascade reached it
    expect(o.onWorkers.pool?.handedBack).toBeGreaterThanOrEqual(1);
  });

  test("reflect every record acknowledged before the query, and a TrustRank change before the next one", async () => {
    const o = await open(dir);
    const [a, b] = [generateKeyPair(), generateKeyPair()];
    const first = await o.submit(a, { kind: "assertion", subject: "pool/fresh", predicate: "p", object: 1, confidence: 0.6 });
    expect(
      (await o.onWorkers.query({ subject: "pool/fresh", predicate: "p", lenses: ["consensus"] })).answers.consensus?.winner?.id,
    ).toBe(first);
    const second = await o.submit(b, { kind: "assertion", subject: "pool/fresh", predicate: "p", object: 2, confidence: 0.9 });
    // Not waited for: the engine waits for the index, the worker reads past it.
    const now2 = await o.onWorkers.query({ subject: "pool/fresh", predicate: "p", lenses: ["consensus"] });
    expect(now2.answers.consensus?.winner?.id).toBe(second);
    // An authority's endorsement moves a's τ: the trust lens on a worker must see the new table.
    const before = await expectSame(o, "pool/fresh", "p");
    await o.submit(o.store.dataDir.nodeKey, { kind: "vote", target: first, value: 1 });
    await o.store.indexCaughtUp();
    o.trust.refreshNow();
    const after = await expectSame(o, "pool/fresh", "p");
    expect(after.trust?.groups).not.toEqual(before.trust?.groups);
  });

  test("a record longer than a worker's read window is read whole, and answered on the worker", async () => {
    const o = await open(dir);
    const long = `${"x".repeat(5000)}é`; // a frame of ≈ 5 KiB: past the one-pread window (1 KiB)
    const id = await o.submit(generateKeyPair(), {
      kind: "assertion",
      subject: "pool/long",
      predicate: "p",
      object: long,
      confidence: 0.9,
    });
    const answered = o.onWorkers.pool?.answered ?? 0;
    const answers = await expectSame(o, "pool/long", "p");
    expect(answers.consensus?.winner?.id).toBe(id);
    expect(answers.consensus?.value).toBe(long);
    expect(o.onWorkers.pool?.answered).toBe(answered + 1);
  });

  test("queries of one turn go in one message and one read transaction, each answered as the event loop answers it", async () => {
    const o = await open(dir);
    const agents = Array.from({ length: 4 }, () => generateKeyPair());
    for (let pair = 0; pair < 12; pair++)
      for (const [a, k] of agents.entries())
        await o.submit(k, {
          kind: "assertion",
          subject: `pool/turn/${pair}`,
          predicate: "p",
          object: (pair + a) % 3,
          confidence: 0.6,
        });
    const qs = Array.from({ length: 24 }, (_, i): QueryRequest => ({ subject: `pool/turn/${i % 12}`, predicate: "p", lenses }));
    const [answered, sent] = [o.onWorkers.pool?.answered ?? 0, o.onWorkers.pool?.sent ?? 0];
    const onWorkers = await Promise.all(qs.map((q) => o.onWorkers.query(q)));
    expect(o.onWorkers.pool?.answered).toBe(answered + 24);
    expect((o.onWorkers.pool?.sent ?? 0) - sent).toBeLessThanOrEqual(2); // one a worker
    for (const [i, q] of qs.entries()) expect(onWorkers[i]?.answers).toEqual((await o.onLoop.query(q)).answers);
  });

  test("a TrustRank table sent while a query waits to be sent goes after it: the query is answered with the table it was asked under", async () => {
    const o = await open(dir);
    const [a, b] = [generateKeyPair(), generateKeyPair()];
    const first = await o.submit(a, { kind: "assertion", subject: "pool/order", predicate: "p", object: 1, confidence: 0.6 });
    await o.submit(b, { kind: "assertion", subject: "pool/order", predicate: "p", object: 2, confidence: 0.9 });
    const q: QueryRequest = { subject: "pool/order", predicate: "p", lenses: ["trust"] };
    const before = await expectSame(o, "pool/order", "p");
    await o.submit(o.store.dataDir.nodeKey, { kind: "vote", target: first, value: 1 }); // moves a's τ at the next refresh
    await o.store.indexCaughtUp();
    const pool = o.onWorkers.pool as unknown as { slots: Array<{ outbox: unknown[] }> };
    const asked = o.onWorkers.query(q);
    for (let turn = 0; turn < 20 && !pool.slots.some((s) => s.outbox.length > 0); turn++) await null;
    expect(pool.slots.some((s) => s.outbox.length > 0)).toBe(true); // waiting for the end of the turn
    o.trust.refreshNow(); // broadcasts the new table now
    const answer = (await asked).answers.trust;
    expect(answer?.trust_lsn).toBe(before.trust?.trust_lsn);
    expect(answer?.groups).toEqual(before.trust?.groups);
    const after = await expectSame(o, "pool/order", "p");
    expect(after.trust?.groups).not.toEqual(before.trust?.groups);
  });

  test("TrustRank moving while a worker resolves keeps the views of lenses that weigh trust out, and no others", async () => {
    const o = await open(dir);
    // A TrustRank whose position moves at every read: each worker answer comes back after a move.
    let moves = 0;
    const moving = new Proxy(o.trust, {
      get(target, prop, receiver) {
        if (prop === "current") return { ...target.current, lsn: target.current.lsn + ++moves };
        const v = Reflect.get(target, prop, receiver);
        return typeof v === "function" ? v.bind(target) : v;
      },
    });
    const withViews = new QueryEngine(o.store, moving, { workers: 1 });
    cleanup.push(() => withViews.close());
    while ((withViews.pool?.ready ?? 0) < 1) await Bun.sleep(5);
    await o.submit(generateKeyPair(), { kind: "assertion", subject: "pool/moving", predicate: "p", object: 1, confidence: 0.6 });
    for (const [lens, kept] of [
      ["recency", true],
      ["consensus", true],
      ["trust", false],
      ["vote", false],
    ] as const) {
      const q: QueryRequest = { subject: "pool/moving", predicate: "p", lenses: [lens] };
      for (let ask = 0; ask < 2; ask++) expect((await withViews.query(q)).fromViews).toBe(0);
      expect((await withViews.query(q)).fromViews, lens).toBe(kept ? 1 : 0);
    }
    expect(moves).toBeGreaterThan(0);
  });

  test("a view kept from a worker's answer is dropped by the next write it depends on", async () => {
    const o = await open(dir);
    const withViews = new QueryEngine(o.store, o.trust, { workers: 1 });
    cleanup.push(() => withViews.close());
    while ((withViews.pool?.ready ?? 0) < 1) await Bun.sleep(5);
    const [a, b] = [generateKeyPair(), generateKeyPair()];
    const q: QueryRequest = { subject: "pool/view", predicate: "p", lenses: ["consensus"] };
    const first = await o.submit(a, { kind: "assertion", subject: "pool/view", predicate: "p", object: 1, confidence: 0.6 });
    for (let ask = 0; ask < 2; ask++) expect((await withViews.query(q)).fromViews).toBe(0); // kept at its second ask
    expect(withViews.pool?.answered).toBe(2);
    const viewed = await withViews.query(q);
    expect(viewed.fromViews).toBe(1);
    expect(viewed.answers.consensus?.winner?.id).toBe(first);
    // The pair's new assertion (the view's deps) drops it; so does a vote on the record it names.
    const second = await o.submit(b, { kind: "assertion", subject: "pool/view", predicate: "p", object: 2, confidence: 0.9 });
    const after = await withViews.query(q);
    expect(after.fromViews).toBe(0);
    expect(after.answers.consensus?.winner?.id).toBe(second);
    await withViews.query(q);
    expect((await withViews.query(q)).fromViews).toBe(1);
    await o.submit(a, { kind: "vote", target: second, value: -1 });
    expect((await withViews.query(q)).fromViews).toBe(0);
  });

  test("a source retracted after a worker cached it counts at the next query", async () => {
    const o = await open(dir);
    const k = generateKeyPair();
    await o.submit(k, { kind: "source", source_id: "src/late", title: "Late", tier: 1 });
    await o.submit(k, {
      kind: "assertion",
      subject: "pool/late",
      predicate: "p",
      object: 1,
      confidence: 0.9,
      source: "src/late",
    });
    await o.submit(generateKeyPair(), { kind: "assertion", subject: "pool/late", predicate: "p", object: 2, confidence: 0.5 });
    for (let i = 0; i < 4; i++) expect((await expectSame(o, "pool/late", "p")).authority?.value).toBe(1); // every worker has it cached
    await o.submit(k, { kind: "source_retraction", source_id: "src/late" });
    for (let i = 0; i < 4; i++) expect((await expectSame(o, "pool/late", "p")).authority?.value).toBe(2);
  });
});

describe("a worker that dies", () => {
  test("leaves its queries to the node, and a new one takes its place", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stemedb-pool-die-"));
    cleanup.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const o = await open(dir, true);
    const k = generateKeyPair();
    await o.submit(k, { kind: "assertion", subject: "pool/die", predicate: "p", object: 1, confidence: 0.9 });
    const pool = o.onWorkers.pool as NonNullable<typeof o.onWorkers.pool>;
    const slots = (pool as unknown as { slots: Array<{ worker: Worker }> }).slots;
    const dying = slots[0]?.worker as Worker;
    dying.terminate(); // as an exit or a crash would end it
    while (pool.ready > 1) await Bun.sleep(5);
    for (let i = 0; i < 4; i++) await expectSame(o, "pool/die", "p"); // answered meanwhile (by the other worker or the node)
    const deadline = Date.now() + 10_000;
    while (pool.ready < 2 && Date.now() < deadline) await Bun.sleep(20);
    expect(pool.ready).toBe(2);
    expect(slots[0]?.worker).not.toBe(dying);
    const before = pool.answered;
    for (let i = 0; i < 6; i++) await expectSame(o, "pool/die", "p");
    expect(pool.answered).toBe(before + 6);
  }, 20_000);
});

describe("closing the pool", () => {
  test("closes every worker's index connection before it resolves: the store's close leaves no WAL behind", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stemedb-pool-close-"));
    cleanup.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const store = await Store.open(dir, { create: true, sync: "none", now: () => now });
    const trust = new TrustService(store, { now: () => now });
    trust.refreshNow();
    const engine = new QueryEngine(store, trust, { viewsMax: 0, workers: 2 });
    while ((engine.pool?.ready ?? 0) < 2) await Bun.sleep(5);
    const ingest = new Ingest(store, { clockSkewMs: 1000, queueRecordsMax: 100, now: () => now });
    const k = generateKeyPair();
    const signed = signRecord(
      {
        v: 1,
        agent: toHex(k.publicKey),
        ts: now - 1000,
        kind: "assertion",
        subject: "pool/close",
        predicate: "p",
        object: 1,
        confidence: 0.9,
      },
      k.secretKey,
      "json",
    );
    expect((await ingest.submit([{ shape: "cbor", body: signed.body, sig: signed.sig }]))[0]?.ok).toBe(true);
    await store.indexCaughtUp();
    await engine.close();
    await store.close();
    expect(fs.readdirSync(dir).filter((f) => f.startsWith("index.sqlite-"))).toEqual([]);
  });
});

describe("damage a worker meets", () => {
  let fixture: IndexFixture;
  beforeAll(async () => {
    fixture = await buildIndexFixture();
  }, 30_000);
  afterAll(() => fs.rmSync(fixture.dir, { recursive: true, force: true }));

  test("is reported by the node: index_damaged, the marker written, and every later read refused", async () => {
    const dir = copyFixture(fixture);
    cleanup.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    // a2's row points at a1's frame (both drug/aspirin risk): the LSN there disagrees.
    tamper(
      dir,
      "UPDATE records SET offset = (SELECT offset FROM records WHERE lsn = ?) WHERE lsn = ?",
      fixture.lsn("a1"),
      fixture.lsn("a2"),
    );
    const o = await open(dir);
    let caught: unknown;
    try {
      await o.onWorkers.query({ subject: "drug/aspirin", predicate: "risk", lenses: ["consensus"] });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(StemeError);
    expect((caught as StemeError).code).toBe("index_damaged");
    expect((caught as StemeError).message).toMatch(/points at LSN 2 in the log/);
    expect(o.store.index.damaged).not.toBeNull();
    expect(fs.existsSync(damageMarkerPath(path.join(dir, "index.sqlite")))).toBe(true);
    await expect(o.onWorkers.query({ subject: "other/thing", predicate: "size", lenses: ["consensus"] })).rejects.toMatchObject({
      code: "index_damaged",
    });
  });
});
