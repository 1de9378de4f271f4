/**
 * API keys (docs/API.md#authentication-limits): `Authorization: Bearer <secret>`, roles `reader` ⊂ `writer` ⊂ `admin`.
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
 *
 * A key made with a **signing key** (`stemedb keys create --signing`) also holds an Ed25519 key
 * pair the node keeps for it: `agent` (the public key, shown by `keys list`) and `signing_key`
 * (the secret, hex). It exists for agents that cannot sign for themselves — those on the MCP
 * endpoint `/mcp` (docs/MCP.md#over-http-at-mcp) — whose records the node signs with it, so every
 * such record is still signed and names, by its `agent`, the key that wrote it. The secret sits
 * in this file (mode 0600, written atomically with the entry it belongs to, so backups and
 * restores carry the two together); it is never logged and never leaves the node: `list()`
 * and `authenticate()` answer the public key only, and `signingKey()` is for the node's own use.
 *
 * A damaged key file (not JSON, the wrong shape, readable by others) stops the server at start
 * with a clear error. Found later, while the server runs (a bad hand edit), it is logged and
 * the keys last read stay in force until the file is good again: requests keep being checked
 * against known keys instead of every one failing. Making or revoking a key on a damaged file
 * is refused (`data_file_corrupt`): writing it would drop the keys it held.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { StemeError } from "../core/errors.ts";
import { fromHex, toHex } from "../core/hex.ts";
import type { Logger } from "../core/logger.ts";
import { generateKeyPair, type KeyPair, publicKeyOf } from "../crypto/sign.ts";
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
  /** The public key of the signing key the node keeps for this API key, hex; absent without one. */
  agent?: string;
  /** That signing key's secret, hex (32 bytes); present exactly when `agent` is. */
  signing_key?: string;
}

export interface KeyInfo {
  id: string;
  name: string;
  role: Role;
  /** The public key the node signs this key's records with, or null when it has no signing key. */
  agent: string | null;
}

/** A key as `list()` shows it: never its hash or signing secret. */
export interface KeyListing {
  id: string;
  name: string;
  role: Role;
  created_at: string;
  revoked_at: string | null;
  /** The public signing key (the `agent` of the records the node signs for this key), or null. */
  agent: string | null;
  last_used_at: string | null;
}

export interface KeyCreated {
  id: string;
  name: string;
  role: Role;
  secret: string;
  created_at: string;
  /** The public signing key, when the key was made with one. */
  agent?: string;
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
  /** The mtime of the damaged file last logged, so a bad file is logged once, not per request. */
  private loggedBadMtimeMs = -1;

