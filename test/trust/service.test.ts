/**
 * The trust service on a real store: a vote whose target has not arrived counts once the target
 * does, and votes on ids that never arrive cost one lookup each, not one at every refresh.
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { toHex } from "../../src/core/hex.ts";
import { generateKeyPair, type KeyPair } from "../../src/crypto/sign.ts";
import { type SignedRecord, signRecord } from "../../src/crypto/signed.ts";
import { Ingest } from "../../src/ingest/pipeline.ts";
import { Store } from "../../src/store/store.ts";
import { TrustService } from "../../src/trust/service.ts";

const t0 = Date.UTC(2025, 0, 1);
let dir: string;
let store: Store;
let ingest: Ingest;
let trust: TrustService;
/** Id lookups made by the trust service (the ingest's own duplicate checks are not counted). */
let lookups: number;
let counting = false;
/** Lookups that fail (as a failing disk would) before the next one succeeds. */
let failing = 0;

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "stemedb-trust-service-"));
  store = await Store.open(dir, { create: true, sync: "none", now: () => t0 });
  ingest = new Ingest(store, { clockSkewMs: 1000, queueRecordsMax: 100_000, now: () => t0 });
  trust = new TrustService(store, { now: () => t0 });
  lookups = 0;
  const lookupId = store.lookupId.bind(store);
  failing = 0;
  store.lookupId = (id) => {
    if (counting) lookups++;
    if (counting && failing > 0) {
      failing--;
      throw new Error("EIO (a failing read)");
    }
    return lookupId(id);
  };
});

afterEach(async () => {
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function sign(key: KeyPair, fields: Record<string, unknown>, ts = t0): SignedRecord {
  return signRecord({ v: 1, agent: toHex(key.publicKey), ts, ...fields }, key.secretKey, "json");
}

async function submit(records: SignedRecord[]): Promise<void> {
  const results = await ingest.submit(records.map((r) => ({ shape: "cbor" as const, body: r.body, sig: r.sig })));
  for (const r of results) if (!r.ok) throw new Error(`write refused: ${r.error.message}`);
  await store.indexCaughtUp();
}

/** One refresh (and, with `cut`, τ at a past time), counting its id lookups. */
function refresh(cut?: { asOf: number }): void {
  counting = true;
  try {
    trust.refreshNow();
    if (cut) trust.at(cut);
  } finally {
    counting = false;
  }
}

const claim = (key: KeyPair, n: number) =>
  sign(key, { kind: "assertion", subject: `t/s${n}`, predicate: "p", object: n, confidence: 0.9 });

test("an authority's vote on a claim not yet stored counts once the claim arrives", async () => {
  const authority = store.dataDir.nodeKey;
  const author = generateKeyPair();
  const target = claim(author, 1);
  await submit([sign(authority, { kind: "vote", target: toHex(target.id), value: 1 })]);
  trust.refreshNow();
  const floor = trust.current.trustOf(toHex(author.publicKey));
  await submit([target]);
  trust.refreshNow();
  expect(trust.current.trustOf(toHex(author.publicKey))).toBeGreaterThan(floor + 0.5);
});

test("votes on ids that never arrive are looked up once, not at every refresh", async () => {
  const voter = generateKeyPair();
  const author = generateKeyPair();
  const never = Array.from({ length: 300 }, (_, i) => claim(author, 1000 + i)); // signed, never stored
  await submit(never.map((c) => sign(voter, { kind: "vote", target: toHex(c.id), value: 1 })));
  refresh();
  expect(lookups).toBe(300);
  // Ten refreshes while unrelated records arrive: no lookups of the dangling targets.
  for (let i = 0; i < 10; i++) {
    await submit([claim(voter, i)]);
    refresh({ asOf: t0 + 1 });
  }
  expect(lookups).toBe(300);
  // One of them arrives: that one is looked up, and the vote on it counts.
  const arrived = never[7] as SignedRecord;
  await submit([arrived]);
  refresh();
  expect(lookups).toBe(301);
  // Voting on an id that is already stored resolves at once.
  const stored = claim(author, 5000);
  await submit([stored]);
  await submit([sign(voter, { kind: "vote", target: toHex(stored.id), value: 1 })]);
  refresh();
  expect(lookups).toBe(302);
});

test("a refresh that fails while looking up an arrived target tries it again at the next refresh", async () => {
  const authority = store.dataDir.nodeKey;
  const author = generateKeyPair();
  const target = claim(author, 1);
  await submit([sign(authority, { kind: "vote", target: toHex(target.id), value: 1 })]);
  refresh();
  const floor = trust.current.trustOf(toHex(author.publicKey));
  await submit([target]);
  failing = 1;
  expect(() => refresh()).toThrow("EIO");
  refresh(); // the timer's next try
  expect(trust.current.trustOf(toHex(author.publicKey))).toBeGreaterThan(floor + 0.5);
});

test("a target acknowledged after its vote, before the service read the vote, counts", async () => {
  const authority = store.dataDir.nodeKey;
  const author = generateKeyPair();
  const target = claim(author, 1);
  refresh();
  const floor = trust.current.trustOf(toHex(author.publicKey));
  const vote = sign(authority, { kind: "vote", target: toHex(target.id), value: 1 });
  for (const r of [vote, target]) {
    const [result] = await ingest.submit([{ shape: "cbor", body: r.body, sig: r.sig }]);
    expect(result?.ok).toBe(true);
  }
  refresh(); // the target may still be on its way to the index
  await store.indexCaughtUp();
  refresh();
  expect(trust.current.trustOf(toHex(author.publicKey))).toBeGreaterThan(floor + 0.5);
});

test("a refresh that fails partway through new votes keeps none of them, so the next one does not count them twice", async () => {
  const voter = generateKeyPair();
  const author = generateKeyPair();
  const claims = Array.from({ length: 6 }, (_, i) => claim(author, 100 + i));
  await submit(claims);
  await submit(claims.map((c) => sign(voter, { kind: "vote", target: toHex(c.id), value: 1 })));
  const read = store.read.bind(store);
  let reads = 0;
  store.read = (loc) => {
    if (++reads === 4) throw new Error("EIO (a failing read)");
    return read(loc);
  };
  expect(() => trust.refreshNow()).toThrow("EIO");
  trust.refreshNow();
  const facts = (trust as unknown as { facts: { votes: unknown[] } }).facts;
  expect(facts.votes.length).toBe(6);
});
