/**
 * The id table kept across a clean stop (src/index/id-table-file.ts): read back only when it is
 * this index's as of now; a missing, damaged, stale or inconsistent file, or an index changed
 * since it was written, is never trusted — the table is built from the records table, and every
 * id is found either way.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createLogger } from "../../src/core/logger.ts";
import { generateKeyPair } from "../../src/crypto/sign.ts";
import { signRecord } from "../../src/crypto/signed.ts";
import { openChecksummed } from "../../src/index/checksum-vfs.ts";
import { IdTable } from "../../src/index/id-table.ts";
import { fileIdentity, idTableFilePath, readIdTableFile, writeIdTableFile } from "../../src/index/id-table-file.ts";
import { type IndexEntry, IndexStore } from "../../src/index/store.ts";

let dir: string;
let indexPath: string;
let lines: Array<Record<string, unknown>>;
const alice = generateKeyPair();
const records = Array.from({ length: 300 }, (_, i) =>
  signRecord(
    { v: 1, kind: "assertion", agent: alice.publicKey, ts: i + 1, subject: `s/${i}`, predicate: "p", object: i, confidence: 0.5 },
    alice.secretKey,
  ),
);

function entries(from: number, to: number): IndexEntry[] {
  return records.slice(from - 1, to).map((r, i) => ({
    lsn: from + i,
    id: r.id,
    record: r.record,
    segment: 1,
    offset: 48 + i * 100,
    recordedAtMs: 1000 + i,
  }));
}

function open(): IndexStore {
  const logger = createLogger({ level: "info", write: (line) => lines.push(JSON.parse(line)) });
  return IndexStore.open(indexPath, { logger });
}

/** What the last open did with the id table: read back, or built and why. */
function how(): { read: boolean; reason?: string } {
  const read = lines.some((l) => l.msg === "index: id table read back");
  const skipped = lines.find((l) => l.msg === "index: id table file not used; building the table");
  return skipped ? { read, reason: skipped.reason as string } : { read };
}

function expectAllFound(store: IndexStore, upTo: number) {
  for (let lsn = 1; lsn <= records.length; lsn++) {
    expect(store.lookupId((records[lsn - 1] as { id: Uint8Array }).id)?.lsn ?? null).toBe(lsn <= upTo ? lsn : null);
  }
}

