/**
 * What one Merkle-root refresh costs the process (docs/BENCHMARKS.md, "The loading server's peak
 * at 1M"): runs `dataDirRoot` on a worker thread, as the server does every 30 s, over an
 * existing data dir, and prints the process's RSS and peak RSS (`VmHWM`) before and after.
 *
 *   bun bench/root-memory.ts DATA_DIR [SOURCE_TREE]
 *
 * SOURCE_TREE (default: this one) is a checkout whose `src/backup/root.ts` is used, to compare
 * two commits in one sitting. Keep a store with `BENCH_KEEP=1 make bench-memory`.
 */
import fs from "node:fs";
import path from "node:path";

const [dataDir, tree = path.resolve(import.meta.dir, "..")] = process.argv.slice(2);
if (!dataDir || !fs.existsSync(dataDir)) {
  console.error("usage: bun bench/root-memory.ts DATA_DIR [SOURCE_TREE]");
  process.exit(2);
}

// Not serve-proc.ts's vm(): importing it (and the signing code behind it) adds ≈ 18 MB to the
// baseline this measures against.
function memory(): { rss_mb: number; hwm_mb: number } {
  const status = fs.readFileSync("/proc/self/status", "utf8");
  const mb = (key: string) => Math.round(Number(status.match(new RegExp(`${key}:\\s+(\\d+)`))?.[1] ?? 0) / 102.4) / 10;
  return { rss_mb: mb("VmRSS"), hwm_mb: mb("VmHWM") };
}

const before = memory();
const source = `import { dataDirRoot } from ${JSON.stringify(path.join(path.resolve(tree), "src/backup/root.ts"))};
self.onmessage = (e) => { const t = performance.now(); const report = dataDirRoot(e.data); self.postMessage({ report, ms: performance.now() - t }); };`;
const worker = new Worker(URL.createObjectURL(new Blob([source], { type: "application/typescript" })));
const answer = await new Promise<{ report: unknown; ms: number }>((resolve) => {
  worker.onmessage = (event) => resolve(event.data);
  worker.postMessage(path.resolve(dataDir));
});
worker.terminate();
console.log(
  JSON.stringify({ tree: path.resolve(tree), before, after: memory(), ms: Math.round(answer.ms), ...(answer.report as object) }),
);
