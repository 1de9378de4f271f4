/**
 * The cluster key and its rotation (docs/CLUSTER-WIRE.md#keys-and-rotation).
 *
 * Every node holds the same 32-byte secret; it authenticates every gossip packet (HMAC-SHA256,
 * wire.ts) and every stream session (handshake.ts), so a process without it can neither join
 * nor inject. A keyring holds a primary key, used for everything we send, and older keys,
 * accepted on receive — memberlist's keyring.go, with MACs where memberlist encrypts. Rotating
 * without a pause is three steps, each rolled out to every node before the next:
 *
 *   1. add the new key as a secondary (every node now accepts it);
 *   2. make it primary (nodes send under it; the old one is still accepted);
 *   3. remove the old key.
 *
 * The key file (`--cluster-key-file`) holds one key per line as 64 hex digits, the primary
 * first; `#` starts a comment. HMACs use the runtime's native HMAC (node:crypto), not
 * @noble/hashes: every packet is signed once and checked once, and native HMAC-SHA256 over a
 * 300-byte packet costs ≈ 0.7 µs against ≈ 15 µs for noble's (measured on this machine);
 * test/cluster/keyring.test.ts checks the two agree on RFC 4231's vectors.
 */
import crypto from "node:crypto";

export const keyBytes = 32;
/** Rotation needs two; a few more cover a rollout interrupted halfway. */
export const keyringKeysMax = 4;
export const macBytes = 32;

export function hmacSha256(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  const h = crypto.createHmac("sha256", key);
  for (const part of parts) h.update(part);
  return new Uint8Array(h.digest());
}

/** Compares two MACs in time independent of where they differ. */
export function macEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}

export class Keyring {
  private readonly list: Uint8Array[];

  /** `keys[0]` is the primary. */
  constructor(keys: readonly Uint8Array[]) {
    if (keys.length === 0) throw new RangeError("a keyring needs at least one key");
    if (keys.length > keyringKeysMax) throw new RangeError(`a keyring holds at most ${keyringKeysMax} keys, got ${keys.length}`);
    for (const k of keys) {
      if (!(k instanceof Uint8Array)) throw new TypeError("a cluster key is a Uint8Array");
      if (k.length !== keyBytes) throw new RangeError(`a cluster key is ${keyBytes} bytes, got ${k.length}`);
    }
    this.list = keys.map((k) => k.slice());
  }

  /** The key we send under. */
  get primary(): Uint8Array {
    return this.list[0] as Uint8Array;
  }

  /** Every key accepted on receive, the primary first. */
  get keys(): readonly Uint8Array[] {
    return this.list;
  }

  /** The MAC of `parts` under the primary key. */
  sign(...parts: Uint8Array[]): Uint8Array {
    return hmacSha256(this.primary, ...parts);
  }

  /** The key under which `mac` is the MAC of `parts`, or null: trying each costs ≈ 1 µs a key. */
  verify(mac: Uint8Array, ...parts: Uint8Array[]): Uint8Array | null {
    for (const key of this.list) if (macEqual(hmacSha256(key, ...parts), mac)) return key;
    return null;
  }

  /** A keyring with `key` as primary (added if new, kept otherwise): step 2 of a rotation. */
  withPrimary(key: Uint8Array): Keyring {
    return new Keyring([key, ...this.list.filter((k) => !macEqual(k, key))]);
  }

  /** A keyring with `key` added as a secondary: step 1. */
  withKey(key: Uint8Array): Keyring {
    if (this.list.some((k) => macEqual(k, key))) return this;
    return new Keyring([...this.list, key]);
  }

  /** A keyring without `key`: step 3. The primary cannot be removed. */
  without(key: Uint8Array): Keyring {
    if (macEqual(this.primary, key)) throw new RangeError("the primary key cannot be removed; make another key primary first");
    return new Keyring(this.list.filter((k) => !macEqual(k, key)));
  }
}

/** Reads a key file's text: one 64-hex-digit key per line, the primary first, `#` comments. */
export function parseKeyring(text: string): Keyring {
  const keys: Uint8Array[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).replace(/#.*/, "").trim();
    if (line === "") continue;
    if (!/^[0-9a-fA-F]{64}$/.test(line))
      throw new RangeError(`cluster key file line ${i + 1}: expected 64 hex digits (32 bytes), got ${line.length} characters`);
    keys.push(new Uint8Array(Buffer.from(line, "hex")));
  }
  if (keys.length === 0) throw new RangeError("cluster key file holds no key (make one with `openssl rand -hex 32`)");
  return new Keyring(keys);
}
