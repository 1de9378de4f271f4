/**
 * What happens to a damaged index file (real files, real SQLite through the checksum shim):
 * found at start, it is rebuilt from the log, with a log line and a count; found while
 * serving, the read is refused with `index_damaged`, every later read and write too, a marker
 * is left, and the next start rebuilds; an index from before page checksums is rebuilt as a
 * format change, not reported as damage.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import fs from "node:fs";
import path from "node:path";
import { createLogger } from "../../src/core/logger.ts";
import { damageMarkerPath } from "../../src/index/damage.ts";
import { browseConcepts } from "../../src/index/list.ts";
import { Ingest } from "../../src/ingest/pipeline.ts";
import { createMetrics } from "../../src/metrics/index.ts";
import { Store } from "../../src/store/store.ts";
import {
  buildIndexFixture,
  copyFixture,
  fixtureNow,
  flipByte,
  type IndexFixture,
  pagesByOwner,
} from "../support/index-fixture.ts";

let fixture: IndexFixture;
const dirs: string[] = [];

beforeAll(async () => {
  fixture = await buildIndexFixture();
}, 30_000);
afterAll(() => {
  for (const d of [...dirs.splice(0), fixture.dir]) fs.rmSync(d, { recursive: true, force: true });
});

function copy(): { dir: string; index: string } {
  const dir = copyFixture(fixture);
  dirs.push(dir);
  return { dir, index: path.join(dir, "index.sqlite") };
}

async function open(dir: string) {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger({ write: (line) => lines.push(JSON.parse(line)) });
  const metrics = createMetrics({ processMetrics: false });
  const store = await Store.open(dir, { logger, metrics, now: () => fixtureNow });
  return { store, lines, metrics };
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error("expected a throw");
}

/** Every record of the fixture is found by id and reads back its own body. */
function expectAllRecords(store: Store): void {
  for (const [name, signed] of fixture.records) {
    const loc = store.lookupId(signed.id);
    expect(loc, name).not.toBeNull();
    expect(store.read(loc as NonNullable<typeof loc>).body, name).toEqual(signed.body);
  }
}

describe("damage found at start", () => {
  for (const area of ["records", "refs", "subjects", "sqlite_schema"]) {
    test(`a flipped byte in ${area}'s pages: rebuilt from the log, logged, counted; every record is back`, async () => {
      const { dir, index } = copy();
      const page = pagesByOwner(index).find((p) => p.name === area)?.pageno as number;
      flipByte(index, (page - 1) * 4096 + 2048, 0x40);
      const { store, lines, metrics } = await open(dir);
      try {
        const rebuilt = lines.filter(
          (l) => l.msg === "index: damaged; rebuilding it from the log (the log is intact and is the truth)",
        );
        expect(rebuilt.length).toBe(1);
        expect(String(rebuilt[0]?.found)).toMatch(new RegExp(`page ${page}\\b`));
        expect(await metrics.registry.metrics()).toMatch(/^stemedb_index_damage_detected_total 1$/m);
        expect(store.index.damaged).toBeNull();
        expectAllRecords(store);
      } finally {
        await store.close();
      }
    });
  }

  test("a marker left by a run that found damage: rebuilt, and the marker goes", async () => {
    const { dir, index } = copy();
    fs.writeFileSync(damageMarkerPath(index), JSON.stringify({ at: "2026-01-01T00:00:00Z", found: "planted" }));
    const { store, lines } = await open(dir);
    try {
      expect(lines.some((l) => String(l.found).includes("an earlier run found damage: planted"))).toBe(true);
      expect(fs.existsSync(damageMarkerPath(index))).toBe(false);
      expectAllRecords(store);
    } finally {
      await store.close();
    }
  });

  test("an index written before page checksums is rebuilt as a format change, not counted as damage", async () => {
    const { dir, index } = copy();
    for (const suffix of ["", "-wal", "-shm"]) fs.rmSync(index + suffix, { force: true });
    const old = new Database(index, { create: true, readwrite: true });
    old.exec(
      "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID; INSERT INTO meta VALUES ('format_version', 4);",
    );
    old.close();
    const { store, lines, metrics } = await open(dir);
    try {
      expect(lines.some((l) => l.msg === "index: format changed; rebuilding it from the log")).toBe(true);
      expect(await metrics.registry.metrics()).toMatch(/^stemedb_index_damage_detected_total 0$/m);
      expectAllRecords(store);
    } finally {
      await store.close();
    }
  });
});

describe("damage found while serving", () => {
  test("the read that meets it is refused, then every read and write; a marker makes the next start rebuild", async () => {
    const { dir, index } = copy();
    const { store, lines, metrics } = await open(dir);
    // A page nothing has read since the start: the concept tree's covering index.
    const page = pagesByOwner(index).find((p) => p.name === "sqlite_autoindex_subjects_1")?.pageno as number;
    flipByte(index, (page - 1) * 4096 + 3000, 0x02);
    try {
      expect(thrown(() => browseConcepts(store.index, "", 10))).toMatchObject({ code: "index_damaged", status: 503 });
      expect(store.index.damaged?.message).toContain("SQLITE_IOERR_DATA");
      // Everything after it is refused without touching the file, reads and writes alike.
      const a1 = fixture.records.get("a1");
      expect(thrown(() => store.lookupId(a1?.id as Uint8Array))).toMatchObject({ code: "index_damaged" });
      const ingest = new Ingest(store, { clockSkewMs: 1000, queueRecordsMax: 100, now: () => fixtureNow });
      // Nothing is acknowledged without the duplicate check, which needs the index.
      await expect(
        ingest.submit([{ shape: "cbor", body: a1?.body as Uint8Array, sig: a1?.sig as Uint8Array }]),
      ).rejects.toMatchObject({ code: "index_damaged" });
      expect(store.log.lastLsn).toBe(fixture.records.size);
      expect(lines.filter((l) => l.level === "error" && String(l.msg).startsWith("index: damage detected")).length).toBe(1);
      expect(await metrics.registry.metrics()).toMatch(/^stemedb_index_damaged 1$/m);
      expect(fs.existsSync(damageMarkerPath(index))).toBe(true);
    } finally {
      await store.close();
    }
    const again = await open(dir);
    try {
      expect(again.lines.some((l) => String(l.found).includes("an earlier run found damage"))).toBe(true);
      expect(browseConcepts(again.store.index, "", 10).concepts.map((c) => c.path)).toEqual(["drug", "other"]);
      expectAllRecords(again.store);
    } finally {
      await again.store.close();
    }
  });
});
