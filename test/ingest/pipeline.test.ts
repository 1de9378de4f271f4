import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { toJsonSubmission } from "../../src/client/index.ts";
import { toHex } from "../../src/core/hex.ts";
import { createLogger } from "../../src/core/logger.ts";
import { generateKeyPair } from "../../src/crypto/sign.ts";
import { type SignedRecord, signRecord } from "../../src/crypto/signed.ts";
import { Ingest, type ItemResult, peekAgent, type Submission } from "../../src/ingest/pipeline.ts";
import { createMetrics } from "../../src/metrics/index.ts";
import { Store } from "../../src/store/store.ts";

const now = 1_800_000_000_000;
const key = generateKeyPair();
let dir: string;
let store: Store;
let ingest: Ingest;

function claim(i: number, extra: Record<string, unknown> = {}): SignedRecord {
  return signRecord(
    {
      v: 1,
      kind: "assertion",
      agent: key.publicKey,
      ts: now - 1000 + i,
      subject: `s/${i % 7}`,
      predicate: "p",
      object: i,
      confidence: 0.5,
      ...extra,
    },
    key.secretKey,
  );
}
const asJson = (s: SignedRecord): Submission => ({ shape: "json", value: toJsonSubmission(s) });
const asCbor = (s: SignedRecord): Submission => ({ shape: "cbor", body: s.body, sig: s.sig });
function ok(r: ItemResult | undefined) {
  if (!r?.ok) throw new Error(`expected success, got ${r?.ok === false ? r.error.code : "nothing"}`);
  return r.result;
}
function code(r: ItemResult | undefined): string {
  if (!r || r.ok) throw new Error("expected an error");
  return r.error.code;
}

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "stemedb-ingest-"));
  store = await Store.open(path.join(dir, "data"), { create: true, now: () => now });
  ingest = new Ingest(store, {
    clockSkewMs: 1000,
    queueRecordsMax: 1000,
    now: () => now,
    metrics: createMetrics({ processMetrics: false }),
  });
});
afterEach(async () => {
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("Ingest", () => {
  test("an acknowledged record is in the log and the index, readable by id", async () => {
    const s = claim(1);
    const [r] = await ingest.submit([asJson(s)]);
    expect(ok(r)).toEqual({ id: toHex(s.id), lsn: 1, status: "accepted", duplicate: false });
    expect(store.log.lastLsn).toBe(1);
    expect(store.getById(s.id)?.body).toBe(toHex(s.body));
  });

  test("JSON and CBOR submissions of one record are the same record", async () => {
    const s = claim(2);
    const [a] = await ingest.submit([asCbor(s)]);
    const [b] = await ingest.submit([asJson(s)]);
    expect(ok(a).duplicate).toBe(false);
    expect(ok(b)).toEqual({ ...ok(a), duplicate: true });
    expect(store.log.lastLsn).toBe(1);
  });

  test("per-item results in input order; a bad item does not sink the others", async () => {
    const good = [claim(1), claim(2), claim(3)];
    const badSig = { ...toJsonSubmission(claim(4)), sig: toHex(new Uint8Array(64)) };
    const results = await ingest.submit([
      asJson(good[0] as SignedRecord),
      { shape: "json", value: badSig },
      asJson(good[1] as SignedRecord),
      { shape: "json", value: { ...toJsonSubmission(claim(9)), kind: "nope" } },
      asCbor(good[2] as SignedRecord),
    ]);
    expect(results.map((r) => (r.ok ? r.result.lsn : r.error.code))).toEqual([1, "bad_signature", 2, "out_of_range", 3]);
    expect(store.log.lastLsn).toBe(3);
  });

  test("a bad signature names the id the server computed", async () => {
    const s = claim(5);
    const other = claim(6);
    const [r] = await ingest.submit([{ shape: "cbor", body: s.body, sig: other.sig }]);
    expect(code(r)).toBe("bad_signature");
    if (r && !r.ok) expect(r.error.extra.computed_id).toBe(toHex(s.id));
    expect(store.log.lastLsn).toBe(0);
  });

  test("duplicates: sequential, concurrent, and twice in one batch all map to one log record", async () => {
    const s = claim(7);
    const [first, ...rest] = await Promise.all([
      ingest.submit([asJson(s), asCbor(s)]),
      ingest.submit([asJson(s)]),
      ingest.submit([asCbor(s)]),
    ]);
    const all = [...(first ?? []), ...rest.flat()].map(ok);
    expect(all.filter((r) => !r.duplicate)).toHaveLength(1);
    expect(new Set(all.map((r) => r.lsn))).toEqual(new Set([1]));
    expect(ok((await ingest.submit([asJson(s)]))[0]).duplicate).toBe(true);
    expect(store.log.lastLsn).toBe(1);
  });

  test("a duplicate with a wrong signature is a bad signature, not a duplicate", async () => {
    const s = claim(8);
    await ingest.submit([asJson(s)]);
    const [r] = await ingest.submit([{ shape: "cbor", body: s.body, sig: new Uint8Array(64) }]);
    expect(code(r)).toBe("bad_signature");
  });

  test("ts beyond the allowed clock skew is refused; within it is accepted", async () => {
    const [late] = await ingest.submit([asJson(claim(0, { ts: now + 1001 }))]);
    expect(code(late)).toBe("clock_skew");
    const [edge] = await ingest.submit([asJson(claim(0, { ts: now + 1000 }))]);
    expect(ok(edge).lsn).toBe(1);
  });

  test("a full queue refuses the whole submission with overloaded and writes nothing", async () => {
    const many = Array.from({ length: 1001 }, (_, i) => asJson(claim(i)));
    await expect(ingest.submit(many)).rejects.toMatchObject({ code: "overloaded", status: 503 });
    expect(store.log.lastLsn).toBe(0);
    const fits = await ingest.submit(many.slice(0, 1000));
    expect(fits.every((r) => r.ok)).toBe(true);
    expect(ingest.queueDepth).toBe(0);
  });

  test("many concurrent single submissions share group commits and all land", async () => {
    const records = Array.from({ length: 300 }, (_, i) => claim(1000 + i));
    const results = await Promise.all(records.map((s) => ingest.submit([asJson(s)])));
    const lsns = results.map((r) => ok(r[0]).lsn).sort((a, b) => a - b);
    expect(lsns).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    expect(store.log.commitCount).toBeLessThan(300);
    // Acknowledged means logged; the index may trail, but reads by id already see everything.
    for (const s of records) expect(store.lookupId(s.id)).not.toBeNull();
    await store.indexCaughtUp();
    expect(store.index.checkpointLsn).toBe(300);
    for (const s of records) expect(store.index.lookupId(s.id)).not.toBeNull();
  });

  test("reopening replays the log tail the index had not seen", async () => {
    const records = Array.from({ length: 20 }, (_, i) => claim(i));
    await ingest.submit(records.map(asJson));
    const indexPath = store.dataDir.indexPath;
    await store.close();
    for (const suffix of ["", "-wal", "-shm"]) fs.rmSync(indexPath + suffix, { force: true });
    store = await Store.open(path.join(dir, "data"), { now: () => now });
    expect(store.index.checkpointLsn).toBe(20);
    for (const s of records) expect(store.getById(s.id)?.id).toBe(toHex(s.id));
  });

  test("a bug in a step (not an operating error) is answered internal for that item and logged with its stack", async () => {
    const lines: string[] = [];
    const buggy = new Ingest(store, {
      clockSkewMs: 1000,
      queueRecordsMax: 1000,
      now: () => now,
      logger: createLogger({ write: (line) => lines.push(line) }),
      verify: async () => {
        throw new TypeError("a verifier bug");
      },
    });
    const [r] = await buggy.submit([asJson(claim(9))]);
    expect(code(r)).toBe("internal");
    expect(store.log.lastLsn).toBe(0);
    const logged = lines.map((l) => JSON.parse(l));
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ level: "error", msg: "bug in the write path", step: "verify" });
    expect(logged[0].stack).toContain("a verifier bug");
  });
});

describe("peekAgent (the agent a raw submission claims, for refusing a flood before parsing)", () => {
  test("finds the agent of real JSON and CBOR submissions of every shape of record; nothing in junk", () => {
    const records = [
      claim(1),
      signRecord(
        { v: 1, kind: "vote", agent: key.publicKey, ts: now, target: new Uint8Array(32).fill(7), value: 1 },
        key.secretKey,
      ),
      signRecord(
        { v: 1, kind: "source", agent: key.publicKey, ts: now, source_id: "agent", title: "agentX", tier: 2 },
        key.secretKey,
      ),
    ];
    for (const r of records) {
      expect(peekAgent(asCbor(r))).toBe(toHex(key.publicKey));
      expect(peekAgent(asJson(r))).toBe(toHex(key.publicKey));
    }
    expect(peekAgent({ shape: "cbor", body: new Uint8Array(100), sig: new Uint8Array(64) })).toBeNull();
    expect(peekAgent({ shape: "json", value: { agent: "nope" } })).toBeNull();
    expect(peekAgent({ shape: "json", value: null })).toBeNull();
  });
});
