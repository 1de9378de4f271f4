/**
 * The index's background checkpointer (src/index/checkpointer.ts), on real files through the
 * checksum shim: it keeps the WAL bounded under continuous batches (and without it the WAL is
 * not), the applying connection's own bound holds when the thread is gone, a failing
 * checkpointer is logged and leaves writes alone, and a clean stop still removes the WAL and
 * keeps the id table file for the next start.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createLogger } from "../../src/core/logger.ts";
import type { StemeRecord } from "../../src/core/record.ts";
import { IndexCheckpointer } from "../../src/index/checkpointer.ts";
import { idTableFilePath } from "../../src/index/id-table-file.ts";
import { type IndexEntry, IndexStore } from "../../src/index/store.ts";

let dir: string;
let indexPath: string;
let lines: Array<Record<string, unknown>>;
const MiB = 1024 * 1024;
const agents = Array.from({ length: 300 }, (_, i) => new Uint8Array(32).fill(i % 251).map((b, j) => (j === 0 ? i >> 8 : b)));

/** Entry `n` (LSN n + 1): random-ish subjects and agents, so each batch dirties many index pages. */
function entry(n: number): IndexEntry {
  const id = new Uint8Array(32);
  const v = new DataView(id.buffer);
  for (let i = 0; i < 8; i++) v.setUint32(i * 4, Math.imul(n + 1, 2654435761 + i * 40503) >>> 0);
  const record = {
    v: 1,
    kind: "assertion",
    agent: agents[(n * 7919) % agents.length],
    ts: 1_700_000_000_000 + n,
    subject: `t/s${(n * 104729) % 20011}`,
    predicate: `p${n % 13}`,
    object: n,
    confidence: 0.5,
  } as unknown as StemeRecord;
  return { lsn: n + 1, id, record, segment: 1, offset: n * 100, recordedAtMs: 1000 + n };
}

function batch(from: number, count: number): IndexEntry[] {
  return Array.from({ length: count }, (_, i) => entry(from + i));
}

function open(): IndexStore {
  const logger = createLogger({ level: "info", write: (line) => lines.push(JSON.parse(line)) });
  return IndexStore.open(indexPath, { logger });
}

function walBytes(): number {
  return fs.statSync(`${indexPath}-wal`, { throwIfNoEntry: false })?.size ?? 0;
}

