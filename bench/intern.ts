/**
 * What the index's intern caches hold while records about ever new subjects are indexed
 * (issue 14, item 2: memory that does not grow with the store). Fills an index in process with
 * BENCH_RECORDS assertions (default 1,000,000), each about a subject of its own, in batches of
 * 500 as the server applies them, and prints the JS heap after a full collection and the batch
 * time at each tenth. `BENCH_TREE=/other/tree` runs another tree's IndexStore (before/after).
 * `BENCH_SUBJECTS=N` draws each record's subject at random from N instead (subjects met again:
 * the bench data sets' 200,000 at 10M records are more than the cache holds).
 *
 *   bun bench/intern.ts
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { heapSize } from "bun:jsc";
import { mix32, syntheticId } from "./records.ts";

const records = Number(process.env.BENCH_RECORDS ?? 1_000_000);
const subjects = process.env.BENCH_SUBJECTS ? Number(process.env.BENCH_SUBJECTS) : null;
const tree = process.env.BENCH_TREE ?? path.resolve(import.meta.dir, "..");
const { IndexStore } = (await import(path.join(tree, "src/index/store.ts"))) as typeof import("../src/index/store.ts");
type IndexEntry = import("../src/index/store.ts").IndexEntry;

const agent = new Uint8Array(32).fill(7);
function entry(n: number): IndexEntry {
  const id = syntheticId(n);
  const record = {
    v: 1,
    kind: "assertion",
    agent,
    ts: 1_700_000_000_000 + n,
    // At random from BENCH_SUBJECTS, reproducibly (mix32), so both trees index the same sequence.
    subject: `bench/entity/e${subjects === null ? n : mix32(n) % subjects}`,
    predicate: "risk",
    object: n,
    confidence: 0.5,
    sig: new Uint8Array(64),
  } as unknown as IndexEntry["record"];
  return { lsn: n + 1, id, record, segment: 1, offset: 48 + n * 200, recordedAtMs: 1_700_000_000_000 + n };
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stemedb-intern-bench-"));
const store = IndexStore.open(path.join(dir, "index.sqlite"));
const heapMb = () => {
  Bun.gc(true);
  return Math.round(heapSize() / 1e5) / 10;
};
const base = heapMb();
const batch = 500;
let spent = 0;
let applied = 0;
const about = subjects === null ? "a subject each" : `subjects drawn at random from ${subjects}`;
console.log(`[bench-intern] ${records} records, ${about}, batches of ${batch}; tree ${tree}; heap at start ${base} MB`);
for (let n = 0; n < records; n += batch) {
  const entries = Array.from({ length: Math.min(batch, records - n) }, (_, i) => entry(n + i));
  const t = performance.now();
  store.applyBatch(entries);
  spent += performance.now() - t;
  applied++;
  if ((n + batch) % (records / 10) === 0) {
    const held = (store as unknown as { internedHeld?: number }).internedHeld;
    console.log(
      JSON.stringify({
        records: n + batch,
        heap_mb: heapMb(),
        interned_held: held ?? "(not counted)",
        batch_ms: Math.round((spent / applied) * 100) / 100,
      }),
    );
    spent = 0;
    applied = 0;
  }
}
store.close();
fs.rmSync(dir, { recursive: true, force: true });
