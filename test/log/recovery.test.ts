import * as fs from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "bun:test";
import { StemeError } from "../../src/core/errors.ts";
import { createMetrics } from "../../src/metrics/index.ts";
import { Log, type LogOptions, type LogPosition, verifyLog } from "../../src/log/index.ts";
import { captureLogger, copyDir, entry, tempDir } from "./helpers.ts";

const seg1 = "0000000001.seg";

/** Writes `count` records (one append each, so they spread over segments if small) and closes. */
async function writeLog(dir: string, count: number, segmentBytesMax?: number): Promise<LogPosition[]> {
  const log = await Log.open(dir, segmentBytesMax === undefined ? {} : { segmentBytesMax });
  const positions: LogPosition[] = [];
  for (let n = 1; n <= count; n++) positions.push(...(await log.append([entry(n)])));
  await log.close();
  return positions;
}

async function openError(dir: string, options: LogOptions = {}): Promise<StemeError> {
  try {
    const log = await Log.open(dir, options);
    await log.close();
  } catch (err) {
    if (err instanceof StemeError) return err;
    throw err;
  }
  throw new Error("open should have refused the log");
}

function flipByte(path: string, offset: number): void {
  const bytes = fs.readFileSync(path);
  bytes[offset] = (bytes[offset] as number) ^ 0x5a;
  fs.writeFileSync(path, bytes);
}

function snapshot(dir: string): Map<string, Buffer> {
  return new Map(fs.readdirSync(dir).map((f) => [f, fs.readFileSync(join(dir, f))]));
}

