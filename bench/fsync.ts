/**
 * `bun bench/fsync.ts [SECONDS]`: the log's durability cost on this disk, without a server.
 *
 * 1. Raw: what one fdatasync of a log-sized append costs, one at a time and with 2, 3 and 4
 *    overlapping (the log's `--syncs-in-flight`; src/log/writer.ts). Each "writer" appends
 *    6,000 bytes (a group commit of ~20 records) at the file's end and fdatasyncs it, in a loop.
 * 2. The log: 64 appenders in a closed loop, each waiting ~1 ms (a timer: the rest of a
 *    request's path) and then appending one 180-byte record with `Log.append`, at 1, 2 and 3
 *    syncs in flight: appends/s, records per commit, append latency.
 *
 * Files are under `.bench/` on the data disk (never /tmp, which may be tmpfs). Recorded
 * figures: docs/BENCHMARKS.md#single-record-ingest-issue-14.
 */
import * as fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Log } from "../src/log/index.ts";

const seconds = Number(process.argv[2] ?? 2);
const dir = path.resolve(import.meta.dir, "..", ".bench");
fs.mkdirSync(dir, { recursive: true });
const file = path.join(dir, `fsync-${process.pid}.tmp`);
const fd = fs.openSync(file, "w+");
const extra = [fs.openSync(file, "r"), fs.openSync(file, "r"), fs.openSync(file, "r")];
const batch = new Uint8Array(6000).fill(7);
let end = 0;

const datasync = (f: number) => new Promise<void>((resolve, reject) => fs.fdatasync(f, (e) => (e ? reject(e) : resolve())));

async function run(inFlight: number): Promise<void> {
  const latencies: number[] = [];
  const until = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: inFlight }, async (_, slot) => {
      const syncFd = slot === 0 ? fd : (extra[slot - 1] as number);
      while (performance.now() < until) {
        fs.writeSync(fd, batch, 0, batch.length, end);
        end += batch.length;
        const started = performance.now();
        await datasync(syncFd);
        latencies.push(performance.now() - started);
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  const q = (p: number) => (latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] as number).toFixed(2);
  const mean = latencies.reduce((s, x) => s + x, 0) / latencies.length;
  console.log(
    `${inFlight} in flight: ${Math.round(latencies.length / seconds)} syncs/s, mean ${mean.toFixed(2)} ms, p50 ${q(0.5)}, p90 ${q(0.9)}, p99 ${q(0.99)} ms`,
  );
}

async function runLog(syncsInFlight: number): Promise<void> {
  const logDir = fs.mkdtempSync(path.join(dir, "fsync-log-"));
  const log = await Log.open(logDir, { syncsInFlight });
  const body = new Uint8Array(180).fill(1);
  const sig = new Uint8Array(64).fill(2);
  const latencies: number[] = [];
  const until = performance.now() + seconds * 1000;
  try {
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (performance.now() < until) {
          await new Promise((r) => setTimeout(r, 1));
          const started = performance.now();
          await log.append([{ body, sig, recordedAtMs: Date.now() }]);
          latencies.push(performance.now() - started);
        }
      }),
    );
  } finally {
    await log.close();
    fs.rmSync(logDir, { recursive: true, force: true });
  }
  latencies.sort((a, b) => a - b);
  const q = (p: number) => (latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] as number).toFixed(2);
  const perCommit = (latencies.length / log.commitCount).toFixed(1);
  console.log(
    `log, ${syncsInFlight} in flight: ${Math.round(latencies.length / seconds)} appends/s, ${perCommit} records/commit, append p50 ${q(0.5)}, p99 ${q(0.99)} ms`,
  );
}

const load = () =>
  os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(" ");
console.log(`fdatasync of 6,000-byte appends, ${seconds} s each; load ${load()}`);
try {
  for (const n of [1, 2, 3, 4, 1, 2]) await run(n);
} finally {
  for (const f of [fd, ...extra]) fs.closeSync(f);
  fs.rmSync(file, { force: true });
}
console.log(`Log.append: 64 appenders, ~1 ms between appends, ${seconds} s each; load ${load()}`);
for (const n of [1, 2, 3, 1, 2, 3]) await runLog(n);
console.log(`load at end ${load()}`);
