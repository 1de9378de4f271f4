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
import { toHex } from "../../src/core/hex.ts";
import { publicKeyOf } from "../../src/crypto/sign.ts";

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

describe("signing keys bound to API keys", () => {
  test("made with --signing: the public key is shown, the secret only to the node, and it matches", () => {
    const dir = dataDir();
    const keys = new KeyStore(dir);
    const made = keys.create("agent-bot", "writer", { signing: true });
    expect(made.agent).toMatch(/^[0-9a-f]{64}$/);
    const plain = keys.create("reader-bot", "reader");
    expect(plain.agent).toBeUndefined();

    const pair = keys.signingKey(made.id);
    expect(pair && toHex(pair.publicKey)).toBe(made.agent as string);
    expect(pair && toHex(publicKeyOf(pair.secretKey))).toBe(made.agent as string);
    expect(keys.signingKey(plain.id)).toBeNull();
    expect(keys.authenticate(made.secret)).toEqual({
      id: made.id,
      name: "agent-bot",
      role: "writer",
      agent: made.agent as string,
    });
    expect(keys.info(plain.id)).toEqual({ id: plain.id, name: "reader-bot", role: "reader", agent: null });

    // The secret is in keys.json (mode 0600) and in nothing the store shows.
    const secretHex = toHex((pair as { secretKey: Uint8Array }).secretKey);
    expect(fs.readFileSync(keys.file, "utf8")).toContain(secretHex);
    expect(fs.statSync(keys.file).mode & 0o077).toBe(0);
    const listed = JSON.stringify(new KeyStore(dir).list());
    expect(listed).not.toContain(secretHex);
    expect(listed).toContain(made.agent as string);
    expect(Object.keys(keys.list()[0] as object).sort()).toEqual(
      ["agent", "created_at", "id", "last_used_at", "name", "revoked_at", "role"].sort(),
    );

    keys.revoke(made.id);
    expect(keys.signingKey(made.id)).toBeNull(); // a revoked key signs nothing
  });

  test("a reader key cannot have one (it could not write)", () => {
    expect(codeOf(() => new KeyStore(dataDir()).create("r", "reader", { signing: true }))).toBe("invalid_request");
  });

  test("a signing key that does not match its public key, or half of one, is a damaged file", () => {
    for (const change of [
      (e: Record<string, unknown>) => {
        e.agent = "00".repeat(32);
      },
      (e: Record<string, unknown>) => {
        delete e.signing_key;
      },
      (e: Record<string, unknown>) => {
        e.signing_key = "zz";
      },
    ]) {
      const dir = dataDir();
      const keys = new KeyStore(dir);
      keys.create("bot", "writer", { signing: true });
      const file = JSON.parse(fs.readFileSync(keys.file, "utf8"));
      change(file.keys[0]);
      fs.writeFileSync(keys.file, JSON.stringify(file), { mode: 0o600 });
      expect(codeOf(() => new KeyStore(dir))).toBe("data_file_corrupt");
    }
  });
});