describe("torn tail", () => {
  test("cut at every byte offset inside the last frame: N-1 survive, one warn, append continues at N", async () => {
    const N = 6;
    const original = tempDir();
    const positions = await writeLog(original, N);
    const lastFrameStart = positions[N - 1]?.offset ?? 0;
    const fileBytes = fs.statSync(join(original, seg1)).size;
    const work = tempDir();
    let cases = 0;
    for (let cutAt = lastFrameStart + 1; cutAt < fileBytes; cutAt++) {
      const dir = join(work, String(cutAt));
      copyDir(original, dir);
      fs.truncateSync(join(dir, seg1), cutAt);
      expect(verifyLog(dir)).toMatchObject({
        ok: true,
        records: N - 1,
        tornTail: { file: join(dir, seg1), offset: lastFrameStart, bytes: cutAt - lastFrameStart },
      });
      const { logger, lines } = captureLogger();
      const metrics = createMetrics({ processMetrics: false });
      const log = await Log.open(dir, { logger, metrics });
      const warns = lines.filter((l) => l.level === "warn");
      expect(warns).toEqual([
        expect.objectContaining({
          msg: "log: cut torn tail",
          segment: seg1,
          offset: lastFrameStart,
          bytes_dropped: cutAt - lastFrameStart,
        }),
      ]);
      expect((await metrics.walRecoveryTruncatedBytesTotal.get()).values[0]?.value).toBe(cutAt - lastFrameStart);
      expect((await metrics.walRecoveriesTotal.get()).values).toEqual([
        expect.objectContaining({ labels: { outcome: "torn_tail" }, value: 1 }),
      ]);
      expect(log.lastLsn).toBe(N - 1);
      expect(fs.statSync(join(dir, seg1)).size).toBe(lastFrameStart);
      expect([...log.scan()].map((e) => e.lsn)).toEqual([1, 2, 3, 4, 5]);
      for (const p of positions.slice(0, N - 1)) expect(log.read(p.segment, p.offset).body).toEqual(entry(p.lsn).body);
      const [next] = await log.append([entry(N)]);
      expect(next).toEqual({ lsn: N, segment: 1, offset: lastFrameStart });
      await log.close();
      expect(verifyLog(dir)).toMatchObject({ ok: true, records: N, lastLsn: N });
      expect(verifyLog(dir).tornTail).toBeUndefined();
      fs.rmSync(dir, { recursive: true });
      cases++;
    }
    expect(cases).toBe(fileBytes - lastFrameStart - 1);
  });

  test("a clean open logs nothing and counts a clean recovery", async () => {
    const dir = tempDir();
    await writeLog(dir, 3);
    const { logger, lines } = captureLogger();
    const metrics = createMetrics({ processMetrics: false });
    const log = await Log.open(dir, { logger, metrics });
    expect(lines).toEqual([]);
    expect((await metrics.walRecoveriesTotal.get()).values).toEqual([
      expect.objectContaining({ labels: { outcome: "clean" }, value: 1 }),
    ]);
    await log.close();
  });

  test("garbage after the last frame (a partial zeroed frame) is cut", async () => {
    const dir = tempDir();
    await writeLog(dir, 4);
    const path = join(dir, seg1);
    const goodSize = fs.statSync(path).size;
    fs.appendFileSync(path, new Uint8Array(100));
    const { logger, lines } = captureLogger();
    const log = await Log.open(dir, { logger });
    expect(lines.filter((l) => l.msg === "log: cut torn tail")).toEqual([
      expect.objectContaining({ offset: goodSize, bytes_dropped: 100 }),
    ]);
    expect(log.lastLsn).toBe(4);
    expect(fs.statSync(path).size).toBe(goodSize);
    await log.close();
  });

  test("a checksum-failing last frame is a torn tail", async () => {
    const dir = tempDir();
    const positions = await writeLog(dir, 4);
    const last = positions[3]?.offset ?? 0;
    flipByte(join(dir, seg1), last + 100);
    const { logger, lines } = captureLogger();
    const log = await Log.open(dir, { logger });
    expect(lines.filter((l) => l.msg === "log: cut torn tail")).toEqual([expect.objectContaining({ offset: last })]);
    expect(log.lastLsn).toBe(3);
    await log.close();
  });

  test("a last segment shorter than its header (crash during creation) is removed and remade", async () => {
    const dir = tempDir();
    await writeLog(dir, 30, 1024);
    const files = fs.readdirSync(dir).sort();
    const stubName = `${String(files.length + 1).padStart(10, "0")}.seg`;
    fs.writeFileSync(join(dir, stubName), new Uint8Array(20));
    expect(verifyLog(dir)).toMatchObject({ ok: true, tornTail: { file: join(dir, stubName), offset: 0, bytes: 20 } });
    const { logger, lines } = captureLogger();
    const log = await Log.open(dir, { logger, segmentBytesMax: 1024 });
    expect(lines.filter((l) => l.level === "warn")).toEqual([
      expect.objectContaining({ msg: "log: removed unfinished segment", segment: stubName }),
    ]);
    expect(log.lastLsn).toBe(30);
    const [p] = await log.append([entry(31)]);
    expect(p?.lsn).toBe(31);
    await log.close();
    expect(verifyLog(dir)).toMatchObject({ ok: true, records: 31 });
  });

  test("an empty log directory whose only segment is a stub starts over at LSN 1", async () => {
    const dir = tempDir();
    fs.writeFileSync(join(dir, seg1), new Uint8Array(0));
    const log = await Log.open(dir);
    expect(log.lastLsn).toBe(0);
    expect((await log.append([entry(1)]))[0]).toEqual({ lsn: 1, segment: 1, offset: 48 });
    await log.close();
  });
});

