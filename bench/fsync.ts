/**
 * `bun bench/fsync.ts [SECONDS]`: what one fdatasync of a log-sized append costs on this disk,
 * one at a time and with 2, 3 and 4 overlapping (the log's `--syncs-in-flight`;
 * src/log/writer.ts). Each "writer" appends 6,000 bytes (a group commit of ~20 records) at the
 * file's end and fdatasyncs it, in a loop; the file is under `.bench/` on the data disk (never
 * /tmp, which may be tmpfs). Recorded figures: docs/BENCHMARKS.md#single-record-ingest-issue-14.
 */
import * as fs from "node:fs";
import os from "node:os";
import path from "node:path";

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

console.log(
  `fdatasync of 6,000-byte appends, ${seconds} s each; load ${os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(" ")}`,
);
try {
  for (const n of [1, 2, 3, 4, 1, 2]) await run(n);
} finally {
  for (const f of [fd, ...extra]) fs.closeSync(f);
  fs.rmSync(file, { force: true });
}
