/**
 * What the index checks cost (docs/STORAGE.md: the index is never trusted blindly), in one process so
 * a loaded machine skews both sides alike. Usage: `bun bench/index-checks.ts [RECORDS]`.
 *
 * 1. Per record read: the log read and decode a read did before (`log.read` + decode) against
 *    `Store.read` now (the same, plus BLAKE3 of the body, the LSN, kind and filter checks), for
 *    records listed by subject — µs per record, median of rounds, interleaved.
 * 2. Page checksums: a full scan of the `records` table and of the subject index with SQLite's
 *    page cache too small to help (every page through xRead), through the checksum shim and
 *    through SQLite's own VFS on the same file; and the shim's whole-file scan (what start-up
 *    does), in MB/s.
 * 3. Start-up: opening the store (WAL folded in, every page scanned, the id table loaded), and
 *    a rebuild of the index from the log (what start-up does when it finds damage).
 */
import { Database } from "bun:sqlite";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { generateKeyPair } from "../src/crypto/sign.ts";
import { signRecord } from "../src/crypto/signed.ts";
import { decodeStoredBody } from "../src/crypto/signed.ts";
import { openChecksummed, scanPages } from "../src/index/checksum-vfs.ts";
import { listRecords } from "../src/index/list.ts";
import type { RecordLocation } from "../src/index/store.ts";
import { Ingest } from "../src/ingest/pipeline.ts";
import { Store } from "../src/store/store.ts";

const records = Number(process.argv[2] ?? 100_000);
const subjects = Math.max(1, Math.floor(records / 10));
const rounds = 7;
let sink = 0;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1] as number;
}

async function build(dir: string): Promise<void> {
  const keys = Array.from({ length: 50 }, () => generateKeyPair());
  const now = Date.now();
  const store = await Store.open(dir, { create: true, sync: "none" });
  const ingest = new Ingest(store, { clockSkewMs: 60_000, queueRecordsMax: 20_000, now: () => now });
  for (let i = 0; i < records; i += 5000) {
    const batch = [];
    for (let j = i; j < Math.min(records, i + 5000); j++) {
      const key = keys[j % keys.length] as (typeof keys)[number];
      const signed = signRecord(
        {
          v: 1,
          kind: "assertion",
          agent: key.publicKey,
          ts: now - records + j,
          subject: `bench/s${j % subjects}`,
          predicate: j % 2 ? "risk_pct" : "dose_mg",
          object: j,
          confidence: 0.5,
          note: "x".repeat(80),
        },
        key.secretKey,
      );
      batch.push({ shape: "cbor" as const, body: signed.body, sig: signed.sig });
    }
    await ingest.submit(batch);
  }
  await store.indexCaughtUp();
  await store.close();
}

async function perRecord(dir: string): Promise<void> {
  const store = await Store.open(dir, {});
  const locs: RecordLocation[] = [];
  for (let s = 0; s < subjects && locs.length < 50_000; s++)
    locs.push(...listRecords(store.index, { subject: `bench/s${s}`, limit: 100 }).items);
  const raw = () => {
    for (const loc of locs) sink ^= decodeStoredBody(store.log.read(loc.segment, loc.offset).body).ts & 1;
  };
  const checked = () => {
    for (const loc of locs) sink ^= store.read(loc).record.ts & 1;
  };
  const times = { raw: [] as number[], checked: [] as number[] };
  raw();
  checked();
  for (let r = 0; r < rounds; r++) {
    for (const [name, fn] of [
      ["raw", raw],
      ["checked", checked],
    ] as const) {
      const t0 = Bun.nanoseconds();
      fn();
      times[name].push((Bun.nanoseconds() - t0) / 1000 / locs.length);
    }
  }
  const rawUs = median(times.raw);
  const checkedUs = median(times.checked);
  console.log(`read ${locs.length} records listed by subject, µs per record (median of ${rounds}):`);
  console.log(`  log read + decode (before)               ${rawUs.toFixed(2)}`);
  console.log(`  Store.read: + BLAKE3, LSN, kind, filter  ${checkedUs.toFixed(2)}  (+${(checkedUs - rawUs).toFixed(2)} µs)`);
  await store.close();
}

function scanSql(db: Database): number {
  db.exec("PRAGMA cache_size = 16"); // 16 pages: nearly every page comes through xRead
  const t0 = Bun.nanoseconds();
  for (const sql of [
    "SELECT sum(length(id)) AS n FROM records",
    "SELECT count(*) AS n FROM records INDEXED BY records_subject WHERE subject IS NOT NULL",
  ])
    sink ^= (db.query(sql).get() as { n: number }).n & 1;
  return (Bun.nanoseconds() - t0) / 1e6;
}

function pages(dir: string): void {
  const file = path.join(dir, "index.sqlite");
  const bytes = fs.statSync(file).size;
  const times = { plain: [] as number[], shim: [] as number[], scan: [] as number[] };
  for (let r = 0; r < rounds; r++) {
    const plain = new Database(file, { readonly: true });
    times.plain.push(scanSql(plain));
    plain.close();
    const shim = openChecksummed(file, { readonly: true });
    times.shim.push(scanSql(shim));
    const t0 = Bun.nanoseconds();
    const scan = scanPages(shim);
    times.scan.push((Bun.nanoseconds() - t0) / 1e6);
    if (scan.bad !== 0) throw new Error("the bench's index fails its page checks");
    shim.close();
  }
  const mb = bytes / 1e6;
  console.log(`index file ${mb.toFixed(1)} MB; records table + subject index read with a 16-page cache (median of ${rounds}):`);
  console.log(`  SQLite's own VFS    ${median(times.plain).toFixed(1)} ms`);
  console.log(
    `  checksum shim       ${median(times.shim).toFixed(1)} ms  (+${((median(times.shim) / median(times.plain) - 1) * 100).toFixed(0)} %)`,
  );
  console.log(
    `  whole-file page scan (start-up): ${median(times.scan).toFixed(1)} ms = ${(mb / (median(times.scan) / 1000)).toFixed(0)} MB/s`,
  );
}

/** Start-up (WAL fold, whole-file page scan, id table) and a rebuild from the log, in ms. */
async function startup(dir: string): Promise<void> {
  let t0 = performance.now();
  await (await Store.open(dir, {})).close();
  const open = performance.now() - t0;
  t0 = performance.now();
  await (await Store.open(dir, { rebuildIndex: true })).close();
  const rebuild = performance.now() - t0;
  console.log(
    `start-up (page scan + id table) ${open.toFixed(0)} ms; rebuild from the log ${rebuild.toFixed(0)} ms = ${((rebuild / records) * 1000).toFixed(1)} s per million records`,
  );
}

const dir = fs.mkdtempSync(path.join(path.resolve(import.meta.dir, "..", ".bench"), "index-checks-"));
try {
  const t0 = performance.now();
  await build(dir);
  console.log(
    `built ${records} assertions over ${subjects} subjects in ${((performance.now() - t0) / 1000).toFixed(1)} s (${os.cpus().length} cores, load ${os.loadavg()[0]?.toFixed(1)})`,
  );
  await perRecord(dir);
  pages(dir);
  await startup(dir);
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
  if (sink === 42) console.log("");
}
