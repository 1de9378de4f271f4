import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { StemeRecord } from "../../src/core/record.ts";
import { generateKeyPair } from "../../src/crypto/sign.ts";
import { signRecord } from "../../src/crypto/signed.ts";
import { browseConcepts, listRecords, parseSubjectMatch } from "../../src/index/list.ts";
import { IndexStore, type IndexEntry } from "../../src/index/store.ts";

let dir: string;
let store: IndexStore;
const alice = generateKeyPair();
const bob = generateKeyPair();

function assertion(agent: typeof alice, subject: string, predicate: string, ts: number, extra: Record<string, unknown> = {}) {
  return signRecord(
    { v: 1, kind: "assertion", agent: agent.publicKey, ts, subject, predicate, object: ts, confidence: 0.5, ...extra },
    agent.secretKey,
  );
}

function entries(records: Array<{ record: StemeRecord; id: Uint8Array }>, firstLsn: number): IndexEntry[] {
  return records.map((r, i) => ({
    lsn: firstLsn + i,
    id: r.id,
    record: r.record,
    segment: 1,
    offset: 48 + i * 100,
    recordedAtMs: 1000 + i,
  }));
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "stemedb-index-"));
  store = IndexStore.open(path.join(dir, "index.sqlite"));
});
afterEach(() => {
  store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("IndexStore", () => {
  test("applyBatch indexes records, advances the checkpoint, and survives reopening", () => {
    const a = assertion(alice, "pharma/drug/aspirin", "risk", 10);
    const b = assertion(bob, "pharma/drug/ibuprofen", "risk", 20);
    store.applyBatch(entries([a, b], 1));
    expect(store.checkpointLsn).toBe(2);
    expect(store.lookupId(a.id)?.lsn).toBe(1);
    expect(store.lookupId(b.id)?.offset).toBe(148);
    store.close();
    store = IndexStore.open(path.join(dir, "index.sqlite"));
    expect(store.checkpointLsn).toBe(2);
    expect(store.lookupId(b.id)?.lsn).toBe(2);
    expect(store.lookupId(new Uint8Array(32))).toBeNull();
  });

  test("a batch that does not continue the checkpoint is a bug and throws", () => {
    const a = assertion(alice, "x/y", "p", 1);
    expect(() => store.applyBatch(entries([a], 2))).toThrow(/invariant/);
    expect(store.checkpointLsn).toBe(0);
  });

  test("two ids sharing their first 8 bytes are told apart by the full id", () => {
    const a = assertion(alice, "x/y", "p", 1);
    const twin = new Uint8Array(a.id);
    twin[31] = (twin[31] as number) ^ 0xff;
    store.applyBatch([
      { lsn: 1, id: a.id, record: a.record, segment: 1, offset: 48, recordedAtMs: 0 },
      { lsn: 2, id: twin, record: a.record, segment: 1, offset: 99, recordedAtMs: 0 },
    ]);
    expect(store.lookupId(a.id)?.lsn).toBe(1);
    expect(store.lookupId(twin)?.lsn).toBe(2);
  });

  test("a batch rolled back after interning new strings leaves no dangling ids behind", () => {
    // Fail the transaction at its very end (the checkpoint write), after subjects and agents
    // were interned: a real SQLite abort, from a trigger.
    store.db.exec("CREATE TEMP TRIGGER fail_meta BEFORE UPDATE ON meta BEGIN SELECT RAISE(ABORT, 'simulated failure'); END;");
    store.db.exec(
      "CREATE TEMP TRIGGER fail_meta_insert BEFORE INSERT ON meta BEGIN SELECT RAISE(ABORT, 'simulated failure'); END;",
    );
    const a = assertion(alice, "alpha/one", "p", 1);
    expect(() => store.applyBatch(entries([a], 1))).toThrow(/simulated failure/);
    store.db.exec("DROP TRIGGER fail_meta; DROP TRIGGER fail_meta_insert;");
    store.applyBatch(entries([a], 1)); // the retry
    const b = assertion(bob, "beta/two", "p", 2);
    store.applyBatch(entries([b], 2));
    expect(listRecords(store, { subject: "alpha/one", limit: 10 }).items.map((i) => i.lsn)).toEqual([1]);
    expect(listRecords(store, { subject: "beta/two", limit: 10 }).items.map((i) => i.lsn)).toEqual([2]);
    expect(listRecords(store, { agent: alice.publicKey, limit: 10 }).items.map((i) => i.lsn)).toEqual([1]);
  });

  test("truncateAfter drops rows past the log's end and moves the checkpoint back", () => {
    const rs = [1, 2, 3].map((i) => assertion(alice, "x/y", "p", i));
    store.applyBatch(entries(rs, 1));
    expect(store.truncateAfter(1)).toBe(2);
    expect(store.checkpointLsn).toBe(1);
    expect(store.lookupId((rs[2] as { id: Uint8Array }).id)).toBeNull();
    store.applyBatch(entries([rs[1] as (typeof rs)[0]], 2));
    expect(store.checkpointLsn).toBe(2);
  });

  test("refs index depends_on, supersedes and vote targets", () => {
    const a = assertion(alice, "x/y", "p", 1);
    const b = assertion(alice, "x/y", "p", 2, { depends_on: [a.id], supersedes: a.id });
    const v = signRecord({ v: 1, kind: "vote", agent: bob.publicKey, ts: 3, target: a.id, value: 1 }, bob.secretKey);
    store.applyBatch(entries([a, b, v], 1));
    expect(store.referrers(a.id).map((r) => [r.lsn, r.rel])).toEqual([
      [2, 1],
      [2, 2],
      [3, 3],
    ]);
    expect(store.referrers(a.id, 3)).toEqual([{ lsn: 3, rel: 3 }]);
    expect(store.countsByKind()).toMatchObject({ assertion: 2, vote: 1, source: 0 });
  });

  test("readAtEach: the items of one call share one read transaction (one cut); one that ends it leaves the rest to a new one", () => {
    const a = assertion(alice, "cut/x", "p", 1);
    const b = assertion(bob, "cut/x", "p", 2);
    store.applyBatch(entries([a], 1));
    const reader = IndexStore.open(path.join(dir, "index.sqlite"), { readonly: true, ids: false });
    try {
      const sqlite = (reader as unknown as { sqlite: { inTransaction: boolean; exec(sql: string): void } }).sqlite;
      const seen = reader.readAtEach([0, 1, 2, 3], (i) => {
        if (i === 1) store.applyBatch(entries([b], 2)); // committed by another connection mid-call
        const out = {
          i,
          inTransaction: sqlite.inTransaction,
          checkpoint: reader.checkpointLsn,
          lsns: listRecords(reader, { subject: "cut/x", limit: 10 }).items.map((r) => r.lsn),
        };
        if (i === 2) sqlite.exec("COMMIT"); // as an I/O error ends it
        return out;
      });
      expect(seen).toEqual([
        { i: 0, inTransaction: true, checkpoint: 1, lsns: [1] },
        { i: 1, inTransaction: true, checkpoint: 1, lsns: [1] },
        { i: 2, inTransaction: true, checkpoint: 1, lsns: [1] },
        { i: 3, inTransaction: true, checkpoint: 2, lsns: [1, 2] },
      ]);
      expect(sqlite.inTransaction).toBe(false);
      expect(reader.readAtEach([], () => 1)).toEqual([]);
    } finally {
      reader.close();
    }
  });
});

describe("listing", () => {
  beforeEach(() => {
    store.applyBatch(
      entries(
        [
          assertion(alice, "pharma/drug/aspirin", "risk", 100, { source: "fda" }),
          assertion(bob, "pharma/drug/aspirin", "dose", 200),
          assertion(alice, "pharma/drug/ibuprofen", "risk", 300),
          assertion(bob, "pharma/drugs", "count", 400),
          assertion(alice, "food/aspirin", "risk", 500),
          assertion(alice, "pharma", "root", 600),
        ],
        1,
      ),
    );
  });
  const lsns = (filter: Parameters<typeof listRecords>[1]) => listRecords(store, filter).items.map((i) => i.lsn);

  test("subject exact, prefix and tail", () => {
    expect(lsns({ subject: "pharma/drug/aspirin", limit: 10 })).toEqual([1, 2]);
    expect(lsns({ subject: "pharma/drug/*", limit: 10 })).toEqual([1, 2, 3]);
    expect(lsns({ subject: "pharma/*", limit: 10 })).toEqual([1, 2, 3, 4]);
    expect(lsns({ subject: "*/aspirin", limit: 10 })).toEqual([1, 2, 5]);
    expect(lsns({ subject: "*/drug/aspirin", limit: 10 })).toEqual([1, 2]);
    expect(lsns({ subject: "nothing/here", limit: 10 })).toEqual([]);
  });

  test("predicate, agent, source, time range and order", () => {
    expect(lsns({ predicate: "risk", limit: 10 })).toEqual([1, 3, 5]);
    expect(lsns({ agent: bob.publicKey, limit: 10 })).toEqual([2, 4]);
    expect(lsns({ source: "fda", limit: 10 })).toEqual([1]);
    expect(lsns({ since: 200, until: 400, limit: 10 })).toEqual([2, 3, 4]);
    expect(lsns({ predicate: "risk", order: "desc", limit: 10 })).toEqual([5, 3, 1]);
    expect(lsns({ kinds: ["vote"], limit: 10 })).toEqual([]);
  });

  test("cursor pagination visits every row once", () => {
    const seen: number[] = [];
    let after: number | undefined;
    for (let page = 0; page < 10; page++) {
      const p = listRecords(store, { limit: 4, ...(after !== undefined ? { afterLsn: after } : {}) });
      seen.push(...p.items.map((i) => i.lsn));
      if (p.next === null) break;
      after = p.next;
    }
    expect(seen).toEqual([1, 2, 3, 4, 5, 6]);
  });

  test("subject patterns are parsed strictly", () => {
    expect(parseSubjectMatch("a/b/*")).toEqual({ kind: "prefix", path: "a/b" });
    expect(parseSubjectMatch("*/b")).toEqual({ kind: "tail", path: "b" });
    expect(parseSubjectMatch("a/b")).toEqual({ kind: "exact", path: "a/b" });
    for (const bad of ["*/", "a//b", "a/*/b", "*"]) expect(() => parseSubjectMatch(bad)).toThrow();
  });

  test("the concept tree lists children with subject counts", () => {
    expect(browseConcepts(store, "", 10).concepts).toEqual([
      { path: "food", segment: "food", is_subject: false, subjects: 1 },
      { path: "pharma", segment: "pharma", is_subject: true, subjects: 4 },
    ]);
    expect(browseConcepts(store, "pharma", 10).concepts).toEqual([
      { path: "pharma/drug", segment: "drug", is_subject: false, subjects: 2 },
      { path: "pharma/drugs", segment: "drugs", is_subject: true, subjects: 1 },
    ]);
  });
});
