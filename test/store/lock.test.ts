import { afterEach, describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { lockDataDir } from "../../src/store/lock.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "stemedb-lock-"));
  dirs.push(d);
  return d;
}

describe("data directory lock", () => {
  test("a second open in the same process is refused; release frees it", () => {
    const dir = tempDir();
    const release = lockDataDir(dir);
    expect(() => lockDataDir(dir)).toThrow(
      expect.objectContaining({ code: "locked", message: expect.stringContaining(String(process.pid)) }),
    );
    release();
    release(); // twice is harmless
    const again = lockDataDir(dir);
    again();
  });

  test("another process holding it refuses us; when it is killed -9 the lock is free at once", async () => {
    const dir = tempDir();
    const script = `import { lockDataDir } from ${JSON.stringify(path.resolve("src/store/lock.ts"))}; lockDataDir(${JSON.stringify(dir)}); console.log("held"); setInterval(() => {}, 1000);`;
    const holder = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "inherit" });
    try {
      const reader = holder.stdout.getReader();
      const { value } = await reader.read();
      expect(new TextDecoder().decode(value)).toContain("held");
      expect(() => lockDataDir(dir)).toThrow(
        expect.objectContaining({ code: "locked", message: expect.stringContaining(String(holder.pid)) }),
      );
    } finally {
      holder.kill("SIGKILL");
      await holder.exited;
    }
    const release = lockDataDir(dir); // no stale-lock handling needed: the kernel dropped it
    release();
  });
});
