/**
 * Native (Bun node:crypto / BoringSSL, src/crypto/verify.ts) and pure-JS (verifyIdNoble,
 * src/crypto/verify-noble.ts) Ed25519 verification must accept and reject the same signatures
 * (docs/FORMAT.md#which-signatures-verify). The cases where verifiers in the wild differ (mixed-order points, small-order R)
 * are in the vectors, checked by test/crypto/signature-rule.test.ts.
 */
import { describe, expect, test } from "bun:test";
import { toHex } from "../../src/core/hex.ts";
import { generateKeyPair, publicKeyOf, signId } from "../../src/crypto/sign.ts";
import { verifyIdNoble } from "../../src/crypto/verify-noble.ts";
import { verifyId, verifyIdAsync } from "../../src/crypto/verify.ts";
import { prng as rng } from "../support/prng.ts";

const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "hex"));
const flipBit = (b: Uint8Array, bit: number): Uint8Array => {
  const out = b.slice();
  const i = bit >> 3;
  out[i] = (out[i] as number) ^ (1 << (bit & 7));
  return out;
};

/** The group order L = 2^252 + 27742317777372353535851937790883648493. */
const L = 2n ** 252n + 27742317777372353535851937790883648493n;

function leToBigInt(b: Uint8Array): bigint {
  let n = 0n;
  for (let i = b.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(b[i] as number);
  return n;
}
function bigIntToLe(n: bigint, len: number): Uint8Array {
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i++) {
    out[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  if (n !== 0n) throw new Error("does not fit");
  return out;
}

describe("native and noble agree", () => {
  test("200 random key/message pairs: both accept; a flipped bit in sig, id or key: both reject", async () => {
    const rand = rng(42);
    for (let i = 0; i < 200; i++) {
      const { secretKey, publicKey } = generateKeyPair();
      expect(toHex(publicKeyOf(secretKey))).toBe(toHex(publicKey));
      const id = new Uint8Array(32).map(() => Math.floor(rand() * 256));
      const sig = signId(id, secretKey);
      expect(sig.length).toBe(64);
      expect(verifyId(sig, id, publicKey)).toBe(true);
      expect(verifyIdNoble(sig, id, publicKey)).toBe(true);
      if (i % 20 === 0) expect(await verifyIdAsync(sig, id, publicKey)).toBe(true);

      const badSig = flipBit(sig, Math.floor(rand() * 512));
      const badId = flipBit(id, Math.floor(rand() * 256));
      const badKey = flipBit(publicKey, Math.floor(rand() * 256));
      for (const [s, m, k] of [
        [badSig, id, publicKey],
        [sig, badId, publicKey],
        [sig, id, badKey],
      ] as const) {
        const native = verifyId(s, m, k);
        expect(native).toBe(false);
        expect(verifyIdNoble(s, m, k)).toBe(native);
      }
      if (i % 20 === 0) expect(await verifyIdAsync(badSig, id, publicKey)).toBe(false);
    }
  });

  test("wrong lengths are rejected, not thrown", () => {
    const { secretKey, publicKey } = generateKeyPair();
    const id = new Uint8Array(32).fill(9);
    const sig = signId(id, secretKey);
    expect(verifyId(sig.subarray(0, 63), id, publicKey)).toBe(false);
    expect(verifyIdNoble(sig.subarray(0, 63), id, publicKey)).toBe(false);
    expect(verifyId(sig, id, publicKey.subarray(0, 31))).toBe(false);
    expect(verifyIdNoble(sig, id, publicKey.subarray(0, 31))).toBe(false);
  });

  test("non-canonical S (S + L) is rejected by both (RFC 8032 strictness)", () => {
    const rand = rng(7);
    for (let i = 0; i < 10; i++) {
      const { secretKey, publicKey } = generateKeyPair();
      const id = new Uint8Array(32).map(() => Math.floor(rand() * 256));
      const sig = signId(id, secretKey);
      const s = leToBigInt(sig.subarray(32));
      expect(s < L).toBe(true);
      const malleated = sig.slice();
      malleated.set(bigIntToLe(s + L, 32), 32); // the same scalar mod L: a lax verifier accepts it
      expect(toHex(malleated)).not.toBe(toHex(sig));
      expect(verifyId(malleated, id, publicKey)).toBe(false);
      expect(verifyIdNoble(malleated, id, publicKey)).toBe(false);
      // Control: the unmodified signature still verifies with both.
      expect(verifyId(sig, id, publicKey)).toBe(true);
      expect(verifyIdNoble(sig, id, publicKey)).toBe(true);
    }
  });

  test("a non-canonical R encoding (identity as y = p + 1) is rejected by both", () => {
    // R = identity encoded non-canonically (y = p + 1) with S = 0 under an honest key.
    const { publicKey } = generateKeyPair();
    const sig = new Uint8Array(64);
    sig.set(unhex("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"), 0);
    const id = new Uint8Array(32).fill(1);
    expect(verifyId(sig, id, publicKey)).toBe(false);
    expect(verifyIdNoble(sig, id, publicKey)).toBe(false);
  });
});

/**
 * Small-order public keys: the case where ZIP-215, RFC 8032 and implementations differ.
 *
 * With A = the identity (0x01 then 31 zero bytes), R = the identity and S = 0, the verification
 * equation [S]B = R + [k]A holds for EVERY message (0 = 0 + 0). RFC 8032's cofactorless check as
 * written accepts it; docs/FORMAT.md#which-signatures-verify refuses small-order A (and small-order R).
 *
 * BoringSSL alone (Bun 1.4.4) ACCEPTS these, including the non-canonical encodings of
 * small-order points (y = p + 1, y = p). verify.ts therefore refuses small-order and
 * non-canonical keys before the native call, so the server agrees with verifyIdNoble (docs/FORMAT.md#which-signatures-verify).
 */
describe("small-order public keys: native and noble both reject", () => {
  const identity = unhex("0100000000000000000000000000000000000000000000000000000000000000");
  const forged = new Uint8Array(64);
  forged.set(identity, 0); // R = identity, S = 0

  test("identity key, R = identity, S = 0: both reject every message", () => {
    for (let i = 0; i < 16; i++) {
      const id = new Uint8Array(32).fill(i * 13);
      expect(verifyIdNoble(forged, id, identity)).toBe(false);
      expect(verifyId(forged, id, identity)).toBe(false);
    }
  });

  test("all-zero public key (y = 0, a point of order 4): both always reject", () => {
    const zero = new Uint8Array(32);
    let native = 0;
    for (let i = 0; i < 64; i++) {
      const id = new Uint8Array(32);
      id[0] = i;
      expect(verifyIdNoble(forged, id, zero)).toBe(false);
      if (verifyId(forged, id, zero)) native++;
    }
    expect(native).toBe(0);
  });

  test("every small-order encoding (canonical and not): both reject all", () => {
    const encodings = [
      "0100000000000000000000000000000000000000000000000000000000000000", // identity, order 1
      "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // order 2
      "0000000000000000000000000000000000000000000000000000000000000000", // order 4
      "0000000000000000000000000000000000000000000000000000000000000080", // order 4
      "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", // order 8
      "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa", // order 8
      "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", // order 8
      "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85", // order 8
      "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // identity, y = p + 1 (non-canonical)
      "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = p (non-canonical)
    ];
    let nativeAccepted = 0;
    for (const h of encodings) {
      const key = unhex(h);
      for (let i = 0; i < 32; i++) {
        const id = new Uint8Array(32);
        id[0] = i;
        expect(verifyIdNoble(forged, id, key)).toBe(false);
        if (verifyId(forged, id, key)) nativeAccepted++;
      }
    }
    // Without the small-order check in verify.ts, BoringSSL accepts ≥ 64 of these.
    expect(nativeAccepted).toBe(0);
  });
});
