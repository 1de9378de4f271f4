/**
 * Gathering follows every `depends_on` chain to its end (docs/SEMANTICS.md#lifecycle-flags):
 * an assertion any number of steps below a retracted one is cascade-flagged in a query of its
 * own pair. (It used to stop at 32 steps, so a 33-step chain laundered a retracted claim.)
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { toHex } from "../../src/core/hex.ts";
import { generateKeyPair, type KeyPair } from "../../src/crypto/sign.ts";
import { signRecord } from "../../src/crypto/signed.ts";
import { Ingest } from "../../src/ingest/pipeline.ts";
import { listRecords } from "../../src/index/list.ts";
import { DecodedRecords, decodedBytes } from "../../src/query/gather.ts";
import { lifecycleOf, runQuery } from "../../src/query/query.ts";
import { Store } from "../../src/store/store.ts";

const now = Date.now();
let dir: string;
let store: Store;
let ingest: Ingest;

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "stemedb-gather-"));
  store = await Store.open(dir, { create: true, sync: "none" });
  ingest = new Ingest(store, { clockSkewMs: 1000, queueRecordsMax: 10_000, now: () => now });
});

afterEach(async () => {
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function submit(key: KeyPair, fields: Record<string, unknown>, ts: number): Promise<string> {
  const signed = signRecord({ v: 1, agent: toHex(key.publicKey), ts, ...fields }, key.secretKey, "json");
  const [r] = await ingest.submit([{ shape: "cbor", body: signed.body, sig: signed.sig }]);
  if (!r?.ok) throw new Error(`write refused: ${r?.ok === false ? r.error.message : "?"}`);
  return toHex(signed.id);
}

test("a retraction 40 steps up a depends_on chain hides the claim at its foot", async () => {
  const k = generateKeyPair();
  const steps = 40;
  const root = await submit(k, { kind: "assertion", subject: "chain/0", predicate: "p", object: 0, confidence: 0.9 }, now - 100);
  let previous = root;
  for (let i = 1; i <= steps; i++) {
    const fields = {
      kind: "assertion",
      subject: `chain/${i}`,
      predicate: "p",
      object: i,
      confidence: 0.9,
      depends_on: [previous],
    };
    previous = await submit(k, fields, now - 100 + i);
  }
  const foot = previous;
  const q = { subject: `chain/${steps}`, predicate: "p", lenses: ["consensus"] };
  const trust = { trustOf: () => 0.01, lsn: 0 };
  expect((await runQuery(store, q, trust)).answers.consensus?.value).toBe(steps);
  await submit(k, { kind: "retraction", target: root }, now - 10);
  await store.indexCaughtUp();
  expect((await runQuery(store, q, trust)).answers.consensus?.value).toBeNull();
  expect(lifecycleOf(store, foot, q.subject, q.predicate).flags).toEqual(["cascade"]);
});

test("the decoded-record cache holds at most its bytes: past them the oldest half goes, reads stay checked", async () => {
  const k = generateKeyPair();
  for (let i = 0; i < 40; i++)
    await submit(k, { kind: "assertion", subject: "c/a", predicate: "p", object: i, confidence: 0.5 }, now - 100 + i);
  await store.indexCaughtUp();
  const locs = listRecords(store.index, { subject: "c/a", predicate: "p", kinds: ["assertion"], limit: 100 }).items;
  expect(locs.length).toBe(40);
  const each = decodedBytes(store.read(locs[0] as (typeof locs)[0]).body.length);
  const cache = new DecodedRecords(each * 10);
  // Read once, a record is not kept (a cold workload fills no cache); read again, it is.
  for (const loc of locs) cache.read(store, loc, toHex(loc.id));
  expect(cache.size).toBe(0);
  for (const loc of locs) {
    const got = cache.read(store, loc, toHex(loc.id));
    expect(got.id).toBe(toHex(loc.id));
    expect(cache.bytes).toBeLessThanOrEqual(each * 10 + each); // bodies differ by a byte or so
  }
  expect(cache.size).toBeGreaterThan(0);
  expect(cache.size).toBeLessThanOrEqual(10);
  expect(cache.misses).toBe(80);
  // The newest are kept and served from the cache; the oldest are read from the log again.
  const last = locs.at(-1) as (typeof locs)[0];
  cache.read(store, last, toHex(last.id));
  expect(cache.hits).toBe(1);
  const first = locs[0] as (typeof locs)[0];
  expect(cache.read(store, first, toHex(first.id)).record).toEqual(store.read(first).record);
  expect(cache.misses).toBe(81);
  // 0 keeps nothing.
  const none = new DecodedRecords(0);
  for (let read = 0; read < 3; read++) none.read(store, first, toHex(first.id));
  expect(none.size).toBe(0);
  expect(none.bytes).toBe(0);
});