/** An index holding records 1..200, closed cleanly (so with its id table file). */
function cleanStop() {
  const store = open();
  store.applyBatch(entries(1, 200));
  store.close();
  expect(fs.existsSync(idTableFilePath(indexPath))).toBe(true);
  lines = [];
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "stemedb-ids-"));
  indexPath = path.join(dir, "index.sqlite");
  lines = [];
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("the id table file", () => {
  test("a clean stop keeps it and the next open reads it back (then removes it)", () => {
    cleanStop();
    const read = readIdTableFile(idTableFilePath(indexPath));
    expect("error" in read ? read.error : read.checkpointLsn).toBe(200);
    const store = open();
    expect(how()).toEqual({ read: true });
    expect(fs.existsSync(idTableFilePath(indexPath))).toBe(false);
    expectAllFound(store, 200);
    store.applyBatch(entries(201, 250));
    expectAllFound(store, 250);
    store.close();
  });

  test("a stale file (the index moved on since) is not used", () => {
    cleanStop();
    const stale = fs.readFileSync(idTableFilePath(indexPath));
    const store = open();
    store.applyBatch(entries(201, 250));
    store.close();
    fs.writeFileSync(idTableFilePath(indexPath), stale); // the older table back in place
    lines = [];
    const again = open();
    expect(how()).toEqual({ read: false, reason: "the index changed since the file was written" });
    expectAllFound(again, 250);
    again.close();
  });

  test("a crash after reading it back leaves no file to trust: the next open builds the table", () => {
    cleanStop();
    const store = open(); // consumes the file; never closed, as in a crash
    store.applyBatch(entries(201, 220));
    lines = [];
    const after = open();
    expect(how()).toEqual({ read: false, reason: "no file" });
    expectAllFound(after, 220);
    after.close();
    store.close();
  });

  test("a damaged or truncated file is not used", () => {
    for (const damage of [
      (b: Buffer) => {
        b[b.length - 100] = (b[b.length - 100] as number) ^ 0x10;
      },
      (b: Buffer) => {
        b[80] = (b[80] as number) ^ 1;
      },
      (b: Buffer) => b.subarray(0, b.length - 9),
      (b: Buffer) => b.subarray(0, 30),
    ]) {
      cleanStop();
      const file = idTableFilePath(indexPath);
      const bytes = fs.readFileSync(file);
      fs.writeFileSync(file, damage(bytes) ?? bytes);
      const store = open();
      expect(how().read).toBe(false);
      expect(how().reason).toMatch(/checksum|bytes|shorter/);
      expectAllFound(store, 200);
      store.close();
      fs.rmSync(dir, { recursive: true, force: true });
      fs.mkdirSync(dir);
    }
  });

  test("an index changed behind the node's back (a row edited) is not paired with the old file", () => {
    cleanStop();
    const db = openChecksummed(indexPath);
    db.query("DELETE FROM records WHERE lsn = 7").run();
    db.close();
    const store = open();
    expect(how()).toEqual({ read: false, reason: "the index changed since the file was written" });
    expect(store.lookupId((records[6] as { id: Uint8Array }).id)).toBeNull();
    expect(store.lookupId((records[7] as { id: Uint8Array }).id)?.lsn).toBe(8);
    store.close();
  });

  test("a file with a good checksum but another checkpoint, or broken invariants, is not used", () => {
    cleanStop();
    const file = idTableFilePath(indexPath);
    const read = readIdTableFile(file);
    if ("error" in read) throw new Error(read.error);
    const identity = fileIdentity(indexPath);
    if (identity === null) throw new Error("no index");
    writeIdTableFile(file, read.table, 199, identity);
    let store = open();
    expect(how()).toEqual({ read: false, reason: "written at LSN 199, the index is at 200" });
    expectAllFound(store, 200);
    store.close();

    lines = [];
    const again = readIdTableFile(file);
    if ("error" in again) throw new Error(again.error);
    const a = again.table.arrays();
    const occupied = a.lsnLo.findIndex((v) => v !== 0);
    a.tags[occupied] = 0xffffffff; // its home is now far after it
    writeIdTableFile(file, IdTable.fromArrays(a), 200, fileIdentity(indexPath) as NonNullable<ReturnType<typeof fileIdentity>>);
    store = open();
    expect(how().reason).toMatch(/^inconsistent: /);
    expectAllFound(store, 200);
    store.close();
  });

  test("a WAL that outlives the close (a reader still open) counts: kept as it was, the file is used; written to, it is not", () => {
    for (const writeAfter of [false, true]) {
      const store = open();
      store.applyBatch(entries(1, 200));
      const reader = openChecksummed(indexPath, { readonly: true });
      reader.exec("BEGIN");
      reader.query("SELECT count(*) FROM records").get(); // a snapshot at 200: the checkpoint cannot pass it
      store.applyBatch(entries(201, 250));
      store.close();
      expect(fs.statSync(`${indexPath}-wal`).size).toBeGreaterThan(0);
      reader.exec("COMMIT"); // the reader stays open, as one a stop interrupted does
      if (writeAfter) {
        const writer = openChecksummed(indexPath);
        writer.query("INSERT INTO meta (key, value) VALUES ('x', 1)").run();
        writer.close();
      }
      lines = [];
      const again = open();
      expect(how()).toEqual(
        writeAfter ? { read: false, reason: "the index changed since the file was written" } : { read: true },
      );
      expectAllFound(again, 250);
      again.close();
      reader.close();
      fs.rmSync(dir, { recursive: true, force: true });
      fs.mkdirSync(dir);
    }
  });

  test("a read-only open neither uses nor removes it", () => {
    cleanStop();
    const ro = IndexStore.open(indexPath, { readonly: true });
    expect(ro.lookupId((records[0] as { id: Uint8Array }).id)?.lsn).toBe(1);
    ro.close();
    expect(fs.existsSync(idTableFilePath(indexPath))).toBe(true);
    const store = open();
    expect(how()).toEqual({ read: true });
    store.close();
  });
});
