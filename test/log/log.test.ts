import * as fs from "node:fs";
import { join } from "node:path";
import { describe, expect, spyOn, test } from "bun:test";
import { createMetrics } from "../../src/metrics/index.ts";
import { Log, type LogEntry, verifyLog } from "../../src/log/index.ts";
import { captureLogger, entry, tempDir } from "./helpers.ts";

function expectEntry(got: LogEntry, n: number): void {
  const want = entry(n);
  expect(got.lsn).toBe(n);
  expect(got.recordedAtMs).toBe(want.recordedAtMs);
  expect(got.sig).toEqual(want.sig);
  expect(got.body).toEqual(want.body);
}

describe("append, read, scan", () => {
  test("a new log is empty, with one segment holding just the header", async () => {
    const dir = join(tempDir(), "data", "log");
    const log = await Log.open(dir);
    expect(log.lastLsn).toBe(0);
    expect(log.segmentCount).toBe(1);
    expect(log.diskBytes).toBe(48);
    expect(fs.readdirSync(dir)).toEqual(["0000000001.seg"]);
    expect([...log.scan()]).toEqual([]);
    await log.close();
    await log.close();
  });

  test("round trip: positions, read, scan, consecutive LSNs", async () => {
    const dir = tempDir();
    const log = await Log.open(dir);
    const first = await log.append([entry(1), entry(2), entry(3)]);
    const second = await log.append([entry(4)]);
    expect([...first, ...second].map((p) => p.lsn)).toEqual([1, 2, 3, 4]);
    expect(first[0]).toEqual({ lsn: 1, segment: 1, offset: 48 });
    expect(first[1]?.offset).toBe(48 + 16 + 72 + entry(1).body.length);
    for (const [i, p] of [...first, ...second].entries()) {
      const got = log.read(p.segment, p.offset);
      expectEntry(got, i + 1);
      expect(got.segment).toBe(1);
      expect(got.offset).toBe(p.offset);
    }
    expect([...log.scan()].map((e) => e.lsn)).toEqual([1, 2, 3, 4]);
    expect([...log.scan(3)].map((e) => e.lsn)).toEqual([3, 4]);
    expect([...log.scan(5)]).toEqual([]);
    expect(log.lastLsn).toBe(4);
    expect(log.diskBytes).toBe(fs.statSync(join(dir, "0000000001.seg")).size);
    await log.close();
  });

  test("reopen after close finds everything and continues the LSNs", async () => {
    const dir = tempDir();
    const log = await Log.open(dir);
    await log.append(Array.from({ length: 50 }, (_, i) => entry(i + 1)));
    await log.close();
    const { logger, lines } = captureLogger();
    const again = await Log.open(dir, { logger });
    expect(lines.filter((l) => l.level === "warn")).toEqual([]);
    expect(again.lastLsn).toBe(50);
    const scanned = [...again.scan()];
    expect(scanned.length).toBe(50);
    for (const [i, e] of scanned.entries()) expectEntry(e, i + 1);
    const [p] = await again.append([entry(51)]);
    expect(p?.lsn).toBe(51);
    expectEntry(again.read(p?.segment ?? 0, p?.offset ?? 0), 51);
    await again.close();
  });

  test("1,000 concurrent appends coalesce into few group commits with distinct consecutive LSNs", async () => {
    const metrics = createMetrics({ processMetrics: false });
    const log = await Log.open(tempDir(), { metrics });
    const results = await Promise.all(Array.from({ length: 1000 }, (_, i) => log.append([entry(i + 1)])));
    const lsns = results.map((r) => r[0]?.lsn ?? -1).sort((a, b) => a - b);
    expect(lsns).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    expect(log.commitCount).toBeLessThan(10);
    const writes = (await metrics.walWritesTotal.get()).values[0]?.value;
    expect(writes).toBe(log.commitCount);
    expect((await metrics.walRecordsTotal.get()).values[0]?.value).toBe(1000);
    expect((await metrics.walLastLsn.get()).values[0]?.value).toBe(1000);
    // Each caller gets the position of its own record.
    for (const [r] of results) if (r) expect(log.read(r.segment, r.offset).lsn).toBe(r.lsn);
    await log.close();
  });

  test("appends arriving while a sync is in flight form the next batch", async () => {
    const log = await Log.open(tempDir());
    const first = log.append([entry(1)]);
    await Promise.resolve();
    await Promise.resolve();
    const rest = Array.from({ length: 100 }, (_, i) => log.append([entry(i + 2)]));
    await Promise.all([first, ...rest]);
    expect(log.commitCount).toBeLessThanOrEqual(3);
    expect(log.lastLsn).toBe(101);
    await log.close();
  });

  test("close waits for the in-flight batch; appends after close reject", async () => {
    const dir = tempDir();
    const log = await Log.open(dir);
    const pending = log.append([entry(1), entry(2)]);
    await log.close();
    expect((await pending).length).toBe(2);
    await expect(log.append([entry(3)])).rejects.toMatchObject({ code: "log_closed" });
    const again = await Log.open(dir);
    expect(again.lastLsn).toBe(2);
    await again.close();
  });

  test("bad entries are refused at the boundary without failing the log", async () => {
    const log = await Log.open(tempDir());
    const good = entry(1);
    await expect(log.append([{ ...good, sig: new Uint8Array(63) }])).rejects.toBeInstanceOf(RangeError);
    await expect(log.append([{ ...good, body: new Uint8Array(0) }])).rejects.toBeInstanceOf(RangeError);
    await expect(log.append([{ ...good, body: new Uint8Array(131072 - 72 + 1) }])).rejects.toBeInstanceOf(RangeError);
    await expect(log.append([{ ...good, recordedAtMs: -1 }])).rejects.toBeInstanceOf(RangeError);
    await expect(log.append([{ ...good, body: "x" as unknown as Uint8Array }])).rejects.toBeInstanceOf(TypeError);
    const [p] = await log.append([{ ...good, body: new Uint8Array(131072 - 72).fill(7) }]);
    expect(log.read(1, p?.offset ?? 0).body.length).toBe(131072 - 72);
    expect(log.lastLsn).toBe(1);
    expect(() => log.read(2, 48)).toThrow(RangeError);
    expect(() => log.read(1, 10_000_000)).toThrow(RangeError);
    expect(() => log.read(1, 0)).toThrow(RangeError);
    await log.close();
  });

  test("read re-checks the CRC of a record damaged on disk", async () => {
    const dir = tempDir();
    const log = await Log.open(dir);
    const [, second] = await log.append([entry(1), entry(2)]);
    // pwrite one byte in place (no truncation) under the open log.
    const fd = fs.openSync(join(dir, "0000000001.seg"), "r+");
    fs.writeSync(fd, new Uint8Array([0xee]), 0, 1, (second?.offset ?? 0) + 50);
    fs.closeSync(fd);
    expect(() => log.read(1, second?.offset ?? 0)).toThrow(expect.objectContaining({ code: "log_corrupt" }));
    expect(() => [...log.scan()]).toThrow(expect.objectContaining({ code: "log_corrupt" }));
    expect(log.read(1, 48).lsn).toBe(1);
    await log.close();
  });

  test("sync=none says so loudly and still writes", async () => {
    const dir = tempDir();
    const { logger, lines } = captureLogger();
    const log = await Log.open(dir, { sync: "none", logger });
    expect(lines.filter((l) => l.level === "warn").map((l) => l.msg)).toEqual([
      "sync=none: acknowledged writes can be lost on power failure; use only for benchmarks",
    ]);
    await log.append([entry(1)]);
    await log.close();
    expect(verifyLog(dir).records).toBe(1);
  });
});

