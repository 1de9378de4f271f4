/** The streamed Merkle root equals the root over the whole set, for every size around the powers of two. */
import { expect, test } from "bun:test";
import { MerkleBuilder, merkleRoot, sortIds } from "../../src/crypto/merkle.ts";
import { prng } from "../support/prng.ts";

function ids(n: number, seed: number): Uint8Array[] {
  const rand = prng(seed);
  return Array.from({ length: n }, () => Uint8Array.from({ length: 32 }, () => Math.floor(rand() * 256)));
}

test("the same root as merkleRoot for 0–300 ids and around 1,024, duplicates once", () => {
  const sizes = [...Array.from({ length: 301 }, (_, i) => i), 1023, 1024, 1025, 1537];
  for (const n of sizes) {
    const set = ids(n, n + 1);
    if (n > 3) set.push(set[1] as Uint8Array, set[3] as Uint8Array); // duplicates
    const b = new MerkleBuilder();
    for (const id of sortIds(set)) b.add(id);
    expect(b.count).toBe(n);
    expect(b.root()).toEqual(merkleRoot(set));
  }
});

test("ids out of order or of the wrong length are refused", () => {
  const [a, b] = sortIds(ids(2, 7)) as [Uint8Array, Uint8Array];
  const m = new MerkleBuilder();
  m.add(b);
  expect(() => m.add(a)).toThrow(RangeError);
  expect(() => new MerkleBuilder().add(new Uint8Array(31))).toThrow(RangeError);
});