describe("damage before good records", () => {
  test("a flipped byte in a sealed segment refuses to open, names file and offset, changes nothing", async () => {
    const dir = tempDir();
    const positions = await writeLog(dir, 40, 2048);
    const sealed = positions.filter((p) => p.segment === 1);
    expect(fs.readdirSync(dir).length).toBeGreaterThanOrEqual(2);
    const victim = sealed[Math.floor(sealed.length / 2)] as LogPosition;
    const path = join(dir, seg1);
    flipByte(path, victim.offset + 40);
    const before = snapshot(dir);
    const err = await openError(dir);
    expect(err.code).toBe("log_corrupt");
    expect(err.status).toBe(500);
    expect(err.message).toContain(path);
    expect(err.message).toContain(`at byte ${victim.offset}`);
    expect(err.message).toContain("stemedb verify --data-dir");
    expect(err.message).toContain("stemedb repair");
    expect(err.extra).toEqual({ file: path, offset: victim.offset });
    expect(snapshot(dir)).toEqual(before);
    const report = verifyLog(dir);
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([
      { file: path, offset: victim.offset, message: expect.stringContaining("checksum mismatch") },
    ]);
    expect(snapshot(dir)).toEqual(before);
  });

  test("a flipped byte in the last segment before a valid record refuses to open", async () => {
    const dir = tempDir();
    const positions = await writeLog(dir, 5);
    const victim = positions[2] as LogPosition;
    const path = join(dir, seg1);
    flipByte(path, victim.offset + 20);
    const before = snapshot(dir);
    const err = await openError(dir);
    expect(err.code).toBe("log_corrupt");
    expect(err.message).toContain(`${path} at byte ${victim.offset}`);
    expect(err.message).toContain(`good frame at byte ${positions[3]?.offset}`);
    expect(snapshot(dir)).toEqual(before);
    expect(verifyLog(dir).problems).toEqual([
      { file: path, offset: victim.offset, message: expect.stringContaining("followed by a good frame") },
    ]);
  });

  test("a damaged length field in the last segment before a valid record refuses to open", async () => {
    const dir = tempDir();
    const positions = await writeLog(dir, 5);
    const victim = positions[1] as LogPosition;
    flipByte(join(dir, seg1), victim.offset + 1);
    expect((await openError(dir)).code).toBe("log_corrupt");
  });

  test("a bad segment header refuses to open at byte 0", async () => {
    const dir = tempDir();
    await writeLog(dir, 20, 1024);
    const path = join(dir, "0000000002.seg");
    flipByte(path, 3);
    const err = await openError(dir);
    expect(err.message).toContain(`${path} at byte 0`);
    expect(verifyLog(dir).problems).toEqual([{ file: path, offset: 0, message: expect.stringContaining("bad magic") }]);
  });

  test("a missing segment refuses to open", async () => {
    const dir = tempDir();
    await writeLog(dir, 30, 1024);
    fs.rmSync(join(dir, "0000000002.seg"));
    const err = await openError(dir);
    expect(err.message).toContain("segment files are missing");
    expect(verifyLog(dir).ok).toBe(false);
  });

  test("a segment whose first LSN does not continue the previous one refuses to open", async () => {
    const dir = tempDir();
    await writeLog(dir, 30, 1024);
    // Swap in segment 3's bytes under segment 2's name: the header's number and LSN are wrong.
    fs.copyFileSync(join(dir, "0000000003.seg"), join(dir, "0000000002.seg"));
    const err = await openError(dir);
    expect(err.code).toBe("log_corrupt");
    expect(err.message).toContain("0000000002.seg at byte 16");
  });
});

