/**
 * `known_at` (docs/SEMANTICS.md#the-record-set): a query known at T counts only the records this
 * node had received by T, so writes that arrive later — backdated or not — change nothing it
 * answers, TrustRank included. A real store with an injected receive clock, no sockets.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { toHex } from "../../src/core/hex.ts";
import { generateKeyPair, type KeyPair } from "../../src/crypto/sign.ts";
import { signRecord } from "../../src/crypto/signed.ts";
import { Ingest } from "../../src/ingest/pipeline.ts";
import { QueryEngine } from "../../src/query/engine.ts";
import type { QueryAnswer, QueryRequest } from "../../src/query/query.ts";
import { Store } from "../../src/store/store.ts";
import { TrustService } from "../../src/trust/service.ts";

const day = 86_400_000;
const t0 = Date.UTC(2025, 0, 1);
let clock = t0;
let dir: string;
let store: Store;
let ingest: Ingest;
let trust: TrustService;
let engine: QueryEngine;
let authority: KeyPair;

beforeEach(async () => {
  clock = t0;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "stemedb-known-at-"));
  store = await Store.open(dir, { create: true, sync: "none", now: () => clock });
  ingest = new Ingest(store, { clockSkewMs: 1000, queueRecordsMax: 10_000, now: () => clock });
  trust = new TrustService(store, { now: () => clock });
  engine = new QueryEngine(store, trust, { viewsMax: 10_000 });
  authority = store.dataDir.nodeKey;
});

afterEach(async () => {
  engine.close();
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function submit(key: KeyPair, fields: Record<string, unknown>, ts: number): Promise<string> {
  const signed = signRecord({ v: 1, agent: toHex(key.publicKey), ts, ...fields }, key.secretKey, "json");
  const [r] = await ingest.submit([{ shape: "cbor", body: signed.body, sig: signed.sig }]);
  if (!r?.ok) throw new Error(`write refused: ${r?.ok === false ? r.error.message : "?"}`);
  return toHex(signed.id);
}

const lenses = ["recency", "consensus", "vote", "authority", "trust", "skeptic", "layered"];
const q: QueryRequest = { subject: "k/drug", predicate: "risk", lenses };

/** An answer without what says when and where it was computed. */
function portable(answers: Record<string, QueryAnswer>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [lens, { lsn: _l, trust_lsn: _t, known_at: _k, as_of: _a, winner, ...rest }] of Object.entries(answers))
    out[lens] = { ...rest, winner: winner?.id ?? null };
  return out;
}

/** Five fresh agents. */
const agents = (): [KeyPair, KeyPair, KeyPair, KeyPair, KeyPair] => [
  generateKeyPair(),
  generateKeyPair(),
  generateKeyPair(),
  generateKeyPair(),
  generateKeyPair(),
];

const claim = (object: unknown, confidence: number, extra: Record<string, unknown> = {}) => ({
  kind: "assertion",
  subject: q.subject,
  predicate: q.predicate,
  object,
  confidence,
  ...extra,
});

