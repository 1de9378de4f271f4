/**
 * src/crypto/blake3.ts must be BLAKE3-256 (default hash mode): the official test vectors, noble's
 * `blake3` on random inputs (including unaligned subarrays), and it must not touch its input.
 */
import { describe, expect, test } from "bun:test";
import { blake3 } from "@noble/hashes/blake3.js";
import { toHex } from "../../src/core/hex.ts";
import { blake3_256, blake3_256_into } from "../../src/crypto/blake3.ts";
import { prng as rng } from "../support/prng.ts";

/** The official test-vector input: byte i is i % 251. */
function pattern(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = i % 251;
  return bytes;
}

/**
 * Official BLAKE3 test vectors (BLAKE3 repo, test_vectors/test_vectors.json: input byte i = i % 251,
 * first 32 bytes of the `hash` field). Produced here with b3sum 1.2.0 (Debian package `b3sum`):
 *   python3 -c "import sys; sys.stdout.buffer.write(bytes(i % 251 for i in range(N)))" | b3sum --no-names
 */
const VECTORS: [number, string][] = [
  [0, "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"],
  [1, "2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213"],
  [63, "e9bc37a594daad83be9470df7f7b3798297c3d834ce80ba85d6e207627b7db7b"],
  [64, "4eed7141ea4a5cd4b788606bd23f46e212af9cacebacdc7d1f4c6dc7f2511b98"],
  [65, "de1e5fa0be70df6d2be8fffd0e99ceaa8eb6e8c93a63f2d8d1c30ecb6b263dee"],
  [127, "d81293fda863f008c09e92fc382a81f5a0b4a1251cba1634016a0f86a6bd640d"],
  [128, "f17e570564b26578c33bb7f44643f539624b05df1a76c81f30acd548c44b45ef"],
  [129, "683aaae9f3c5ba37eaaf072aed0f9e30bac0865137bae68b1fde4ca2aebdcb12"],
  [1023, "10108970eeda3eb932baac1428c7a2163b0e924c9a9e25b35bba72b28f70bd11"],
  [1024, "42214739f095a406f3fc83deb889744ac00df831c10daa55189b5d121c855af7"],
  [1025, "d00278ae47eb27b34faecf67b4fe263f82d5412916c1ffd97c8cb7fb814b8444"],
  [2048, "e776b6028c7cd22a4d0ba182a8bf62205d2ef576467e838ed6f2529b85fba24a"],
  [2049, "5f4d72f40d7a5f82b15ca2b2e44b1de3c2ef86c426c95c1af0b6879522563030"],
  [3072, "b98cb0ff3623be03326b373de6b9095218513e64f1ee2edd2525c7ad1e5cffd2"],
  [3073, "7124b49501012f81cc7f11ca069ec9226cecb8a2c850cfe644e327d22d3e1cd3"],
  [4096, "015094013f57a5277b59d8475c0501042c0b642e531b0a1c8f58d2163229e969"],
  [4097, "9b4052b38f1c5fc8b1f9ff7ac7b27cd242487b3d890d15c96a1c25b8aa0fb995"],
  [5120, "9cadc15fed8b5d854562b26a9536d9707cadeda9b143978f319ab34230535833"],
  [5121, "628bd2cb2004694adaab7bbd778a25df25c47b9d4155a55f8fbd79f2fe154cff"],
  [6144, "3e2e5b74e048f3add6d21faab3f83aa44d3b2278afb83b80b3c35164ebeca205"],
  [6145, "f1323a8631446cc50536a9f705ee5cb619424d46887f3c376c695b70e0f0507f"],
  [7168, "61da957ec2499a95d6b8023e2b0e604ec7f6b50e80a9678b89d2628e99ada77a"],
  [7169, "a003fc7a51754a9b3c7fae0367ab3d782dccf28855a03d435f8cfe74605e7817"],
  [8192, "aae792484c8efe4f19e2ca7d371d8c467ffb10748d8a5a1ae579948f718a2a63"],
  [8193, "bab6c09cb8ce8cf459261398d2e7aef35700bf488116ceb94a36d0f5f1b7bc3b"],
  [16384, "f875d6646de28985646f34ee13be9a576fd515f76b5b0a26bb324735041ddde4"],
  [31744, "62b6960e1a44bcc1eb1a611a8d6235b6b4b78f32e7abc4fb4c6cdcce94895c47"],
  [102400, "bc3e3d41a1146b069abffad3c0d44860cf664390afce4d9661f7902e7943e085"],
];

