import { describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import { join } from "node:path";
import { applyRepair, Log, planRepair, verifyLog } from "../../src/log/index.ts";
import { entry, tempDir } from "./helpers.ts";

async function writeLog(dir: string, records: number): Promise<void> {
  const log = await Log.open(dir, { segmentBytesMax: 2048 });
  for (let n = 1; n <= records; n++) await log.append([entry(n)]);
  await log.close();
}

function segmentsOf(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".seg"))
    .sort();
}

describe("repair", () => {
  test("a clean log has nothing to repair", async () => {
    const dir = join(tempDir(), "log");
    await writeLog(dir, 10);
    expect(planRepair(dir)).toEqual({ clean: true, setAside: [] });
  });

  test("a flipped byte in a sealed segment: cut there, later segments set aside, every byte kept, the log opens", async () => {
    const root = tempDir();
    const dir = join(root, "log");
    await writeLog(dir, 120);
    const segments = segmentsOf(dir);
    expect(segments.length).toBeGreaterThanOrEqual(3);
    const first = join(dir, segments[0] as string);
    const original = fs.readFileSync(first);
    const damaged = Buffer.from(original);
    const flipAt = Math.floor(original.length / 2);
    damaged[flipAt] = (damaged[flipAt] as number) ^ 0x40;
    fs.writeFileSync(first, damaged);
    const laterBytes = segments.slice(1).map((s) => fs.readFileSync(join(dir, s)));

    const plan = planRepair(dir);
    expect(plan.clean).toBe(false);
    expect(plan.cut?.file).toBe(first);
    const cutAt = plan.cut?.offset as number;
    expect(cutAt).toBeLessThanOrEqual(flipAt);
    expect(plan.setAside.map((p) => p.split("/").pop())).toEqual(segments.slice(1));
    // Planning changes nothing.
    expect(fs.readFileSync(first).equals(damaged)).toBe(true);
    await expect(Log.open(dir)).rejects.toMatchObject({ code: "log_corrupt" });

    const quarantine = join(root, "quarantine");
    applyRepair(plan, quarantine);
    expect(segmentsOf(dir)).toEqual([segments[0] as string]);
    // The cut bytes and the later segments are all in the quarantine, byte for byte.
    const tail = fs.readFileSync(join(quarantine, `${segments[0]}.from-${cutAt}`));
    expect(Buffer.concat([fs.readFileSync(first), tail]).equals(damaged)).toBe(true);
    for (const [i, s] of segments.slice(1).entries()) {
      expect(fs.readFileSync(join(quarantine, s)).equals(laterBytes[i] as Buffer)).toBe(true);
    }

    const report = verifyLog(dir);
    expect(report.ok).toBe(true);
    const log = await Log.open(dir);
    expect(log.lastLsn).toBe(report.lastLsn);
    expect(log.lastLsn).toBeGreaterThan(0);
    expect(log.lastLsn).toBeLessThan(120);
    const [pos] = await log.append([entry(999)]);
    expect(pos?.lsn).toBe(report.lastLsn + 1);
    await log.close();
  });

  test("a bad header: the whole segment and the ones after it are set aside", async () => {
    const root = tempDir();
    const dir = join(root, "log");
    await writeLog(dir, 120);
    const segments = segmentsOf(dir);
    const second = join(dir, segments[1] as string);
    const bytes = fs.readFileSync(second);
    bytes[0] = (bytes[0] as number) ^ 0xff; // the magic
    fs.writeFileSync(second, bytes);
    const plan = planRepair(dir);
    expect(plan.cut).toMatchObject({ file: second, offset: 0 });
    expect(plan.setAside.map((p) => p.split("/").pop())).toEqual(segments.slice(1));
    applyRepair(plan, join(root, "q"));
    expect(segmentsOf(dir)).toEqual([segments[0] as string]);
    expect(verifyLog(dir).ok).toBe(true);
  });
});
