/**
 * What filing subjects under their shard (index format 6) costs the index: `applyBatch` of
 * assertions in batches of 5,000, every record about a new subject (the worst case: the shard
 * is computed, and its index entry written, once per new subject) and every record about one of
 * 5,003 subjects (what `make bench` sends). Run it here and at the commit before the shard
 * column (`git archive` it elsewhere, `bun bench/index-shards.ts` there) to compare.
 *
 *   bun bench/index-shards.ts [records]
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { validateRecord } from "../src/core/record.ts";
import { recordId } from "../src/crypto/hash.ts";
import { encodeBody } from "../src/crypto/signed.ts";
import { type IndexEntry, IndexStore } from "../src/index/store.ts";

const records = Number(process.argv[2] ?? 200_000);
const agent = "ab".repeat(32);

function entries(distinctSubjects: number | null, tag: string): IndexEntry[] {
  const out: IndexEntry[] = [];
  for (let i = 0; i < records; i++) {
    const record = validateRecord(
      {
        v: 1,
        kind: "assertion",
        agent,
        ts: 1_700_000_000_000 + i,
        subject: `bench/${tag}/drug/d${distinctSubjects === null ? i : i % distinctSubjects}`,
        predicate: `p${i % 97}`,
        object: i,
        confidence: 0.9,
      },
      "json",
    );
    out.push({ lsn: i + 1, id: recordId(encodeBody(record)), record, segment: 1, offset: i * 200, recordedAtMs: 0 });
  }
  return out;
}

function run(name: string, list: IndexEntry[]): void {
  const dir = fs.mkdtempSync(path.join(process.cwd(), ".bench-index-shards-"));
  try {
    const index = IndexStore.open(path.join(dir, "index.sqlite"));
    const started = performance.now();
    for (let i = 0; i < list.length; i += 5000) index.applyBatch(list.slice(i, i + 5000));
    const secs = (performance.now() - started) / 1000;
    index.close();
    console.log(`${name.padEnd(24)} ${Math.round(list.length / secs).toLocaleString("en")} records/s`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

console.log(
  `load average ${os
    .loadavg()
    .map((x) => x.toFixed(1))
    .join(" ")}; ${records} records`,
);
const unique = entries(null, "u");
const shared = entries(5003, "s");
for (let round = 0; round < 3; round++) {
  run("every subject new", unique);
  run("5,003 subjects", shared);
}