describe("segments larger than recovery's read chunk (4 MiB)", () => {
  const big = (n: number) => entry(n, 30_000 + (n % 97) * 11); // ~30 KB frames: many straddle a chunk boundary
  const segBytes = 9 * 1024 * 1024;

  /** Two sealed segments and an active one, each over two chunks long. */
  async function bigLog(dir: string): Promise<LogPosition[]> {
    const log = await Log.open(dir, { segmentBytesMax: segBytes });
    const positions: LogPosition[] = [];
    for (let n = 1; n <= 880; n += 20) positions.push(...(await log.append(Array.from({ length: 20 }, (_, i) => big(n + i)))));
    await log.close();
    return positions;
  }

  for (const where of ["here", "on a worker thread"]) {
    const opts = where === "here" ? {} : { recoveryWorkerBytesMin: 0 };
    test(`a clean log recovers whole: every record, no warning (sealed segments walked ${where})`, async () => {
      const dir = tempDir();
      const positions = await bigLog(dir);
      expect(fs.readdirSync(dir).filter((f) => f.endsWith(".seg")).length).toBe(3);
      expect(fs.statSync(join(dir, "0000000003.seg")).size).toBeGreaterThan(8 * 1024 * 1024);
      const { logger, lines } = captureLogger();
      const log = await Log.open(dir, { logger, segmentBytesMax: segBytes, ...opts });
      expect(log.lastLsn).toBe(880);
      expect(lines.filter((l) => l.level === "warn")).toEqual([]);
      for (const p of positions.filter((_, i) => i % 37 === 0))
        expect(log.read(p.segment, p.offset).body).toEqual(big(p.lsn).body);
      const [next] = await log.append([big(881)]);
      expect(next?.lsn).toBe(881);
      await log.close();
    });

    test(`damage in a sealed segment past the first chunk, or a gap in LSNs, is log_corrupt (walked ${where})`, async () => {
      const dir = tempDir();
      const positions = await bigLog(dir);
      const sealed = positions.find((p) => p.segment === 2 && p.offset > 4 * 1024 * 1024 + 50_000) as LogPosition;
      const work = join(tempDir(), "a");
      copyDir(dir, work);
      flipByte(join(work, "0000000002.seg"), sealed.offset + 200);
      const before = snapshot(work);
      const err = await openError(work, { segmentBytesMax: segBytes, ...opts });
      expect(err.code).toBe("log_corrupt");
      expect(err.extra).toEqual({ file: join(work, "0000000002.seg"), offset: sealed.offset });
      expect(err.hint).toContain("stemedb repair");
      expect(snapshot(work)).toEqual(before);
      // Segment 1 cut short at a frame boundary: segment 2 no longer follows it.
      const gap = join(tempDir(), "b");
      copyDir(dir, gap);
      const lastOf1 = positions.filter((p) => p.segment === 1).at(-1) as LogPosition;
      fs.truncateSync(join(gap, seg1), lastOf1.offset);
      const err2 = await openError(gap, { segmentBytesMax: segBytes, ...opts });
      expect(err2.code).toBe("log_corrupt");
      expect(err2.message).toContain(`header first LSN ${lastOf1.lsn + 1}, expected ${lastOf1.lsn}`);
    });
  }

  test("a torn tail past the first chunk is cut at its frame, in file offsets", async () => {
    const dir = tempDir();
    const positions = await bigLog(dir);
    const lastSeg = positions.filter((p) => p.segment === 3);
    const victim = lastSeg.find((p) => p.offset > 4 * 1024 * 1024 + 100_000) as LogPosition;
    const path = join(dir, "0000000003.seg");
    fs.truncateSync(path, victim.offset + 5000);
    const { logger, lines } = captureLogger();
    const log = await Log.open(dir, { logger, segmentBytesMax: segBytes });
    expect(log.lastLsn).toBe(victim.lsn - 1);
    expect(lines.filter((l) => l.msg === "log: cut torn tail")).toEqual([
      expect.objectContaining({ offset: victim.offset, bytes_dropped: 5000 }),
    ]);
    expect(fs.statSync(path).size).toBe(victim.offset);
    await log.close();
  });

  // A flipped byte in a sealed segment past the first chunk: the walked-here/on-a-worker tests above.
  test("a flipped byte past the first chunk of the last segment is damage before good frames", async () => {
    const dir = tempDir();
    const positions = await bigLog(dir);
    const inLast = positions.filter((p) => p.segment === 3 && p.offset > 4 * 1024 * 1024);
    const victim = inLast[1] as LogPosition;
    const next = inLast[2] as LogPosition;
    flipByte(join(dir, "0000000003.seg"), victim.offset + 200);
    const before = snapshot(dir);
    const err2 = await openError(dir);
    expect(err2.code).toBe("log_corrupt");
    expect(err2.message).toContain(`followed by a good frame at byte ${next.offset}`);
    expect(snapshot(dir)).toEqual(before);
  });
});
