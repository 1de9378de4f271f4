/**
 * API keys when keys.json is damaged: a clear error at start (and for `stemedb keys`), and at
 * run time the keys last read stay in force and the damage is logged once — not a 500 per request.
 */
import { afterAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { KeyStore } from "../../src/auth/keys.ts";
import { StemeError } from "../../src/core/errors.ts";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function dataDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "stemedb-keys-"));
  dirs.push(d);
  return d;
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(StemeError);
    return (err as StemeError).code;
  }
  return "no error";
}

/** Rewrites keys.json with a later mtime, so a reload sees the change. */
function damage(file: string, text: string, atMs: number): void {
  fs.writeFileSync(file, text, { mode: 0o600 });
  fs.utimesSync(file, atMs / 1000, atMs / 1000);
}

describe("KeyStore and a damaged keys.json", () => {
  test("refused at start, by name, for every kind of damage", () => {
    for (const text of ["{not json", "[1, 2]", '{"keys": [{"id": "x"}]}', '{"keys": {}}']) {
      const dir = dataDir();
      fs.writeFileSync(path.join(dir, "keys.json"), text, { mode: 0o600 });
      expect([text, codeOf(() => new KeyStore(dir))]).toEqual([text, "data_file_corrupt"]);
    }
    const open = dataDir();
    fs.writeFileSync(path.join(open, "keys.json"), '{"version": 1, "keys": []}', { mode: 0o644 });
    expect(codeOf(() => new KeyStore(open))).toBe("key_permissions");
  });

  test("at run time the last good keys stay in force and the damage is logged once; making a key is refused", () => {
    const dir = dataDir();
    let now = 1_000_000;
    const warnings: Array<Record<string, unknown> | undefined> = [];
    const keys = new KeyStore(dir, () => now, { warn: (_msg, fields) => warnings.push(fields) });
    const made = keys.create("ops", "admin");
    expect(keys.authenticate(made.secret)).toMatchObject({ id: made.id, role: "admin" });

    damage(keys.file, "{damaged by hand", Date.now() + 5_000);
    for (let i = 0; i < 3; i++) {
      now += 2_000; // past the reload interval: the store looks at the file again
      expect(keys.activeCount).toBe(1);
      expect(keys.authenticate(made.secret)).toMatchObject({ id: made.id });
      expect(keys.authenticate(`stm_${"0".repeat(16)}_${"A".repeat(43)}`)).toBeNull(); // an unknown id forces a re-read
    }
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ code: "data_file_corrupt", keys_in_force: 1, file: keys.file });
    expect(keys.list().map((k) => k.id)).toEqual([made.id]);
    expect(codeOf(() => keys.create("more", "reader"))).toBe("data_file_corrupt");
    expect(codeOf(() => keys.revoke(made.id))).toBe("data_file_corrupt");
    expect(fs.readFileSync(keys.file, "utf8")).toBe("{damaged by hand"); // nothing overwritten

    // Fixed: read again at the next look.
    damage(keys.file, JSON.stringify({ version: 1, keys: [] }), Date.now() + 10_000);
    now += 2_000;
    expect(keys.activeCount).toBe(0);
    expect(keys.authenticate(made.secret)).toBeNull();
  });
});
