/**
 * The log's pipelined group commit on real files, with an injected disk whose fdatasync the
 * test holds and releases: an append is acknowledged only after a sync that began after its
 * write, overlapping syncs use their own descriptors, a failure fails everything unacknowledged,
 * and rotation and reopening still find a consistent log.
 */
import { describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import { Log, type LogDisk } from "../../src/log/index.ts";
import { overlapBytesMax } from "../../src/log/log.ts";
import { prng } from "../support/prng.ts";
import { captureLogger, entry, tempDir } from "./helpers.ts";

interface HeldSync {
  fd: number;
  /** Bytes in the file when the sync began. */
  sizeAtStart: number;
  release: () => void;
  fail: (err: Error) => void;
}

/**
 * The real disk, with every fdatasync held until the test releases it (then it really syncs);
 * syncs before `hold()` (the first segment's, in `Log.open`) pass straight through.
 */
function heldDisk(): { disk: Partial<LogDisk>; running: HeldSync[]; hold: () => void } {
  const running: HeldSync[] = [];
  const real = Log.realDisk;
  let holding = false;
  return {
    hold: () => {
      holding = true;
    },
    disk: {
      datasync(fd) {
        if (!holding) return real.datasync(fd);
        const sizeAtStart = fs.fstatSync(fd).size;
        return new Promise<void>((resolve, reject) => {
          running.push({
            fd,
            sizeAtStart,
            release: () => real.datasync(fd).then(resolve, reject),
            fail: (err) => reject(err),
          });
        });
      },
    },
    running,
  };
}

const turns = async (n = 10) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

describe("pipelined group commit", () => {
  test("an append is acknowledged only after a sync that began once its record was in the file", async () => {
    const held = heldDisk();
    const log = await Log.open(tempDir(), { disk: held.disk, syncsInFlight: 2 });
    held.hold();
    const acked: number[] = [];
    const first = log.append([entry(1)]).then(([p]) => acked.push(p?.lsn ?? -1));
    await turns();
    expect(held.running.length).toBe(1);
    const second = log.append([entry(2)]).then(([p]) => acked.push(p?.lsn ?? -1));
    await turns();
    // Two syncs overlap, each on its own open file description.
    expect(held.running.length).toBe(2);
    const [a, b] = held.running as [HeldSync, HeldSync];
    expect(a.fd).not.toBe(b.fd);
    expect(b.sizeAtStart).toBeGreaterThan(a.sizeAtStart);
    const third = log.append([entry(3)]).then(([p]) => acked.push(p?.lsn ?? -1));
    await turns();
    expect(held.running.length).toBe(2); // both slots busy: the third waits, unwritten
    expect(acked).toEqual([]);
    expect(log.lastLsn).toBe(0); // nothing is durable yet, and reads do not see it

    held.running.splice(1, 1)[0]?.release(); // the later sync returns first: it covers 1 and 2
    await Promise.all([first, second]);
    expect(acked).toEqual([1, 2]);
    expect(log.lastLsn).toBe(2);
    await turns();
    expect(acked).toEqual([1, 2]); // the third is not acknowledged by a sync that began before it was written
    const c = held.running.find((s) => s !== a) as HeldSync;
    expect(c.sizeAtStart).toBeGreaterThan(b.sizeAtStart);
    a.release();
    await turns();
    expect(acked).toEqual([1, 2]);
    c.release();
    await third;
    expect(acked).toEqual([1, 2, 3]);
    const closing = log.close();
    await closing;
  });

  test("a batch over overlapBytesMax is written only once no sync runs; small ones overlap", async () => {
    const held = heldDisk();
    const log = await Log.open(tempDir(), { disk: held.disk, syncsInFlight: 2 });
    held.hold();
    const small = log.append([entry(1)]);
    await turns();
    expect(held.running.length).toBe(1);
    // ~80 KiB in one batch: larger than overlapBytesMax, so it waits for the running sync.
    const big = log.append(Array.from({ length: 80 }, (_, i) => entry(2 + i, 1000)));
    await turns();
    expect(held.running.length).toBe(1);
    const sizeBefore = held.running[0]?.sizeAtStart ?? 0;
    held.running.shift()?.release();
    await small;
    await turns();
    expect(held.running.length).toBe(1); // now written, and its sync alone
    expect(held.running[0]?.sizeAtStart).toBeGreaterThan(sizeBefore + overlapBytesMax);
    held.running.shift()?.release();
    expect((await big).length).toBe(80);
    await log.close();
  });

  test("a failed sync rejects every unacknowledged append, also those an overlapping sync covers, and reports once", async () => {
    const dir = tempDir();
    const held = heldDisk();
    const { logger, lines } = captureLogger();
    const log = await Log.open(dir, { disk: held.disk, syncsInFlight: 2, logger });
    held.hold();
    const one = log.append([entry(1)]);
    await turns();
    held.running.shift()?.release();
    await one;
    const two = log.append([entry(2)]);
    await turns();
    const three = log.append([entry(3), entry(4)]);
    await turns();
    expect(held.running.length).toBe(2);
    const [a, b] = held.running.splice(0) as [HeldSync, HeldSync];
    b.fail(Object.assign(new Error("EIO: i/o error, fdatasync"), { code: "EIO" }));
    const results = await Promise.allSettled([two, three]);
    for (const r of results) {
      expect(r.status).toBe("rejected");
      if (r.status === "rejected") expect(r.reason).toMatchObject({ code: "log_write_failed", status: 503 });
    }
    a.release(); // its success comes too late to acknowledge anything
    await turns();
    expect(log.lastLsn).toBe(1);
    expect(log.failed).toBe(true);
    await expect(log.append([entry(5)])).rejects.toMatchObject({ code: "log_write_failed" });
    expect(held.running.length).toBe(0); // no sync is retried
    expect(lines.filter((l) => l.level === "error").length).toBe(1);
    await log.close();
    const again = await Log.open(dir);
    expect([...again.scan()][0]?.body).toEqual(entry(1).body);
    await again.close();
  });

  test("concurrent appends across rotations with syncs returning in random order: all acknowledged in LSN order, the log reopens whole", async () => {
    for (const seed of [1, 2, 3]) {
      const random = prng(seed);
      const dir = tempDir();
      const real = Log.realDisk;
      // Each sync returns after a random number of event-loop turns, so syncs overlap and return out of order.
      const disk: Partial<LogDisk> = {
        async datasync(fd) {
          const n = Math.floor(random() * 6);
          for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
          await real.datasync(fd);
        },
      };
      const log = await Log.open(dir, { disk, syncsInFlight: 3, segmentBytesMax: 4096 });
      const acked: number[] = [];
      const appends: Array<Promise<unknown>> = [];
      for (let i = 0; i < 400; i++) {
        const n = 1 + Math.floor(random() * 3);
        appends.push(
          log.append(Array.from({ length: n }, (_, k) => entry(i * 3 + k))).then((ps) => {
            for (const p of ps) acked.push(p.lsn);
          }),
        );
        if (random() < 0.7) await new Promise((r) => setImmediate(r));
      }
      await Promise.all(appends);
      expect(acked).toEqual(Array.from({ length: acked.length }, (_, i) => i + 1));
      expect(log.segmentCount).toBeGreaterThanOrEqual(2);
      expect(log.commitCount).toBeGreaterThanOrEqual(4);
      const count = acked.length;
      await log.close();
      const again = await Log.open(dir);
      expect(again.lastLsn).toBe(count);
      expect([...again.scan()].map((e) => e.lsn)).toEqual(Array.from({ length: count }, (_, i) => i + 1));
      await again.close();
    }
  });

  test("records written but not yet synced are a tail recovery accepts or cuts, never a hole", async () => {
    const dir = tempDir();
    const held = heldDisk();
    const log = await Log.open(dir, { disk: held.disk, syncsInFlight: 2 });
    held.hold();
    const one = log.append([entry(1)]);
    await turns();
    held.running.shift()?.release();
    await one;
    void log.append([entry(2)]).catch(() => {});
    void log.append([entry(3)]).catch(() => {});
    await turns();
    // "Crash" here: a second log opened on the directory sees what reached the file (the page
    // cache survives a process kill) — LSNs 1..n with no gap, at least the acknowledged one.
    const seen = await Log.open(dir, { segmentBytesMax: 1 << 20 });
    const lsns = [...seen.scan()].map((e) => e.lsn);
    expect(lsns[0]).toBe(1);
    expect(lsns).toEqual(Array.from({ length: lsns.length }, (_, i) => i + 1));
    await seen.close();
    for (const s of held.running.splice(0)) s.release();
    await log.close();
  });
});
