/**
 * `verifyIndex` (stemedb verify --index): clean on a good store, and finds a planted mismatch
 * in each thing it checks — the file (header, marker, format), the pages, every records field,
 * coverage both ways, refs both ways and their keys, the interned tables.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import path from "node:path";
import { damageMarkerPath } from "../../src/index/damage.ts";
import { type IndexFindingArea, verifyIndex } from "../../src/store/verify-index.ts";
import { buildIndexFixture, copyFixture, flipByte, type IndexFixture, pagesByOwner, tamper } from "../support/index-fixture.ts";

let fixture: IndexFixture;
const dirs: string[] = [];

beforeAll(async () => {
  fixture = await buildIndexFixture();
}, 30_000);
afterAll(() => {
  for (const d of [...dirs.splice(0), fixture.dir]) fs.rmSync(d, { recursive: true, force: true });
});

function copy(): string {
  const dir = copyFixture(fixture);
  dirs.push(dir);
  return dir;
}

test("a good store is clean: every row and reference checked against the log", async () => {
  const report = await verifyIndex(copy());
  expect(report).toMatchObject({
    ok: true,
    indexLsn: fixture.records.size,
    records: fixture.records.size,
    refs: 5,
    findings: [],
  });
  expect(report.pages).toBeGreaterThan(10);
});

test("no index at all is not damage (the server builds it)", async () => {
  const dir = copy();
  fs.rmSync(path.join(dir, "index.sqlite"));
  expect(await verifyIndex(dir)).toMatchObject({ ok: true, note: expect.stringContaining("no index") });
});

/** SQL for the interned id of a string. */
const interned = (table: string, column: string, value: string) => `(SELECT id FROM ${table} WHERE ${column} = '${value}')`;

// LSN 2 is a1 (alice, drug/aspirin, risk, src/a); LSN 6 is a5 (other/thing, size, no source).
const planted: Array<[string, string, IndexFindingArea, RegExp]> = [
  [
    "a row's id",
    "UPDATE records SET id = zeroblob(32) WHERE lsn = 2",
    "records",
    /LSN 2 disagrees with the log: id 0{64} \(the body hashes to/,
  ],
  ["a row's place", "UPDATE records SET offset = offset + 1 WHERE lsn = 2", "records", /LSN 2 .*place segment 1 offset/],
  ["a row's kind", "UPDATE records SET kind = 6 WHERE lsn = 2", "records", /kind 6 \(the record is a assertion\)/],
  [
    "a row's agent",
    "UPDATE records SET agent = (SELECT agent FROM records WHERE lsn = 3) WHERE lsn = 2",
    "records",
    /LSN 2 .*agent/,
  ],
  ["a row's ts", "UPDATE records SET ts = ts + 1 WHERE lsn = 2", "records", /LSN 2 .*ts \d+ \(the record says/],
  [
    "a row's subject",
    `UPDATE records SET subject = ${interned("subjects", "path", "other/thing")} WHERE lsn = 2`,
    "records",
    /LSN 2 .*subject/,
  ],
  [
    "a row's predicate",
    `UPDATE records SET predicate = ${interned("predicates", "name", "size")} WHERE lsn = 2`,
    "records",
    /predicate/,
  ],
  ["a row's source", "UPDATE records SET source = NULL WHERE lsn = 2", "records", /LSN 2 .*source null/],
  ["a row's recorded_at", "UPDATE records SET recorded_at = 1 WHERE lsn = 2", "records", /recorded_at 1 \(the log says/],
  ["a row naming a missing interned id", "UPDATE records SET predicate = 999 WHERE lsn = 6", "records", /LSN 6 .*predicate 999/],
  ["a missing row", "DELETE FROM records WHERE lsn = 4", "coverage", /LSN 4 \(id [0-9a-f]{64}\) is in the log but has no row/],
  [
    "a stray row",
    "INSERT INTO records SELECT 99, id, kind, agent, ts, subject, predicate, source, segment, offset, recorded_at FROM records WHERE lsn = 2",
    "coverage",
    /a row for LSN 99/,
  ],
  [
    "a reference the record does not make",
    "INSERT INTO refs SELECT dst8, 6, 3, dst FROM refs LIMIT 1",
    "refs",
    /LSN 6 has a reference \(rel 3\)/,
  ],
  [
    "a missing reference",
    "DELETE FROM refs WHERE src = 4",
    "refs",
    /LSN 4 refers to [0-9a-f]{64} \(rel 1\) but has no reference row/,
  ],
  ["a reference's key", "UPDATE refs SET dst8 = dst8 + 1 WHERE src = 4", "refs", /LSN 4: dst8 .* is not the first 8 bytes/],
  [
    "a subject's reversed path",
    "UPDATE subjects SET rpath = 'x' WHERE path = 'drug/aspirin'",
    "interned",
    /drug\/aspirin\) has reversed path x/,
  ],
  ["the format version", "UPDATE meta SET value = 3 WHERE key = 'format_version'", "file", /format_version is 3/],
];

describe("a planted mismatch is found", () => {
  for (const [what, sql, area, message] of planted) {
    test(what, async () => {
      const dir = copy();
      tamper(dir, sql);
      const report = await verifyIndex(dir);
      expect(report.ok).toBe(false);
      expect(report.counts[area]).toBeGreaterThanOrEqual(1);
      expect(report.findings.filter((f) => f.area === area).map((f) => f.message)).toContainEqual(expect.stringMatching(message));
    });
  }

  test("a flipped byte in a page: the page scan and SQLite's integrity check", async () => {
    const dir = copy();
    const index = path.join(dir, "index.sqlite");
    const page = pagesByOwner(index).find((p) => p.name === "refs")?.pageno as number;
    flipByte(index, (page - 1) * 4096 + 100);
    const report = await verifyIndex(dir, { scanAttempts: 1 });
    expect(report.findings).toContainEqual({
      area: "pages",
      message: `1 of ${report.pages} pages fail their checksum (the first is page ${page})`,
    });
    expect(report.counts.sqlite).toBeGreaterThanOrEqual(1);
  });

  test("page 1's reserved-bytes field, and a damage marker", async () => {
    const dir = copy();
    const index = path.join(dir, "index.sqlite");
    fs.writeFileSync(damageMarkerPath(index), JSON.stringify({ at: "2026-01-01T00:00:00Z", found: "planted" }));
    flipByte(index, 20, 0x08);
    const report = await verifyIndex(dir);
    expect(report.findings.map((f) => f.message)).toEqual([
      "a damage marker: planted (at 2026-01-01T00:00:00Z) (the next start rebuilds the index)",
      "page 1 states 0 reserved bytes per page, not 8",
    ]);
  });

  test("findings beyond the first N are counted, not listed", async () => {
    const dir = copy();
    tamper(dir, "UPDATE records SET recorded_at = 1");
    const report = await verifyIndex(dir, { findingsMax: 3 });
    expect(report.findings.length).toBe(3);
    expect(report.counts.records).toBe(fixture.records.size);
  });
});
