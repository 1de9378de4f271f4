/**
 * A small real store for the index-damage tests: every kind of record that the index files
 * (assertions across subjects and predicates with disagreement, a source and its retraction,
 * depends_on, supersedes, a vote, a retraction, a review, an epoch), written through the
 * ingest pipeline into a temp data directory, then closed. `tamper` changes index rows through
 * the checksum shim, so the pages stay valid and only the per-read checks can see it.
 */
import { Database } from "bun:sqlite";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { toHex } from "../../src/core/hex.ts";
import { generateKeyPair, type KeyPair } from "../../src/crypto/sign.ts";
import { type SignedRecord, signRecord } from "../../src/crypto/signed.ts";
import { openChecksummed } from "../../src/index/checksum-vfs.ts";
import { Ingest } from "../../src/ingest/pipeline.ts";
import { Store } from "../../src/store/store.ts";

export const fixtureNow = 1_800_000_000_000;

export interface IndexFixture {
  /** The data directory (closed store). */
  dir: string;
  alice: KeyPair;
  bob: KeyPair;
  /** Records by name, in the order they were written (LSN = position + 1). */
  records: Map<string, SignedRecord>;
  lsn(name: string): number;
}

function sign(key: KeyPair, fields: Record<string, unknown>, ts: number): SignedRecord {
  return signRecord({ v: 1, agent: key.publicKey, ts, ...fields }, key.secretKey);
}

export async function buildIndexFixture(prefix = "stemedb-idxfix-"): Promise<IndexFixture> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const alice = generateKeyPair();
  const bob = generateKeyPair();
  const t = fixtureNow - 100_000;
  const plan: Array<[string, KeyPair, (r: Map<string, SignedRecord>) => Record<string, unknown>, number]> = [
    ["source", alice, () => ({ kind: "source", source_id: "src/a", title: "A", tier: 2 }), t],
    [
      "a1",
      alice,
      () => ({ kind: "assertion", subject: "drug/aspirin", predicate: "risk", object: 1, confidence: 0.9, source: "src/a" }),
      t + 1,
    ],
    ["a2", bob, () => ({ kind: "assertion", subject: "drug/aspirin", predicate: "risk", object: 2, confidence: 0.5 }), t + 2],
    [
      "a3",
      bob,
      (r) => ({
        kind: "assertion",
        subject: "drug/ibuprofen",
        predicate: "dose",
        object: 3,
        confidence: 0.5,
        depends_on: [id(r, "a1")],
      }),
      t + 3,
    ],
    [
      "a4",
      alice,
      (r) => ({
        kind: "assertion",
        subject: "drug/aspirin",
        predicate: "risk",
        object: 4,
        confidence: 0.9,
        supersedes: id(r, "a1"),
      }),
      t + 4,
    ],
    ["a5", alice, () => ({ kind: "assertion", subject: "other/thing", predicate: "size", object: 5, confidence: 0.5 }), t + 500],
    ["vote", bob, (r) => ({ kind: "vote", target: id(r, "a4"), value: 1 }), t + 6],
    ["retraction", bob, (r) => ({ kind: "retraction", target: id(r, "a2") }), t + 7],
    ["review", alice, (r) => ({ kind: "review", action: "approve", target: id(r, "a3") }), t + 8],
    ["epoch", alice, () => ({ kind: "epoch", name: "e2025", starts_at: t }), t + 9],
    ["source_retraction", alice, () => ({ kind: "source_retraction", source_id: "src/a" }), t + 10],
  ];
  const records = new Map<string, SignedRecord>();
  const store = await Store.open(dir, { create: true, sync: "none", now: () => fixtureNow });
  try {
    const ingest = new Ingest(store, { clockSkewMs: 1000, queueRecordsMax: 1000, now: () => fixtureNow });
    for (const [name, key, fields, ts] of plan) {
      const signed = sign(key, fields(records), ts);
      const [result] = await ingest.submit([{ shape: "cbor", body: signed.body, sig: signed.sig }]);
      if (!result?.ok) throw new Error(`fixture: ${name} refused: ${result?.ok === false ? result.error.message : "?"}`);
      records.set(name, signed);
    }
    await store.indexCaughtUp();
  } finally {
    await store.close();
  }
  const names = [...records.keys()];
  return {
    dir,
    alice,
    bob,
    records,
    lsn: (name) => {
      const at = names.indexOf(name);
      if (at < 0) throw new Error(`fixture: no record ${name}`);
      return at + 1;
    },
  };
}

function id(records: Map<string, SignedRecord>, name: string): Uint8Array {
  const r = records.get(name);
  if (!r) throw new Error(`fixture: no record ${name} yet`);
  return r.id;
}

export function idHex(f: IndexFixture, name: string): string {
  return toHex((f.records.get(name) as SignedRecord).id);
}

/** A copy of the fixture's data directory (each test damages its own). */
export function copyFixture(f: IndexFixture, prefix = "stemedb-idxcopy-"): string {
  const to = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.cpSync(f.dir, to, { recursive: true });
  fs.rmSync(path.join(to, "LOCK"), { force: true });
  return to;
}

/** Runs SQL against a closed data directory's index through the shim (pages stay sealed). */
export function tamper(dir: string, sql: string, ...params: Array<string | number | Uint8Array | bigint | null>): void {
  const db: Database = openChecksummed(path.join(dir, "index.sqlite"));
  try {
    db.query(sql).run(...params);
  } finally {
    db.close();
  }
}

/** Flips one byte of a file. */
export function flipByte(file: string, at: number, mask = 0x01): void {
  const fd = fs.openSync(file, "r+");
  try {
    const b = new Uint8Array(1);
    fs.readSync(fd, b, 0, 1, at);
    b[0] = (b[0] as number) ^ mask;
    fs.writeSync(fd, b, 0, 1, at);
  } finally {
    fs.closeSync(fd);
  }
}

/** Pages of an index file by the b-tree they belong to (SQLite's dbstat, read without the shim). */
export function pagesByOwner(file: string): Array<{ name: string; pageno: number; pagetype: string }> {
  const db = new Database(file, { readonly: true });
  try {
    return db.query("SELECT name, pageno, pagetype FROM dbstat ORDER BY pageno").all() as Array<{
      name: string;
      pageno: number;
      pagetype: string;
    }>;
  } finally {
    db.close();
  }
}