describe("known_at", () => {
  test("answers what the node knew then: later writes, backdated ones included, change nothing", async () => {
    const [owner, scientist, troll, hijacker, seeded] = agents();
    const reg = await submit(owner, { kind: "source", source_id: "trial", title: "A trial", tier: 2 }, t0 - 30 * day);
    await submit(authority, { kind: "review", action: "confirm_source", target: reg }, t0 - 29 * day);
    await submit(authority, { kind: "review", action: "trust_seed", target: toHex(seeded.publicKey) }, t0 - 29 * day);
    const truth = await submit(owner, claim(0.2, 0.9, { source: "trial" }), t0 - 20 * day);
    await submit(scientist, claim(0.21, 0.8), t0 - 19 * day);
    await submit(troll, claim(12, 0.99), t0 - 18 * day);
    await submit(seeded, { kind: "vote", target: truth, value: 1 }, t0 - 17 * day);
    const knownAt = clock;
    const then = (await engine.query({ ...q, tolerance: 0.1, fresh: true })).answers;
    expect(then.authority?.value).toBe(0.2);
    expect([0.2, 0.21]).toContain(then.trust?.value as number);

    clock += 1000; // everything below arrives after `knownAt`, dated long before it
    const hijack = await submit(hijacker, { kind: "source", source_id: "trial", title: "Mine", tier: 1 }, t0 - 365 * day);
    await submit(hijacker, { kind: "source_retraction", source_id: "trial" }, t0 - 364 * day);
    for (const k of agents()) await submit(k, claim(12, 0.99), t0 - 100 * day);
    await submit(seeded, { kind: "vote", target: truth, value: -1 }, t0 - 16 * day);
    await submit(authority, { kind: "review", action: "confirm_source", target: hijack }, t0 - 15 * day);

    const now = (await engine.query({ ...q, tolerance: 0.1, fresh: true })).answers;
    expect(now.consensus?.value).toBe(12); // the backdated flood changed today's answer …
    const known = (await engine.query({ ...q, tolerance: 0.1, knownAt })).answers;
    expect(portable(known)).toEqual(portable(then)); // … and not what the node knew then
    expect(known.trust?.known_at).toBe(knownAt);
    // as_of follows stated times, so the backdated writes do reach an as-of answer: known_at is what holds it still.
    const asOf = t0 - 10 * day;
    const asOfNow = (await engine.query({ ...q, tolerance: 0.1, asOf })).answers;
    expect(asOfNow.consensus?.value).toBe(12);
    const both = (await engine.query({ ...q, tolerance: 0.1, asOf, knownAt })).answers;
    expect(portable(both)).toEqual(portable(then));
  });

  test("τ known at T counts only votes and reviews received by T", async () => {
    const [seeded, author, other] = agents();
    await submit(authority, { kind: "review", action: "trust_seed", target: toHex(seeded.publicKey) }, t0 - 10 * day);
    const a = await submit(author, claim(1, 0.9), t0 - 9 * day);
    await submit(other, claim(2, 0.9), t0 - 9 * day);
    const knownAt = clock;
    clock += 1000;
    await submit(seeded, { kind: "vote", target: a, value: 1 }, t0 - 8 * day);
    const now = (await engine.query({ ...q, lenses: ["trust"], fresh: true })).answers.trust;
    const then = (await engine.query({ ...q, lenses: ["trust"], knownAt })).answers.trust;
    expect(now?.value).toBe(1);
    expect(now?.groups[0]?.weight).toBeGreaterThan(0.5);
    expect(then?.groups.map((g) => g.weight)).toEqual([0.009, 0.009]); // both at the floor, 0.9 × 0.01
  });

  test("known_at and as_of answers are never kept as views, and report the position their τ was read at", async () => {
    const k = generateKeyPair();
    await submit(k, claim(1, 0.5), t0 - day);
    const before = engine.views.size;
    const first = await engine.query({ ...q, lenses: ["trust"], knownAt: clock });
    const again = await engine.query({ ...q, lenses: ["trust"], knownAt: clock });
    expect(first.fromViews + again.fromViews).toBe(0);
    expect(engine.views.size).toBe(before);
    // A view of the plain query does not answer a known_at one.
    for (let ask = 0; ask < 2; ask++) await engine.query({ ...q, lenses: ["trust"] }); // kept at the second ask
    expect((await engine.query({ ...q, lenses: ["trust"] })).fromViews).toBe(1);
    expect((await engine.query({ ...q, lenses: ["trust"], knownAt: clock - 1 })).answers.trust?.value).toBeNull();
    await submit(k, claim(2, 0.5), t0 - day + 1);
    for (const cut of [{ asOf: t0 }, { knownAt: clock }]) {
      const answer = (await engine.query({ ...q, lenses: ["trust"], ...cut })).answers.trust;
      expect(answer?.trust_lsn).toBe(answer?.lsn);
    }
  });
});
