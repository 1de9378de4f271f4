/**
 * The data dir's Merkle root reads the ids the index holds and the log past it — and no more of
 * the log: segments whose records the index holds are not read (a 1M-record log read whole at
 * every refresh took ≈ 0.6 GB on the root worker), and the segment holding the index's last
 * record is walked from that record's frame, not from its start (the active segment, up to
 * `--segment-bytes`, was read whole at every refresh).
 */
import { afterEach, expect, spyOn, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { dataDirRoot, RootStopped } from "../../src/backup/root.ts";
import { toHex } from "../../src/core/hex.ts";
import { generateKeyPair } from "../../src/crypto/sign.ts";
import { merkleRoot } from "../../src/crypto/merkle.ts";
import { signRecord } from "../../src/crypto/signed.ts";
import { Ingest } from "../../src/ingest/pipeline.ts";
import { recordId } from "../../src/crypto/hash.ts";
import { Log, SegmentImage } from "../../src/log/index.ts";
import { Store } from "../../src/store/store.ts";
import { openChecksummed } from "../../src/index/checksum-vfs.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

/** A fresh data dir: 120 signed records, the index caught up, the store closed. */
async function indexedStore(segmentBytesMax: number): Promise<{ dir: string; ids: Uint8Array[] }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stemedb-root-"));
  dirs.push(dir);
  const now = Date.now();
  const store = await Store.open(dir, { create: true, sync: "none", segmentBytesMax });
  const ingest = new Ingest(store, { clockSkewMs: 1000, queueRecordsMax: 10_000, now: () => now });
  const k = generateKeyPair();
  const ids: Uint8Array[] = [];
  for (let i = 0; i < 120; i++) {
    const s = signRecord(
      {
        v: 1,
        agent: toHex(k.publicKey),
        ts: now - 1000 + i,
        kind: "assertion",
        subject: `r/${i}`,
        predicate: "p",
        object: i,
        confidence: 0.5,
      },
      k.secretKey,
      "json",
    );
    const [r] = await ingest.submit([{ shape: "cbor", body: s.body, sig: s.sig }]);
    expect(r?.ok).toBe(true);
    ids.push(s.id);
  }
  await store.indexCaughtUp();
  await store.close();
  return { dir, ids };
}

/** Appends 30 records to the log behind the index's back; their ids join `ids`. */
async function appendBehindIndex(dir: string, segmentBytesMax: number, ids: Uint8Array[]): Promise<void> {
  const log = await Log.open(path.join(dir, "log"), { segmentBytesMax, sync: "none" });
  for (let i = 0; i < 30; i++) {
    const body = Uint8Array.from({ length: 40 }, (_, k) => (i * 7 + k * 13) % 256);
    await log.append([{ body, sig: new Uint8Array(64), recordedAtMs: Date.now() }]);
    ids.push(recordId(body));
  }
  await log.close();
}

test("the root covers every record; only the segments past the index are read", async () => {
  const { dir, ids } = await indexedStore(4096);
  const segments = fs.readdirSync(path.join(dir, "log")).filter((f) => f.endsWith(".seg")).length;
  expect(segments).toBeGreaterThan(4);
  const read = spyOn(SegmentImage, "read");
  const report = dataDirRoot(dir);
  expect(report).toEqual({ root: toHex(merkleRoot(ids)), lsn: 120, records: 120 });
  expect(read.mock.calls.length).toBe(0); // no segment read whole: the last one is walked from the index's last frame
  read.mockRestore();
  // Records the log holds past the index (appended behind its back) count too, merged in order.
  await appendBehindIndex(dir, 4096, ids);
  expect(dataDirRoot(dir)).toEqual({ root: toHex(merkleRoot(ids)), lsn: 150, records: 150 });
});

/** 120 records in one segment, the index caught up, then 30 more appended to the log behind its back. */
async function oneSegmentStore(): Promise<{ dir: string; ids: Uint8Array[] }> {
  const store = await indexedStore(1 << 20);
  await appendBehindIndex(store.dir, 1 << 20, store.ids);
  return store;
}

test("the tail is read from the index's last frame: damage before it in the same segment is not walked", async () => {
  const { dir, ids } = await oneSegmentStore();
  const seg = path.join(dir, "log", fs.readdirSync(path.join(dir, "log")).find((f) => f.endsWith(".seg")) as string);
  const bytes = fs.readFileSync(seg);
  bytes[100] = (bytes[100] as number) ^ 0xff; // inside the first frame: a walk from the segment's start stops there
  fs.writeFileSync(seg, bytes);
  expect(dataDirRoot(dir)).toEqual({ root: toHex(merkleRoot(ids)), lsn: 150, records: 150 });
});

test("an index whose place for its last record is wrong is not trusted: the segment is walked from its start", async () => {
  const { dir, ids } = await oneSegmentStore();
  const db = openChecksummed(path.join(dir, "index.sqlite"));
  expect(db.query("UPDATE records SET offset = offset + 3 WHERE lsn = 120").run().changes).toBe(1);
  db.close();
  expect(dataDirRoot(dir)).toEqual({ root: toHex(merkleRoot(ids)), lsn: 150, records: 150 });
  // A place past the segment's end is not trusted either (it threw before).
  const again = openChecksummed(path.join(dir, "index.sqlite"));
  expect(again.query("UPDATE records SET offset = 10000000 WHERE lsn = 120").run().changes).toBe(1);
  again.close();
  expect(dataDirRoot(dir)).toEqual({ root: toHex(merkleRoot(ids)), lsn: 150, records: 150 });
});

test("a root asked to stop gives up with RootStopped and closes its index connection", async () => {
  const { dir } = await oneSegmentStore();
  let asked = 0;
  expect(() => dataDirRoot(dir, { stopped: () => ++asked > 0 })).toThrow(RootStopped);
  expect(asked).toBe(1);
  // No reader is left holding the index: a writer's TRUNCATE checkpoint completes (busy = 0).
  const db = openChecksummed(path.join(dir, "index.sqlite"));
  db.exec("PRAGMA journal_mode = WAL");
  db.exec("CREATE TABLE IF NOT EXISTS probe (x)");
  db.exec("INSERT INTO probe VALUES (1)");
  expect(db.query("PRAGMA wal_checkpoint(TRUNCATE)").get()).toMatchObject({ busy: 0 });
  db.close();
  expect(dataDirRoot(dir, { stopped: () => false }).records).toBe(150);
});
