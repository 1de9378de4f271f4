/** The native signer for the node's holds gives the bytes noble gives, and they verify. */
import { expect, test } from "bun:test";
import { toHex } from "../../src/core/hex.ts";
import { generateKeyPair } from "../../src/crypto/sign.ts";
import { verifyIdNoble } from "../../src/crypto/verify-noble.ts";
import { signRecord } from "../../src/crypto/signed.ts";
import { nativeSigner } from "../../src/defense/signer.ts";

test("a hold signed natively is byte for byte the record signRecord makes", () => {
  const key = generateKeyPair();
  const sign = nativeSigner(key.secretKey);
  for (let i = 0; i < 20; i++) {
    const fields = {
      v: 1,
      kind: "review",
      agent: toHex(key.publicKey),
      ts: 1_800_000_000_000 + i,
      action: "hold",
      target: "ab".repeat(32),
      note: `n${i}`,
    };
    const native = sign(fields);
    const noble = signRecord(fields, key.secretKey, "json");
    expect(toHex(native.body)).toBe(toHex(noble.body));
    expect(toHex(native.id)).toBe(toHex(noble.id));
    expect(toHex(native.sig)).toBe(toHex(noble.sig));
    expect(verifyIdNoble(native.sig, native.id, key.publicKey)).toBe(true);
  }
  expect(() => nativeSigner(new Uint8Array(31))).toThrow(RangeError);
});
