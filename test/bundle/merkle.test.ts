/**
 * The Merkle root of a bundle's manifest (docs/FORMAT.md "Audit bundles"): the worked example
 * pinned with b3sum, an independent re-implementation over @noble/hashes, and the properties
 * that make two holders of the same records agree (order, duplicates).
 */
import { describe, expect, test } from "bun:test";
import { blake3 } from "@noble/hashes/blake3.js";
import { toHex } from "../../src/core/hex.ts";
import { merkleRoot } from "../../src/crypto/merkle.ts";
import { prng } from "../support/prng.ts";

const id = (byte: number) => new Uint8Array(32).fill(byte);

/** The definition, written again from the docs with noble's BLAKE3 and nothing of ours. */
function nobleRoot(ids: Uint8Array[]): string {
  const sorted = [...new Map(ids.map((i) => [toHex(i), i])).entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (sorted.length === 0) return toHex(blake3(new Uint8Array(0)));
  let level: Uint8Array[] = sorted.map(([, i]) => blake3(new Uint8Array([0, ...i])));
  while (level.length > 1) {
    const next: Uint8Array[] = [];
    for (let i = 0; i + 1 < level.length; i += 2)
      next.push(blake3(new Uint8Array([1, ...(level[i] as Uint8Array), ...(level[i + 1] as Uint8Array)])));
    if (level.length % 2 === 1) next.push(level[level.length - 1] as Uint8Array);
    level = next;
  }
  return toHex(level[0] as Uint8Array);
}

describe("bundle Merkle root", () => {
  test("the worked example of docs/FORMAT.md (values from b3sum 1.2.0)", () => {
    // ids 22…22, 11…11, 33…33 → sorted 11, 22, 33; leaves L = BLAKE3(00 ‖ id);
    // P = BLAKE3(01 ‖ L11 ‖ L22); root = BLAKE3(01 ‖ P ‖ L33) (the odd leaf carried up).
    expect(toHex(merkleRoot([id(0x22), id(0x11), id(0x33)]))).toBe(
      "837c5b1d77b8bfb02d2cd23a50360cad6a76f18917f6cd6490629f5ea23eded9",
    );
    expect(toHex(merkleRoot([id(0x11)]))).toBe("54ae36309b7aad630bf4ae6c7ade960bad283d3545023747b84e36fb944b787c");
    expect(toHex(merkleRoot([id(0x11), id(0x22)]))).toBe("d207649b982cc41ba4049835542a7f8d74d65fd516e64c1e87b19d74f407c3bd");
  });

  test("the empty bundle's root is BLAKE3 of no bytes", () => {
    expect(toHex(merkleRoot([]))).toBe("af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262");
  });

  test("matches an independent implementation over noble's BLAKE3, 1 to 70 ids", () => {
    const rand = prng(7);
    for (let n = 1; n <= 70; n++) {
      const ids = Array.from({ length: n }, () => Uint8Array.from({ length: 32 }, () => Math.floor(rand() * 256)));
      expect(toHex(merkleRoot(ids))).toBe(nobleRoot(ids));
    }
  });

  test("order does not matter; a repeated id counts once", () => {
    const ids = [id(5), id(1), id(9), id(3), id(7)];
    const root = toHex(merkleRoot(ids));
    expect(toHex(merkleRoot([...ids].reverse()))).toBe(root);
    expect(toHex(merkleRoot([...ids, id(9), id(1)]))).toBe(root);
    expect(toHex(merkleRoot(ids.slice(1)))).not.toBe(root);
  });
});
