/**
 * Signing with @noble/ed25519 (pure JS: runs on Bun, Node and in browsers). A signature is
 * over the 32 id bytes, never over the body (docs/FORMAT.md#which-signatures-verify). Verification is verify-noble.ts (pure
 * JS) and verify.ts (the server's, native); both apply the one rule of docs/FORMAT.md#which-signatures-verify.
 */
import * as ed from "@noble/ed25519";
import { sha512 } from "@noble/hashes/sha2.js";

// noble's synchronous API needs a SHA-512; give it noble's own so no platform crypto is needed.
ed.hashes.sha512 = sha512;

export interface KeyPair {
  publicKey: Uint8Array;
  secretKey: Uint8Array;
}

export function generateKeyPair(): KeyPair {
  const secretKey = ed.utils.randomSecretKey();
  return { secretKey, publicKey: ed.getPublicKey(secretKey) };
}

export function publicKeyOf(secretKey: Uint8Array): Uint8Array {
  if (secretKey.length !== 32) throw new RangeError(`secret key: expected 32 bytes, got ${secretKey.length}`);
  return ed.getPublicKey(secretKey);
}

export function signId(id: Uint8Array, secretKey: Uint8Array): Uint8Array {
  return ed.sign(id, secretKey);
}
