/**
 * API keys (SPEC §8): `Authorization: Bearer <secret>`, roles `reader` ⊂ `writer` ⊂ `admin`.
 *
 * A secret is `stm_<id>_<32 random bytes, base64url>`. The key file `<data-dir>/keys.json`
 * (mode 0600) holds, per key, its id, name, role, creation time, revocation time and the
 * SHA-256 of the secret — never the secret, which is shown once, when the key is made.
 * Checking a presented secret: the id inside it finds the entry, and the hash is compared in
 * constant time. SHA-256 (not a slow password hash) is right here: the secret is 256 random
 * bits, so there is nothing to brute-force.
 *
 * The server and `stemedb keys` (which works on the data directory, with or without a server
 * running) both read-modify-write the file atomically (temp file, fsync, rename). The server
 * notices a change on disk within `reloadIntervalMs`, so a key revoked from the shell stops
 * working within a second; one revoked over HTTP stops at once. "Last used" times live in
 * memory and are shown by the server; they are not written to the key file, so the two
 * writers never overwrite each other's keys.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { StemeError } from "../core/errors.ts";
import { writeFileDurable } from "../store/datadir.ts";

export const roles = ["reader", "writer", "admin"] as const;
export type Role = (typeof roles)[number];

export interface KeyEntry {
  id: string;
  name: string;
  role: Role;
  created_at: string;
  revoked_at: string | null;
  /** SHA-256 of the secret, hex. */
  hash: string;
}

export interface KeyInfo {
  id: string;
  name: string;
  role: Role;
}

const keyFileName = "keys.json";
const reloadIntervalMs = 1000;
const secretPattern = /^stm_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
const nameBytesMax = 128;

export function roleAtLeast(have: Role, need: Role): boolean {
  return roles.indexOf(have) >= roles.indexOf(need);
}

function sha256(text: string): Buffer {
  return crypto.createHash("sha256").update(text).digest();
}

export class KeyStore {
  private entries = new Map<string, KeyEntry>();
  private mtimeMs = -1;
  private checkedAtMs = 0;
  private readonly lastUsed = new Map<string, number>();

  constructor(
    private readonly dataDir: string,
    private readonly now: () => number = Date.now,
  ) {
    this.reload(true);
  }

  get file(): string {
    return path.join(this.dataDir, keyFileName);
  }

  /** Keys that are not revoked. */
  get activeCount(): number {
    this.maybeReload();
    let n = 0;
    for (const e of this.entries.values()) if (e.revoked_at === null) n++;
    return n;
  }

  /** The key a secret belongs to, or null (unknown, revoked, or not a secret at all). */
  authenticate(secret: string): KeyInfo | null {
    const m = secretPattern.exec(secret);
    if (!m) return null;
    this.maybeReload();
    let entry = this.entries.get(m[1] as string);
    if (!entry) {
      this.reload(true); // made from the shell a moment ago?
      entry = this.entries.get(m[1] as string);
    }
    if (!entry || entry.revoked_at !== null) return null;
    const presented = sha256(secret);
    const stored = Buffer.from(entry.hash, "hex");
    if (stored.length !== presented.length || !crypto.timingSafeEqual(stored, presented)) return null;
    this.lastUsed.set(entry.id, this.now());
    return { id: entry.id, name: entry.name, role: entry.role };
  }

  /** Makes a key; the secret is in the answer and nowhere else. */
  create(name: string, role: string): { id: string; name: string; role: Role; secret: string; created_at: string } {
    if (!roles.includes(role as Role))
      throw new StemeError("invalid_request", `role: expected one of ${roles.join(", ")}, got ${JSON.stringify(role)}`, {
        extra: { field: "role" },
      });
    if (typeof name !== "string" || name.length === 0 || Buffer.byteLength(name) > nameBytesMax || /\p{Cc}/u.test(name))
      throw new StemeError("invalid_request", `name: expected text of 1–${nameBytesMax} bytes`, {
        extra: { field: "name" },
      });
    this.reload(true);
    const id = crypto.randomBytes(8).toString("hex");
    const secret = `stm_${id}_${crypto.randomBytes(32).toString("base64url")}`;
    const entry: KeyEntry = {
      id,
      name,
      role: role as Role,
      created_at: new Date(this.now()).toISOString(),
      revoked_at: null,
      hash: sha256(secret).toString("hex"),
    };
    this.entries.set(id, entry);
    this.save();
    return { id, name, role: entry.role, secret, created_at: entry.created_at };
  }

  /** Revokes a key at once; false when there is no such key. */
  revoke(id: string): boolean {
    this.reload(true);
    const entry = this.entries.get(id);
    if (!entry) return false;
    if (entry.revoked_at === null) {
      entry.revoked_at = new Date(this.now()).toISOString();
      this.save();
    }
    return true;
  }

  /** Every key, without its hash. */
  list(): Array<Omit<KeyEntry, "hash"> & { last_used_at: string | null }> {
    this.reload(true);
    return [...this.entries.values()]
      .sort((a, b) => (a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : a.id < b.id ? -1 : 1))
      .map(({ hash: _hash, ...rest }) => {
        const used = this.lastUsed.get(rest.id);
        return { ...rest, last_used_at: used === undefined ? null : new Date(used).toISOString() };
      });
  }

  private maybeReload(): void {
    const t = this.now();
    if (t - this.checkedAtMs < reloadIntervalMs) return;
    this.checkedAtMs = t;
    this.reload(false);
  }

  private reload(force: boolean): void {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(this.file);
    } catch {
      this.entries = new Map();
      this.mtimeMs = -1;
      return;
    }
    if (!force && stat.mtimeMs === this.mtimeMs) return;
    if (stat.mode & 0o077)
      throw new StemeError("key_permissions", `${this.file} is readable by others (mode ${(stat.mode & 0o777).toString(8)})`, {
        hint: `chmod 600 ${this.file}`,
      });
    const parsed = JSON.parse(fs.readFileSync(this.file, "utf8")) as { keys?: KeyEntry[] };
    this.entries = new Map((parsed.keys ?? []).map((k) => [k.id, k]));
    this.mtimeMs = stat.mtimeMs;
  }

  private save(): void {
    const keys = [...this.entries.values()];
    writeFileDurable(this.file, `${JSON.stringify({ version: 1, keys }, null, 2)}\n`, 0o600);
    this.mtimeMs = fs.statSync(this.file).mtimeMs;
  }
}