/** An index of `n` records, then `batches` batches of 500 applied with a pause between (as the server applies); the largest WAL seen. */
async function load(store: IndexStore, n: number, batches: number): Promise<number> {
  for (let at = 0; at < n; at += 5000) store.applyBatch(batch(at, 5000));
  let max = 0;
  for (let b = 0; b < batches; b++) {
    store.applyBatch(batch(n + b * 500, 500));
    max = Math.max(max, walBytes());
    await Bun.sleep(20); // the server applies every 50 ms
  }
  return max;
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "stemedb-ckpt-"));
  indexPath = path.join(dir, "index.sqlite");
  lines = [];
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("the background checkpointer", () => {
  test("keeps the WAL about a batch long under continuous writes; without it the WAL grows", async () => {
    // The applying connection's own bound at 1 GiB: only the thread checkpoints.
    const store = open();
    store.startCheckpointer(1024 * MiB);
    const withThread = await load(store, 40_000, 60);
    const cp = store.backgroundCheckpointer as IndexCheckpointer;
    await Bun.sleep(50); // the last replies
    expect(cp.checkpoints).toBeGreaterThan(30);
    expect(cp.failure).toBeNull();
    store.close();

    // The same load with the applying connection's checkpoints off and no thread.
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir);
    const bare = open();
    (bare as unknown as { sqlite: { exec(sql: string): void } }).sqlite.exec("PRAGMA wal_autocheckpoint = 0;");
    const without = await load(bare, 40_000, 60);
    bare.close();
    console.log(
      `largest WAL: ${(withThread / MiB).toFixed(1)} MiB with the checkpointer, ${(without / MiB).toFixed(1)} MiB without`,
    );
    expect(without).toBeGreaterThan(48 * MiB);
    expect(withThread).toBeLessThan(16 * MiB);
  }, 60_000);

  test("with an interval (100 ms), batches share checkpoints and the WAL stays bounded", async () => {
    const store = open();
    store.startCheckpointer(1024 * MiB, 100);
    const max = await load(store, 40_000, 60); // ≥ 1.2 s of batches 20 ms apart
    const cp = store.backgroundCheckpointer as IndexCheckpointer;
    await Bun.sleep(250);
    console.log(`interval 100 ms: ${cp.checkpoints} checkpoints for 60 batches, largest WAL ${(max / MiB).toFixed(1)} MiB`);
    expect(cp.checkpoints).toBeGreaterThanOrEqual(3);
    expect(cp.checkpoints).toBeLessThanOrEqual(40);
    expect(max).toBeLessThan(24 * MiB); // the same load without checkpoints: > 48 MiB (above)
    store.close();
    expect(fs.existsSync(`${indexPath}-wal`)).toBe(false);
  }, 60_000);

  test("the applying connection's bound holds when the thread is gone", async () => {
    const store = open();
    store.startCheckpointer(8 * MiB);
    (store.backgroundCheckpointer as IndexCheckpointer).stop(); // as if it had died
    const max = await load(store, 40_000, 80);
    // The bound, plus the one batch whose commit crossed it.
    expect(max).toBeLessThan(12 * MiB);
    expect(max).toBeGreaterThan(6 * MiB); // it did not checkpoint every ~4 MiB as before
    store.close();
  }, 60_000);

  test("a checkpointer that cannot open the index logs one error and stops cleanly", async () => {
    const logger = createLogger({ level: "info", write: (line) => lines.push(JSON.parse(line)) });
    const cp = new IndexCheckpointer(path.join(dir, "missing.sqlite"), { logger, onDamage: () => {}, intervalMs: 0 });
    for (let i = 0; i < 100 && cp.failure === null; i++) await Bun.sleep(20);
    expect(cp.failure).toMatch(/opening the index/);
    cp.notify();
    cp.notify();
    await Bun.sleep(50);
    const errors = lines.filter(
      (l) => l.msg === "index: background checkpoint failed; the applying thread checkpoints past the WAL bound",
    );
    expect(errors.length).toBe(1);
    const started = performance.now();
    cp.stop();
    expect(performance.now() - started).toBeLessThan(1000);
    expect(fs.existsSync(path.join(dir, "missing.sqlite"))).toBe(false); // never created
  });

  test("writes go on while the checkpointer fails, and every record is indexed", async () => {
    const store = open();
    store.startCheckpointer(8 * MiB);
    const cp = store.backgroundCheckpointer as IndexCheckpointer;
    // The thread ends under it (as a crash of the thread would).
    (cp as unknown as { worker: Worker }).worker.terminate();
    await load(store, 10_000, 20);
    expect(cp.failure).toBe("the checkpointer thread ended");
    expect(
      lines.filter((l) => l.msg === "index: background checkpoint failed; the applying thread checkpoints past the WAL bound")
        .length,
    ).toBe(1);
    expect(store.checkpointLsn).toBe(20_000);
    expect(store.lookupId(entry(19_999).id)?.lsn).toBe(20_000);
    const started = performance.now();
    store.close(); // does not hang on the ended thread
    expect(performance.now() - started).toBeLessThan(2000);
  }, 60_000);

  test("a clean stop removes the WAL and the next open reads the id table back", async () => {
    const store = open();
    store.startCheckpointer(64 * MiB);
    await load(store, 10_000, 20);
    await Bun.sleep(50);
    expect((store.backgroundCheckpointer as IndexCheckpointer).checkpoints).toBeGreaterThan(0);
    store.close();
    expect(fs.existsSync(`${indexPath}-wal`)).toBe(false);
    expect(fs.existsSync(idTableFilePath(indexPath))).toBe(true);
    lines = [];
    const again = open();
    expect(lines.some((l) => l.msg === "index: id table read back")).toBe(true);
    expect(again.checkpointLsn).toBe(20_000);
    expect(again.lookupId(entry(12_345).id)?.lsn).toBe(12_346);
    again.close();
  }, 60_000);
});
