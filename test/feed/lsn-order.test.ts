/**
 * Acknowledged records put back in LSN order, whatever order their batches arrive in; and the
 * premise of the fast path: the real pipeline, with many writes in flight over group commits
 * that really sync, acknowledges in LSN order.
 */
import { describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { toHex } from "../../src/core/hex.ts";
import { generateKeyPair } from "../../src/crypto/sign.ts";
import { signRecord } from "../../src/crypto/signed.ts";
import { LsnOrder } from "../../src/feed/lsn-order.ts";
import type { IndexEntry } from "../../src/index/store.ts";
import { Ingest } from "../../src/ingest/pipeline.ts";
import { Store } from "../../src/store/store.ts";
import { prng } from "../support/prng.ts";

const entry = (lsn: number) => ({ lsn }) as IndexEntry;
const batch = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => entry(from + i));

describe("LSN order", () => {
  test("batches in any order come out in LSN order, each record once", () => {
    const rand = prng(3);
    for (let round = 0; round < 100; round++) {
      const batches: IndexEntry[][] = [];
      for (let lsn = 11; lsn <= 200; ) {
        const n = 1 + Math.floor(rand() * 9);
        batches.push(batch(lsn, Math.min(200, lsn + n - 1)));
        lsn += n;
      }
      // Shuffle neighbours only a little, as a late microtask would; and sometimes a lot.
      const shuffled = [...batches];
      for (let i = shuffled.length - 1; i > 0; i--) {
        const j = round % 2 ? Math.floor(rand() * (i + 1)) : Math.max(0, i - Math.floor(rand() * 2));
        [shuffled[i], shuffled[j]] = [shuffled[j] as IndexEntry[], shuffled[i] as IndexEntry[]];
      }
      const order = new LsnOrder(10);
      const out: number[] = [];
      for (const b of shuffled) for (const e of b) order.accept(e, (x) => out.push(x.lsn));
      expect(out).toEqual(Array.from({ length: 190 }, (_, i) => 11 + i));
      expect(order.position).toBe(200);
      expect(order.waiting).toBe(0);
    }
  });

  test("a record already passed on, or already waiting, is refused", () => {
    const order = new LsnOrder(0);
    const out: number[] = [];
    expect(order.accept(entry(1), (x) => out.push(x.lsn))).toBe(true);
    expect(order.accept(entry(1), (x) => out.push(x.lsn))).toBe(false);
    expect(order.accept(entry(3), (x) => out.push(x.lsn))).toBe(true);
    expect(order.accept(entry(3), (x) => out.push(x.lsn))).toBe(false);
    expect(order.accept(entry(2), (x) => out.push(x.lsn))).toBe(true);
    expect(out).toEqual([1, 2, 3]);
  });

  test("skip: an in-order batch moves the position without a look at its records; anything else does not", () => {
    const order = new LsnOrder(5);
    expect(order.skip(batch(6, 9))).toBe(true);
    expect(order.position).toBe(9);
    expect(order.skip(batch(11, 12))).toBe(false); // a gap before it
    expect(order.skip([entry(10), entry(12)])).toBe(false); // not contiguous
    order.accept(entry(11), () => {});
    expect(order.skip(batch(10, 10))).toBe(false); // something waits: take the slow path
    expect(order.position).toBe(9);
  });

  test("the pipeline acknowledges in LSN order: concurrent writes, group commits with fdatasync", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stemedb-ack-order-"));
    const store = await Store.open(dir, { create: true, sync: "batch" });
    try {
      const acked: number[] = [];
      store.onAcknowledged((entries) => {
        for (const e of entries) acked.push(e.lsn);
      });
      const ingest = new Ingest(store, { clockSkewMs: 1000, queueRecordsMax: 10_000, now: Date.now });
      const key = generateKeyPair();
      let n = 0;
      const one = () =>
        signRecord(
          {
            v: 1,
            kind: "assertion",
            agent: toHex(key.publicKey),
            ts: Date.now() - 1000,
            subject: "o/s",
            predicate: "p",
            object: n++,
            confidence: 0.5,
          },
          key.secretKey,
          "json",
        );
      const submissions = Array.from({ length: 60 }, (_, i) =>
        Array.from({ length: 1 + (i % 7) }, () => {
          const r = one();
          return { shape: "cbor" as const, body: r.body, sig: r.sig };
        }),
      );
      const results = await Promise.all(submissions.map((items) => ingest.submit(items)));
      expect(results.flat().every((r) => r.ok)).toBe(true);
      expect(store.log.commitCount).toBeLessThan(60); // writes shared group commits
      expect(acked).toEqual(Array.from({ length: acked.length }, (_, i) => i + 1));
      expect(acked.length).toBe(submissions.flat().length);
    } finally {
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
