import { describe, expect, test } from "bun:test";
import { Log, type LogDisk, verifyLog } from "../../src/log/index.ts";
import { captureLogger, entry, tempDir } from "./helpers.ts";

/** The real disk, with a switch that makes the next fdatasync (or write) fail like EIO. */
function faultyDisk(): { disk: Partial<LogDisk>; failSync: () => void; failWrite: () => void; syncs: () => number } {
  let syncFails = false;
  let writeFails = false;
  let syncCount = 0;
  const real = Log.realDisk;
  return {
    disk: {
      write(fd, bytes, position) {
        if (writeFails) throw Object.assign(new Error("EIO: i/o error, write"), { code: "EIO" });
        real.write(fd, bytes, position);
      },
      async datasync(fd) {
        syncCount++;
        if (syncFails) throw Object.assign(new Error("EIO: i/o error, fdatasync"), { code: "EIO" });
        await real.datasync(fd);
      },
    },
    failSync: () => {
      syncFails = true;
    },
    failWrite: () => {
      writeFails = true;
    },
    syncs: () => syncCount,
  };
}

describe("write-path failures", () => {
  test("a failing fdatasync rejects every caller of the batch and every later append", async () => {
    const dir = tempDir();
    const fault = faultyDisk();
    const { logger, lines } = captureLogger();
    const log = await Log.open(dir, { disk: fault.disk, logger });
    await log.append([entry(1)]);
    fault.failSync();
    const batch = await Promise.allSettled([log.append([entry(2)]), log.append([entry(3)]), log.append([entry(4), entry(5)])]);
    for (const r of batch) {
      expect(r.status).toBe("rejected");
      if (r.status === "rejected") expect(r.reason).toMatchObject({ code: "log_write_failed", status: 503 });
    }
    expect(log.lastLsn).toBe(1);
    const syncsBefore = fault.syncs();
    await expect(log.append([entry(6)])).rejects.toMatchObject({ code: "log_write_failed" });
    // The failed state refuses without touching the disk again (no retried fsync).
    expect(fault.syncs()).toBe(syncsBefore);
    expect(lines.filter((l) => l.level === "error").length).toBe(1);
    await log.close();
    // The acknowledged record is there on reopen; the unacknowledged ones may or may not be.
    const again = await Log.open(dir);
    expect(again.lastLsn).toBeGreaterThanOrEqual(1);
    expect([...again.scan()][0]?.body).toEqual(entry(1).body);
    await again.close();
  });

  test("a failing write rejects the batch and later appends", async () => {
    const fault = faultyDisk();
    const log = await Log.open(tempDir(), { disk: fault.disk });
    fault.failWrite();
    await expect(log.append([entry(1)])).rejects.toMatchObject({
      code: "log_write_failed",
      message: expect.stringContaining("EIO"),
    });
    await expect(log.append([entry(2)])).rejects.toMatchObject({ code: "log_write_failed" });
    await log.close();
  });

  test("a failing sync while sealing a segment fails the log", async () => {
    const dir = tempDir();
    const fault = faultyDisk();
    const log = await Log.open(dir, { disk: fault.disk, segmentBytesMax: 512 });
    await log.append([entry(1), entry(2), entry(3)]);
    fault.failSync();
    await expect(log.append([entry(4)])).rejects.toMatchObject({
      code: "log_write_failed",
      message: expect.stringContaining("rotation"),
    });
    await expect(log.append([entry(5)])).rejects.toMatchObject({ code: "log_write_failed" });
    await log.close();
    expect(verifyLog(dir)).toMatchObject({ ok: true, records: 3 });
  });
});
