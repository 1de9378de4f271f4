import * as fs from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "bun:test";
import { Log, verifyLog } from "../../src/log/index.ts";
import { entry, tempDir } from "./helpers.ts";

async function writeLog(dir: string, count: number, segmentBytesMax = 2048): Promise<void> {
  const log = await Log.open(dir, { segmentBytesMax });
  for (let n = 1; n <= count; n += 3)
    await log.append([entry(n), entry(n + 1), entry(n + 2)].slice(0, Math.min(3, count - n + 1)));
  await log.close();
}

describe("verifyLog", () => {
  test("a clean log is ok, with counts that match the files", async () => {
    const dir = tempDir();
    await writeLog(dir, 60);
    const files = fs.readdirSync(dir);
    const report = verifyLog(dir);
    expect(report).toEqual({
      ok: true,
      segments: files.length,
      records: 60,
      lastLsn: 60,
      bytes: files.reduce((sum, f) => sum + fs.statSync(join(dir, f)).size, 0),
      problems: [],
    });
    expect(files.length).toBeGreaterThan(2);
  });

  test("an empty directory is an ok, empty log; a missing one is a problem", () => {
    const dir = tempDir();
    expect(verifyLog(dir)).toMatchObject({ ok: true, segments: 0, records: 0, lastLsn: 0 });
    expect(verifyLog(join(dir, "nope"))).toMatchObject({ ok: false, problems: [{ message: "log directory does not exist" }] });
    expect(fs.existsSync(join(dir, "nope"))).toBe(false);
  });

  test("deep sees every record once, in order, and reports what it returns", async () => {
    const dir = tempDir();
    await writeLog(dir, 30);
    const seen: number[] = [];
    const report = verifyLog(dir, {
      deep: (e) => {
        seen.push(e.lsn);
        expect(e.body).toEqual(entry(e.lsn).body);
        return e.lsn === 17 ? "signature does not verify" : null;
      },
    });
    expect(seen).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([
      { file: expect.stringMatching(/\.seg$/), offset: expect.any(Number), message: "signature does not verify" },
    ]);
  });

  test("reports every damaged segment, not just the first, and modifies nothing", async () => {
    const dir = tempDir();
    await writeLog(dir, 60);
    const a = join(dir, "0000000001.seg");
    const b = join(dir, "0000000002.seg");
    for (const path of [a, b]) {
      const bytes = fs.readFileSync(path);
      bytes[200] = (bytes[200] as number) ^ 1;
      fs.writeFileSync(path, bytes);
    }
    const before = fs.readdirSync(dir).map((f) => fs.readFileSync(join(dir, f)));
    const report = verifyLog(dir);
    expect(report.ok).toBe(false);
    expect(report.problems.map((p) => p.file)).toEqual([a, b]);
    expect(fs.readdirSync(dir).map((f) => fs.readFileSync(join(dir, f)))).toEqual(before);
  });
});
