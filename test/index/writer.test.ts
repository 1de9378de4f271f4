import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { silentLogger } from "../../src/core/logger.ts";
import { generateKeyPair } from "../../src/crypto/sign.ts";
import { signRecord } from "../../src/crypto/signed.ts";
import type { IndexEntry } from "../../src/index/store.ts";
import { IndexStore } from "../../src/index/store.ts";
import { InlineIndexWriter } from "../../src/index/writer.ts";

const key = generateKeyPair();
let dir: string;
let index: IndexStore;
let applied: number[];

function entries(from: number, count: number): IndexEntry[] {
  return Array.from({ length: count }, (_, i) => {
    const s = signRecord(
      { v: 1, kind: "assertion", agent: key.publicKey, ts: from + i, subject: "w/t", predicate: "p", object: i, confidence: 1 },
      key.secretKey,
    );
    return { lsn: from + i, id: s.id, record: s.record, segment: 1, offset: 48 + i, recordedAtMs: 0 };
  });
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "stemedb-writer-"));
  index = IndexStore.open(path.join(dir, "index.sqlite"));
  applied = [];
});
afterEach(() => {
  index.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function writer(flushDelayMs = 10_000, flushRecordsMax = 100) {
  return new InlineIndexWriter(index, {
    logger: silentLogger,
    flushDelayMs,
    flushRecordsMax,
    onApplied: (lsn) => applied.push(lsn),
  });
}

describe("InlineIndexWriter", () => {
  test("batches until the timer, the size bound or a drain; reports progress in order", async () => {
    const w = writer(20, 100);
    w.enqueue(entries(1, 10));
    expect(index.checkpointLsn).toBe(0);
    await Bun.sleep(60);
    expect(index.checkpointLsn).toBe(10);
    w.enqueue(entries(11, 100)); // reaches the size bound: applied at once
    expect(index.checkpointLsn).toBe(110);
    w.enqueue(entries(111, 5));
    await w.drain();
    expect(index.checkpointLsn).toBe(115);
    expect(applied).toEqual([10, 110, 115]);
    await w.close();
  });

  test("a failing SQLite write keeps the batch, answers waiting readers 503, and retries until it succeeds", async () => {
    const w = writer();
    index.db.exec("PRAGMA query_only = 1"); // every write now fails in SQLite itself
    w.enqueue(entries(1, 3));
    await expect(w.drain()).rejects.toMatchObject({ code: "index_failed", status: 503 });
    expect(w.failure).not.toBeNull();
    expect(index.checkpointLsn).toBe(0);
    index.db.exec("PRAGMA query_only = 0");
    await Bun.sleep(1200); // the retry timer
    expect(w.failure).toBeNull();
    expect(index.checkpointLsn).toBe(3);
    expect(applied).toEqual([3]);
    await w.close();
  });
});

describe("InlineIndexWriter while the index fails", () => {
  test("no apply on every enqueue while failing; close stops retrying and lets the process go", async () => {
    const w = writer(10_000, 2);
    let attempts = 0;
    const applyBatch = index.applyBatch.bind(index);
    index.applyBatch = (batch) => {
      attempts++;
      applyBatch(batch);
    };
    index.db.exec("PRAGMA query_only = 1");
    w.enqueue(entries(1, 2)); // size bound reached: applied at once, fails
    expect(w.failure).not.toBeNull();
    for (let i = 0; i < 50; i++) w.enqueue(entries(3 + i * 2, 2)); // no re-run of the backlog each time
    expect(attempts).toBe(1);
    expect(w.backlog).toBe(102);
    await w.close();
    expect(index.checkpointLsn).toBe(0);
    index.db.exec("PRAGMA query_only = 0");
    await Bun.sleep(1200); // a retry timer left behind would apply the batch now
    expect(index.checkpointLsn).toBe(0);
    expect(applied).toEqual([]);
  });
});
