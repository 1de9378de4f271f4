import { afterEach, beforeEach, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { auditValueCharsMax, type QueryAuditEntry, QueryAuditLog } from "../../src/audit/query-log.ts";

let dir: string;
let clock = 1_800_000_000_000;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "stemedb-audit-"));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const entry = (i: number, extra: Partial<QueryAuditEntry> = {}): QueryAuditEntry => ({
  at: clock + i,
  caller: i % 2 ? "10.0.0.1" : "10.0.0.2",
  requestId: `r-${i}`,
  subject: `s/${i % 3}`,
  predicate: "p",
  lens: "consensus",
  params: {},
  winner: null,
  value: i === 7 ? { big: "x".repeat(1000) } : i,
  conflict: 0.5,
  support: 0.5,
  lsn: i,
  fromView: false,
  ...extra,
});

const lsns = (page: { items: Array<Record<string, unknown>> }) => page.items.map((e) => e.lsn);

test("retention keeps at least the newest entriesMax, dropping whole batches, and drops entries past the age bound", () => {
  const log = QueryAuditLog.open(path.join(dir, "audit.sqlite"), {
    retention: { entriesMax: 50, ageMaxMs: 10_000 },
    now: () => clock,
  });
  for (let b = 0; b < 12; b++) {
    for (let i = 0; i < 10; i++) log.record(entry(b * 10 + i));
    log.flush(); // one batch of 10
  }
  const kept = lsns(log.list({ limit: 1000 }));
  expect(kept).toHaveLength(50);
  expect(kept[0]).toBe(119);
  expect(kept.at(-1)).toBe(70);
  clock += 20_000; // every entry is now older than the bound
  log.record(entry(0, { lsn: 1000 }));
  log.flush();
  log.prune();
  expect(lsns(log.list({ limit: 1000 }))).toEqual([1000]);
  log.close();
});

test("paging newest first across batches; filters combine; long values are cut; entries survive a reopen", () => {
  const file = path.join(dir, "audit.sqlite");
  let log = QueryAuditLog.open(file, { now: () => clock });
  for (let i = 0; i < 12; i++) {
    log.record(entry(i));
    if (i % 5 === 4) log.flush(); // batches of 5, 5, 2
  }
  log.close(); // writes what is buffered
  log = QueryAuditLog.open(file, { now: () => clock });
  const pages: unknown[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = log.list({ limit: 4, ...(cursor ? { cursor } : {}) });
    pages.push(...lsns(page));
    if (page.next === null) break;
    cursor = page.next;
  }
  expect(pages).toEqual([11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
  const some = log.list({ subject: "s/1", caller: "10.0.0.1", limit: 100 });
  expect(lsns(some)).toEqual([7, 1]);
  expect(typeof some.items[0]?.value).toBe("string"); // cut JSON comes back as text
  expect(String(some.items[0]?.value).length).toBe(auditValueCharsMax);
  expect(some.items[1]?.value).toBe(1);
  expect(lsns(log.list({ since: clock + 10, limit: 100 }))).toEqual([11, 10]);
  expect(lsns(log.list({ until: clock + 1, limit: 100 }))).toEqual([1, 0]);
  log.record(entry(12));
  expect(lsns(log.list({ limit: 1 }))).toEqual([12]); // a read sees what was just recorded
  log.close();
});