/** A length in 0..3000 within ±2 of a multiple of 64, 1024 or 2048 (block and chunk boundaries). */
function nearBoundary(random: () => number): number {
  const unit = [64, 1024, 2048][Math.floor(random() * 3)]!;
  const length = unit * Math.floor(random() * 3) + Math.floor(random() * 5) - 2;
  return Math.max(0, Math.min(3000, length));
}

describe("blake3_256", () => {
  test.each(VECTORS)("official vector, length %i", (length, expected) => {
    const input = pattern(length);
    expect(toHex(blake3_256(input))).toBe(expected);
    // The same bytes at an odd offset inside a larger buffer hash the same.
    const backing = new Uint8Array(length + 3);
    backing.set(input, 1);
    expect(toHex(blake3_256(backing.subarray(1, 1 + length)))).toBe(expected);
  });

  test("matches noble's blake3 on 5,000 random inputs (0-3000 bytes, odd byteOffsets included)", () => {
    const random = rng(0xb1a4e3);
    let unaligned = 0;
    for (let i = 0; i < 5000; i++) {
      // A third of the lengths sit on block and chunk boundaries.
      const length = i % 3 === 0 ? nearBoundary(random) : Math.floor(random() * 3001);
      const offset = i % 2 === 0 ? 0 : Math.floor(random() * 8);
      if (offset % 4 !== 0) unaligned++;
      const backing = new Uint8Array(offset + length + Math.floor(random() * 4));
      for (let j = 0; j < backing.length; j++) backing[j] = Math.floor(random() * 256);
      const input = backing.subarray(offset, offset + length);
      const ours = blake3_256(input);
      expect(ours.length).toBe(32);
      expect(toHex(ours)).toBe(toHex(blake3(input)));
    }
    expect(unaligned).toBeGreaterThan(1000);
  });

  test("never mutates its input (nor the bytes around a subarray)", () => {
    const random = rng(42);
    for (const length of [0, 1, 63, 64, 65, 250, 1023, 1024, 1025, 2049, 5000]) {
      const backing = new Uint8Array(length + 8);
      for (let j = 0; j < backing.length; j++) backing[j] = Math.floor(random() * 256);
      const before = backing.slice();
      const input = backing.subarray(3, 3 + length);
      const first = toHex(blake3_256(input));
      expect(backing).toEqual(before);
      // And repeated calls (module-level scratch state) give the same answer.
      expect(toHex(blake3_256(input))).toBe(first);
    }
  });

  test("returns a fresh 32-byte array each call", () => {
    const a = blake3_256(pattern(10));
    const b = blake3_256(pattern(10));
    expect(a).not.toBe(b);
    a[0] = a[0]! ^ 0xff;
    expect(toHex(blake3_256(pattern(10)))).toBe(toHex(b));
  });

  test("blake3_256_into writes the same digest at any offset, for one chunk and for more", () => {
    for (const len of [0, 1, 33, 64, 65, 1024, 1025, 4096]) {
      const out = new Uint8Array(100).fill(0xaa);
      blake3_256_into(pattern(len), out, 37);
      expect(toHex(out.subarray(37, 69))).toBe(toHex(blake3_256(pattern(len))));
      expect(out[36]).toBe(0xaa);
      expect(out[69]).toBe(0xaa);
    }
  });
});
