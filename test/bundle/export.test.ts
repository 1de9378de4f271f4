/**
 * The closure and the export over a real store (no sockets): the depth bound on depends_on,
 * dangling ids, the record bound, and a streamed bundle that verifies with the manifest the
 * export announced.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { collectClosure } from "../../src/bundle/closure.ts";
import { exportBundle } from "../../src/bundle/export.ts";
import { verifyBundle } from "../../src/bundle/verify.ts";
import { toHex } from "../../src/core/hex.ts";
import { StemeError } from "../../src/core/errors.ts";
import { generateKeyPair } from "../../src/crypto/sign.ts";
import { type SignedRecord, signRecord } from "../../src/crypto/signed.ts";
import { Ingest } from "../../src/ingest/pipeline.ts";
import { createMetrics } from "../../src/metrics/index.ts";
import { Store } from "../../src/store/store.ts";

const now = 1_800_000_000_000;
const key = generateKeyPair();
let dir: string;
let store: Store;
const chain: SignedRecord[] = [];

function sign(fields: Record<string, unknown>): SignedRecord {
  return signRecord({ v: 1, agent: key.publicKey, ts: now - 10_000 + chain.length, ...fields }, key.secretKey);
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "stemedb-bundle-export-"));
  store = await Store.open(path.join(dir, "data"), { create: true, now: () => now });
  const ingest = new Ingest(store, {
    clockSkewMs: 1000,
    queueRecordsMax: 1000,
    now: () => now,
    metrics: createMetrics({ processMetrics: false }),
  });
  // c0 ← c1 ← … ← c5 (each depends on the one before); c0 also rests on an id nobody holds.
  for (let i = 0; i < 6; i++) {
    const depends_on = i === 0 ? [new Uint8Array(32).fill(0xaa)] : [(chain[i - 1] as SignedRecord).id];
    chain.push(sign({ kind: "assertion", subject: `chain/c${i}`, predicate: "p", object: i, confidence: 0.5, depends_on }));
  }
  const results = await ingest.submit(chain.map((s) => ({ shape: "cbor" as const, body: s.body, sig: s.sig })));
  expect(results.every((r) => r.ok)).toBe(true);
  await store.indexCaughtUp();
});

afterAll(async () => {
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const ids = (locs: Array<{ id: Uint8Array }>) => locs.map((l) => toHex(l.id)).sort();
const idsOf = (records: SignedRecord[]) => records.map((r) => toHex(r.id)).sort();

describe("collectClosure", () => {
  test("follows depends_on to the end, and counts what the node does not hold as dangling", async () => {
    const c = await collectClosure(store, { subject_prefix: "chain/c5" });
    expect(ids(c.locations)).toEqual(idsOf(chain));
    expect(c.selected).toBe(1);
    expect(c.dangling).toBe(1);
    expect(c.locations.map((l) => l.lsn)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  test("stops at the depth bound: hops from the selected assertion", async () => {
    const c = await collectClosure(store, { subject_prefix: "chain/c5" }, { depthMax: 2 });
    expect(ids(c.locations)).toEqual(idsOf(chain.slice(3)));
    expect(c.dangling).toBe(0); // c0 was never reached
  });

  test("refuses a bundle past its record bound", async () => {
    const err = await collectClosure(store, { subject_prefix: "chain/*" }, { recordsMax: 5 }).catch((e) => e);
    expect(err).toBeInstanceOf(StemeError);
    expect((err as StemeError).code).toBe("export_too_large");
    expect((err as StemeError).status).toBe(422);
  });
});

describe("exportBundle", () => {
  for (const format of ["ndjson", "cbor"] as const) {
    test(`streams a bundle that verifies, with the manifest it announced (${format})`, async () => {
      const bundle = await exportBundle(store, { subject_prefix: "chain/c2" }, format, { now: () => now });
      const bytes = new Uint8Array(await new Response(bundle.stream).arrayBuffer());
      const s = await verifyBundle(bytes, { threads: 0 });
      expect(s.records).toBe(3);
      expect(s.merkleRoot).toBe(bundle.manifest.merkle_root);
      expect(s.manifest).toEqual(bundle.manifest);
      expect(bundle.manifest).toMatchObject({
        records: 3,
        lsn: 6,
        selected: 1,
        dangling: 1,
        exported_at: new Date(now).toISOString(),
        node_id: store.dataDir.meta.node_id,
        selection: { subject_prefix: "chain/c2" },
      });
    });
  }
});
