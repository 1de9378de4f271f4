/**
 * isSmallOrderEncoding's seven hard-coded y values are exactly the ones the curve gives: the y
 * of the eight points of order dividing 8 (the multiples of a point of order 8), plus y + p
 * wherever that still fits in 255 bits (the non-canonical spellings).
 */
import { describe, expect, test } from "bun:test";
import * as ed from "@noble/ed25519";
import { isSmallOrderEncoding } from "../../src/crypto/small-order.ts";
import { prng } from "../support/prng.ts";

const { Point } = ed;
const p = Point.CURVE().p;
const T8 = Point.fromHex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a");
const toLe = (n: bigint): Uint8Array => Uint8Array.from({ length: 32 }, (_, i) => Number((n >> BigInt(8 * i)) & 0xffn));
const withSign = (b: Uint8Array, sign: boolean): Uint8Array => {
  const out = b.slice();
  out[31] = ((out[31] as number) & 0x7f) | (sign ? 0x80 : 0);
  return out;
};

/** Every y of a small-order point, canonical and not, derived from the curve. */
function smallOrderYs(): bigint[] {
  const ys = new Set<bigint>();
  for (let j = 0n; j < 8n; j++) {
    const point = T8.multiply(j, false);
    expect(point.isSmallOrder()).toBe(true);
    ys.add(point.y);
  }
  for (const y of [...ys]) if (y + p < 2n ** 255n) ys.add(y + p);
  return [...ys];
}

describe("isSmallOrderEncoding", () => {
  test("accepts every encoding of every small-order point, with either sign bit: seven y values in all", () => {
    const ys = smallOrderYs();
    expect(ys.length).toBe(7);
    for (const y of ys) {
      for (const sign of [false, true]) {
        const encoding = withSign(toLe(y), sign);
        expect(isSmallOrderEncoding(encoding)).toBe(true);
        // Where noble's lenient (ZIP-215) decoding reads the encoding at all, it agrees it is small order.
        let decoded: InstanceType<typeof Point> | null = null;
        try {
          decoded = Point.fromBytes(encoding, true);
        } catch {}
        if (decoded !== null) expect(decoded.isSmallOrder()).toBe(true);
      }
    }
  });

  test("refuses prime-order and mixed-order points, and y values one off a small-order y", () => {
    const rand = prng(11);
    for (let i = 0; i < 300; i++) {
      const scalar = BigInt(Math.floor(rand() * 2 ** 48)) + 1n;
      const prime = Point.BASE.multiply(scalar);
      const mixed = prime.add(T8.multiply(BigInt(1 + (i % 7)), false));
      for (const point of [prime, mixed]) {
        expect(point.isSmallOrder()).toBe(false);
        expect(isSmallOrderEncoding(point.toBytes())).toBe(false);
      }
    }
    for (const y of smallOrderYs()) {
      for (const near of [y - 1n, y + 1n])
        if (near >= 0n && !smallOrderYs().includes(near)) expect(isSmallOrderEncoding(toLe(near))).toBe(false);
    }
  });

  test("a wrong length is a RangeError", () => {
    expect(() => isSmallOrderEncoding(new Uint8Array(31))).toThrow(RangeError);
  });
});
