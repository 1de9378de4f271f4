/**
 * Server-side signature verification with Bun's native Ed25519 (BoringSSL), about 20× faster
 * than noble. Public keys are turned into KeyObjects once and cached: the same agents write
 * again and again.
 *
 * The rule is docs/FORMAT.md#which-signatures-verify's, stated in full in verify-noble.ts (the pure-JS verifier, which must
 * agree with this one on every signature): canonical A, R and S < L, A and R not of small
 * order, and the cofactorless equation [S]B = R + [k]A. BoringSSL supplies most of it: it
 * checks S < L, computes [S]B − [k]A and compares its canonical encoding with R's bytes (so R
 * must be canonical), with no factor 8. Two things it does not do, added here:
 *
 * - It accepts small-order public keys (and non-canonical encodings of them): with
 *   A = identity, R = identity and S = 0 the equation holds for every message, so anyone
 *   could sign "as" such a key. Each key is checked once with noble (canonical encoding, not
 *   of small order) before it is cached.
 * - It accepts a small-order R (e.g. the identity, with S = k·a), which libsodium refuses. R is
 *   compared against the small-order encodings (small-order.ts) before the native call.
 */
import crypto, { type KeyObject } from "node:crypto";
import * as ed from "@noble/ed25519";
import { isSmallOrderEncoding } from "./small-order.ts";

// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410 §4); the raw 32-byte key follows.
const spkiPrefix = Buffer.from("302a300506032b6570032100", "hex");
const keyCacheEntriesMax = 65_536;
const keyCache = new Map<string, KeyObject | null>();

function keyObject(publicKey: Uint8Array): KeyObject | null {
  const cacheKey = Buffer.from(publicKey).toString("latin1");
  let key = keyCache.get(cacheKey);
  if (key !== undefined) return key;
  try {
    const point = ed.Point.fromBytes(publicKey, false);
    key = point.isSmallOrder()
      ? null
      : crypto.createPublicKey({ key: Buffer.concat([spkiPrefix, publicKey]), format: "der", type: "spki" });
  } catch {
    key = null; // not a canonical point encoding: no signature by it verifies
  }
  if (keyCache.size >= keyCacheEntriesMax) keyCache.clear();
  keyCache.set(cacheKey, key);
  return key;
}

export function verifyId(sig: Uint8Array, id: Uint8Array, publicKey: Uint8Array): boolean {
  if (sig.length !== 64 || publicKey.length !== 32 || isSmallOrderEncoding(sig.subarray(0, 32))) return false;
  const key = keyObject(publicKey);
  if (key === null) return false;
  try {
    return crypto.verify(null, id, key, sig);
  } catch {
    return false;
  }
}

/**
 * The same check on libuv's thread pool, so many verifications run in parallel with the event
 * loop (≈ 1.5× the synchronous rate on two cores).
 */
export function verifyIdAsync(sig: Uint8Array, id: Uint8Array, publicKey: Uint8Array): Promise<boolean> {
  if (sig.length !== 64 || publicKey.length !== 32 || isSmallOrderEncoding(sig.subarray(0, 32))) return Promise.resolve(false);
  const key = keyObject(publicKey);
  if (key === null) return Promise.resolve(false);
  return new Promise((resolve) => {
    try {
      crypto.verify(null, id, key, sig, (err, ok) => resolve(err ? false : ok));
    } catch {
      resolve(false);
    }
  });
}
