import { afterEach, describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { generateKeyPair } from "../../src/crypto/sign.ts";
import { signRecord } from "../../src/crypto/signed.ts";
import { InternCache } from "../../src/index/intern-cache.ts";
import { listRecords } from "../../src/index/list.ts";
import { type IndexEntry, IndexStore } from "../../src/index/store.ts";

describe("InternCache", () => {
  test("holds at most two generations, whatever is set", () => {
    const cache = new InternCache(4);
    for (let i = 0; i < 1000; i++) {
      cache.set(`s${i}`, i);
      expect(cache.size).toBeLessThanOrEqual(8);
    }
    expect(cache.get("s999")).toBe(999);
    expect(cache.get("s0")).toBeUndefined();
  });

  test("a string asked for once a generation stays; one not asked for is dropped after two", () => {
    const cache = new InternCache(4);
    cache.set("hot", 1);
    cache.set("cold", 2);
    for (let i = 0; i < 40; i++) {
      cache.set(`filler${i}`, 100 + i);
      if (i % 3 === 0) expect(cache.get("hot")).toBe(1);
    }
    expect(cache.get("hot")).toBe(1);
    expect(cache.get("cold")).toBeUndefined();
  });

  test("clear forgets everything; a generation size below one is refused", () => {
    const cache = new InternCache(2);
    cache.set("a", 1);
    cache.clear();
    expect(cache.get("a")).toBeUndefined();
    expect(cache.size).toBe(0);
    expect(() => new InternCache(0)).toThrow(RangeError);
  });

  test("an IndexStore refuses a bad generation size when it opens, not at its first batch", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stemedb-intern-"));
    try {
      expect(() => IndexStore.open(path.join(dir, "index.sqlite"), { internGenerationMax: 0.5 })).toThrow(
        /internGenerationMax: 0.5/,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("IndexStore's intern caches", () => {
  let dir = "";
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  test("stay bounded over many distinct subjects, and a subject met again after eviction keeps its row", () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "stemedb-intern-"));
    const store = IndexStore.open(path.join(dir, "index.sqlite"), { internGenerationMax: 8 });
    const agent = generateKeyPair();
    const subjects = Array.from({ length: 200 }, (_, i) => `intern/s${i}`);
    let lsn = 0;
    const batch = (names: string[]): IndexEntry[] =>
      names.map((subject) => {
        const signed = signRecord(
          { v: 1, kind: "assertion", agent: agent.publicKey, ts: ++lsn, subject, predicate: "p", object: lsn, confidence: 0.5 },
          agent.secretKey,
        );
        return { lsn, id: signed.id, record: signed.record, segment: 1, offset: 48 * lsn, recordedAtMs: lsn };
      });
    for (let i = 0; i < subjects.length; i += 20) store.applyBatch(batch(subjects.slice(i, i + 20)));
    // Four tables (agents, subjects, predicates and sources, as they are met), two generations of 8 each.
    expect(store.internedHeld).toBeLessThanOrEqual(4 * 2 * 8);
    // Every subject again, long evicted: each keeps its one row, and its records are listed together.
    store.applyBatch(batch(subjects));
    const rows = (store.db.query("SELECT count(*) AS n FROM subjects").get() as { n: number }).n;
    expect(rows).toBe(200);
    for (const subject of [subjects[0], subjects[77], subjects[199]] as string[]) {
      expect(listRecords(store, { subject, predicate: "p", limit: 10 }).items.length).toBe(2);
    }
    store.close();
  });
});