  constructor(
    private readonly dataDir: string,
    private readonly now: () => number = Date.now,
    private readonly logger?: Pick<Logger, "warn">,
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
      this.reloadKeepingLast(true); // made from the shell a moment ago?
      entry = this.entries.get(m[1] as string);
    }
    if (!entry || entry.revoked_at !== null) return null;
    const presented = sha256(secret);
    const stored = Buffer.from(entry.hash, "hex");
    if (stored.length !== presented.length || !crypto.timingSafeEqual(stored, presented)) return null;
    this.lastUsed.set(entry.id, this.now());
    return { id: entry.id, name: entry.name, role: entry.role, agent: entry.agent ?? null };
  }

  /** The key `id` as `authenticate` describes it; null when unknown or revoked. */
  info(id: string): KeyInfo | null {
    this.maybeReload();
    const entry = this.entries.get(id);
    if (!entry || entry.revoked_at !== null) return null;
    return { id: entry.id, name: entry.name, role: entry.role, agent: entry.agent ?? null };
  }

  /**
   * The signing key the node keeps for API key `id`, for the node's own signing (the MCP
   * endpoint); null when the key is unknown, revoked or has none. Never to be sent anywhere.
   */
  signingKey(id: string): KeyPair | null {
    this.maybeReload();
    const entry = this.entries.get(id);
    if (!entry || entry.revoked_at !== null || entry.signing_key === undefined) return null;
    const secretKey = fromHex(entry.signing_key, "signing_key", 32);
    return { secretKey, publicKey: fromHex(entry.agent, "agent", 32) };
  }

  /**
   * Makes a key; the secret is in the answer and nowhere else. With `signing`, the node also
   * makes and keeps a signing key for it (see the top of this file); the answer shows its
   * public key as `agent`.
   */
  create(name: string, role: string, options: { signing?: boolean } = {}): KeyCreated {
    if (!roles.includes(role as Role))
      throw new StemeError("invalid_request", `role: expected one of ${roles.join(", ")}, got ${JSON.stringify(role)}`, {
        extra: { field: "role" },
      });
    if (typeof name !== "string" || name.length === 0 || Buffer.byteLength(name) > nameBytesMax || /\p{Cc}/u.test(name))
      throw new StemeError("invalid_request", `name: expected text of 1–${nameBytesMax} bytes`, {
        extra: { field: "name" },
      });
    if (options.signing && role === "reader")
      throw new StemeError("invalid_request", "signing: a signing key signs writes, and a reader key cannot write", {
        hint: "give the key the writer (or admin) role",
        extra: { field: "signing" },
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
    if (options.signing) {
      const pair = generateKeyPair();
      entry.agent = toHex(pair.publicKey);
      entry.signing_key = toHex(pair.secretKey);
    }
    this.entries.set(id, entry);
    this.save();
    return { id, name, role: entry.role, secret, created_at: entry.created_at, ...(entry.agent ? { agent: entry.agent } : {}) };
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

  /**
   * Every key, without its hash or signing secret (the keys in force, when the file has been
   * damaged since they were read). The fields are named one by one, so a field added to the
   * entry later is not shown until someone decides it may be.
   */
  list(): KeyListing[] {
    this.reloadKeepingLast(true);
    return [...this.entries.values()]
      .sort((a, b) => (a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : a.id < b.id ? -1 : 1))
      .map((e) => {
        const used = this.lastUsed.get(e.id);
        return {
          id: e.id,
          name: e.name,
          role: e.role,
          created_at: e.created_at,
          revoked_at: e.revoked_at,
          agent: e.agent ?? null,
          last_used_at: used === undefined ? null : new Date(used).toISOString(),
        };
      });
  }

  private maybeReload(): void {
    const t = this.now();
    if (t - this.checkedAtMs < reloadIntervalMs) return;
    this.checkedAtMs = t;
    this.reloadKeepingLast(false);
  }

  /** The run-time reload: a damaged file is logged (once per change) and the keys last read stay. */
  private reloadKeepingLast(force: boolean): void {
    try {
      this.reload(force);
    } catch (err) {
      if (!(err instanceof StemeError)) throw err;
      const mtimeMs = fs.statSync(this.file, { throwIfNoEntry: false })?.mtimeMs ?? -1;
      if (mtimeMs === this.loggedBadMtimeMs) return;
      this.loggedBadMtimeMs = mtimeMs;
      this.logger?.warn("the API key file is damaged; the keys read before stay in force until it is fixed", {
        file: this.file,
        code: err.code,
        error: err.message,
        hint: err.hint,
        keys_in_force: this.entries.size,
      });
    }
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
    this.entries = new Map(parseKeyFile(this.file).map((k) => [k.id, k]));
    this.mtimeMs = stat.mtimeMs;
  }

  private save(): void {
    const keys = [...this.entries.values()];
    writeFileDurable(this.file, `${JSON.stringify({ version: 1, keys }, null, 2)}\n`, 0o600);
    this.mtimeMs = fs.statSync(this.file).mtimeMs;
  }
}

/** The entries of a key file; anything but `{keys: [entry, …]}` with well-formed entries is `data_file_corrupt`. */
function parseKeyFile(file: string): KeyEntry[] {
  const corrupt = (why: string) =>
    new StemeError("data_file_corrupt", `${file} is damaged: ${why}`, {
      hint: "restore it from a backup or correct it by hand; removing it drops every API key (make new ones with `stemedb keys create`)",
    });
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw corrupt(code ? `cannot read it (${code})` : `not JSON (${(err as Error).message})`);
  }
  const keys = (parsed as { keys?: unknown } | null)?.keys;
  if (parsed === null || typeof parsed !== "object" || !Array.isArray(keys))
    throw corrupt('expected {"version": 1, "keys": [...]}');
  keys.forEach((k, i) => {
    const e = k as Partial<KeyEntry> | null;
    const ok =
      e !== null &&
      typeof e === "object" &&
      typeof e.id === "string" &&
      /^[0-9a-f]{16}$/.test(e.id) &&
      typeof e.name === "string" &&
      roles.includes(e.role as Role) &&
      typeof e.hash === "string" &&
      /^[0-9a-f]{64}$/.test(e.hash) &&
      typeof e.created_at === "string" &&
      (e.revoked_at === null || typeof e.revoked_at === "string");
    if (!ok) throw corrupt(`keys[${i}] is not a key entry (id, name, role, created_at, revoked_at, hash)`);
    const signing = signingProblem(e as KeyEntry);
    if (signing) throw corrupt(`keys[${i}]: ${signing}`);
  });
  return keys as KeyEntry[];
}

/** What is wrong with an entry's signing key, or null: both fields or neither, and the secret matches the public key. */
function signingProblem(e: KeyEntry): string | null {
  if (e.agent === undefined && e.signing_key === undefined) return null;
  const hex64 = /^[0-9a-f]{64}$/;
  if (typeof e.agent !== "string" || !hex64.test(e.agent) || typeof e.signing_key !== "string" || !hex64.test(e.signing_key))
    return "agent and signing_key go together, each 64 hex digits";
  if (toHex(publicKeyOf(fromHex(e.signing_key, "signing_key", 32))) !== e.agent)
    return "signing_key does not match agent (its public key)";
  return null;
}
