/**
 * The index's batch apply on a filled store, in process (issue 14, single-record ingest):
 * fills an index to BENCH_RECORDS with the bench's record shapes, then times batches of
 * BENCH_BATCH records under each checkpoint mode: SQLite's autocheckpoint on the applying
 * thread (as the server ran before), or a checkpointer on a thread of its own.
 *
 *   flock /tmp/stemedb-bench.lock bun bench/index-apply.ts
 *
 * Environment: BENCH_RECORDS (400000), BENCH_BATCH (500), BENCH_BATCHES (400), BENCH_MODES
 * (auto,worker; also off: no checkpoint at all), BENCH_CHECKPOINT_MS (the worker's interval, 100), BENCH_PAUSE_MS between batches (0; the
 * server applies every 20 ms), BENCH_CACHE_KIB (32768, the server's default), BENCH_SPLIT=1 (time the statements
 * and the COMMIT apart).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { StemeRecord } from "../src/core/record.ts";
import { type IndexEntry, IndexStore } from "../src/index/store.ts";
import { syntheticId } from "./records.ts";

const records = Number(process.env.BENCH_RECORDS ?? 400_000);
const batch = Number(process.env.BENCH_BATCH ?? 500);
const batches = Number(process.env.BENCH_BATCHES ?? 400);
const modes = (process.env.BENCH_MODES ?? "auto,worker").split(",");
const agents = Array.from({ length: 1000 }, (_, i) => {
  const k = new Uint8Array(32);
  new DataView(k.buffer).setUint32(0, i * 2654435761);
  k[31] = i & 255;
  return k;
});

function entry(n: number): IndexEntry {
  const id = syntheticId(n);
  const record = {
    v: 1,
    kind: "assertion",
    agent: agents[n % agents.length],
    ts: 1_700_000_000_000 + n,
    subject: `bench/x/drug/d${n % 5003}`,
    predicate: `risk_pct_${n % 97}`,
    object: n,
    confidence: 0.9,
    source: "bench:synthetic",
  } as unknown as StemeRecord;
  return { lsn: n + 1, id, record, segment: 1, offset: n * 300, recordedAtMs: Date.now() };
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number;
}

const dir = fs.mkdtempSync(path.join(process.env.BENCH_DIR ?? path.join(import.meta.dir, "../.bench"), "index-apply-"));
const file = path.join(dir, "index.sqlite");
let index = IndexStore.open(file, {});
let t = performance.now();
for (let at = 0; at < records; at += 5000) {
  const part: IndexEntry[] = [];
  for (let n = at; n < Math.min(records, at + 5000); n++) part.push(entry(n));
  index.applyBatch(part);
}
index.close();
console.log(`index file ${(fs.statSync(file).size / 1048576).toFixed(0)} MiB`);
console.log(`filled ${records} records in ${((performance.now() - t) / 1000).toFixed(1)} s; load ${os.loadavg()[0]?.toFixed(2)}`);
const base = fs.readFileSync(file);
let next = records;
for (const mode of modes) {
  fs.writeFileSync(file, base); // the same starting file for every mode
  fs.rmSync(`${file}.ids`, { force: true });
  const cacheKiB = Number(process.env.BENCH_CACHE_KIB ?? 32768);
  index = IndexStore.open(file, { cacheKiB });
  if (mode === "worker") index.startCheckpointer(64 * 1024 * 1024, Number(process.env.BENCH_CHECKPOINT_MS ?? 100));
  else if (mode === "off")
    (index as unknown as { sqlite: import("bun:sqlite").Database }).sqlite.exec("PRAGMA wal_autocheckpoint = 0;");
  const pause = Number(process.env.BENCH_PAUSE_MS ?? 0);
  // Fresh LSNs continue from the file's checkpoint.
  next = records;
  const times: number[] = [];
  const statements: number[] = [];
  const commits: number[] = [];
  const split = process.env.BENCH_SPLIT === "1";
  t = performance.now();
  for (let b = 0; b < batches; b++) {
    const part: IndexEntry[] = [];
    for (let i = 0; i < batch; i++) part.push(entry(next++));
    const s = performance.now();
    if (split) {
      // The same work as applyBatch, timed in two parts: the statements, then the COMMIT
      // (where SQLite writes the batch's dirty pages to the WAL, one frame at a time).
      const raw = index as unknown as { sqlite: import("bun:sqlite").Database; insertOne(e: IndexEntry): void };
      raw.sqlite.exec("BEGIN");
      for (const e of part) raw.insertOne(e);
      const m = performance.now();
      raw.sqlite.exec("COMMIT");
      statements.push(m - s);
      commits.push(performance.now() - m);
      index.backgroundCheckpointer?.notify();
    } else index.applyBatch(part);
    times.push(performance.now() - s);
    if (pause > 0) await Bun.sleep(pause); // the server applies every 50 ms, not back to back
  }
  const cp = index.backgroundCheckpointer;
  const wall = performance.now() - t;
  const wal = fs.statSync(`${file}-wal`, { throwIfNoEntry: false })?.size ?? 0;
  const sum = times.reduce((a, b) => a + b, 0);
  console.log(
    `${mode}: ${batches} batches of ${batch}: mean ${(sum / batches).toFixed(2)} ms, p50 ${pct(times, 50).toFixed(2)}, p90 ${pct(times, 90).toFixed(2)}, p99 ${pct(times, 99).toFixed(2)}, max ${Math.max(...times).toFixed(1)} ms; ${Math.round((batch * batches) / (wall / 1000))} records/s; WAL ${(wal / 1048576).toFixed(1)} MiB${cp ? `; ${cp.checkpoints} background checkpoints` : ""}; load ${os.loadavg()[0]?.toFixed(2)}`,
  );
  if (split) {
    const mean = (xs: number[]) => (xs.reduce((a, b) => a + b, 0) / xs.length).toFixed(2);
    console.log(
      `  statements mean ${mean(statements)} ms (p50 ${pct(statements, 50).toFixed(2)}), commit mean ${mean(commits)} ms (p50 ${pct(commits, 50).toFixed(2)})`,
    );
  }
  index.close();
}
fs.rmSync(dir, { recursive: true, force: true });