describe("rotation", () => {
  test("small segments: many files, scan across them, sealed reads by pread (no mapping kept), reopen", async () => {
    const dir = tempDir();
    const metrics = createMetrics({ processMetrics: false });
    const log = await Log.open(dir, { segmentBytesMax: 4096, metrics, now: () => 42 });
    const positions = [];
    for (let i = 0; i < 40; i++) positions.push(...(await log.append(Array.from({ length: 5 }, (_, k) => entry(i * 5 + k + 1)))));
    expect(log.segmentCount).toBeGreaterThan(5);
    const files = fs.readdirSync(dir).sort();
    expect(files.length).toBe(log.segmentCount);
    expect(files[0]).toBe("0000000001.seg");
    for (const f of files) expect(fs.statSync(join(dir, f)).size).toBeLessThanOrEqual(4096);
    expect(log.diskBytes).toBe(files.reduce((sum, f) => sum + fs.statSync(join(dir, f)).size, 0));
    expect((await metrics.walRotationsTotal.get()).values[0]?.value).toBe(log.segmentCount - 1);
    expect((await metrics.walSegments.get()).values[0]?.value).toBe(log.segmentCount);
    // Every position, sealed or active, reads back its own record, and a read maps nothing: a
    // mapping kept would hold every page read in the resident set (a spy that calls through).
    const mmap = spyOn(Bun, "mmap");
    for (const p of positions) expectEntry(log.read(p.segment, p.offset), p.lsn);
    for (const p of positions) expectEntry(log.read(p.segment, p.offset), p.lsn);
    expect(mmap.mock.calls.length).toBe(0);
    mmap.mockRestore();
    expect(new Set(positions.map((p) => p.segment)).size).toBe(log.segmentCount);
    expect([...log.scan()].map((e) => e.lsn)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    expect([...log.scan(137)].map((e) => e.lsn)).toEqual(Array.from({ length: 64 }, (_, i) => i + 137));
    const segmentCount = log.segmentCount;
    await log.close();

    const again = await Log.open(dir, { segmentBytesMax: 4096 });
    expect(again.segmentCount).toBe(segmentCount);
    expect(again.lastLsn).toBe(200);
    for (const [i, e] of [...again.scan()].entries()) expectEntry(e, i + 1);
    for (const p of positions) expect(again.read(p.segment, p.offset).lsn).toBe(p.lsn);
    await again.append([entry(201)]);
    expect([...again.scan(200)].map((e) => e.lsn)).toEqual([200, 201]);
    await again.close();
    expect(verifyLog(dir)).toMatchObject({ ok: true, records: 201, lastLsn: 201, segments: segmentCount });
  });

  test("each segment header names its first LSN; a batch larger than a segment is not split", async () => {
    const dir = tempDir();
    const log = await Log.open(dir, { segmentBytesMax: 1024 });
    await log.append([entry(1)]);
    const big = await log.append(Array.from({ length: 20 }, (_, i) => entry(i + 2)));
    expect(new Set(big.map((p) => p.segment))).toEqual(new Set([2]));
    expect(big[0]?.offset).toBe(48);
    await log.append([entry(22)]);
    expect(log.segmentCount).toBe(3);
    const header2 = new DataView(fs.readFileSync(join(dir, "0000000002.seg")).buffer);
    expect(header2.getBigUint64(24, true)).toBe(2n);
    const header3 = new DataView(fs.readFileSync(join(dir, "0000000003.seg")).buffer);
    expect(header3.getBigUint64(24, true)).toBe(22n);
    expect([...log.scan()].map((e) => e.lsn)).toEqual(Array.from({ length: 22 }, (_, i) => i + 1));
    await log.close();
  });
});
