/**
 * Does a 32-byte Ed25519 point encoding name a point of small order (order 1, 2, 4 or 8)?
 * Pure byte comparisons, no curve arithmetic: the server asks this of every signature's R
 * before the native check (src/crypto/verify.ts), where a decode would cost more than the
 * comparison. Pure JS (no Buffer), like verify-noble.ts.
 *
 * Edwards25519 has eight points of small order (its torsion subgroup). An encoding is the
 * y-coordinate (255 bits, little-endian) plus the sign of x in the top bit, so the sign bit is
 * ignored and only y matters. The small-order points have these y (p = 2^255 − 19):
 *
 *   y = 1                 the identity (order 1)
 *   y = p − 1             (0, −1), order 2
 *   y = 0                 (±√−1, 0), order 4
 *   y = y8, y = p − y8    the four points of order 8 (two signs of x each)
 *
 * and y = p and y = p + 1 are the non-canonical spellings of 0 and 1 (every other y + p is
 * ≥ 2^255 and cannot be written). These are the seven encodings libsodium 1.0.18 refuses in
 * `ge25519_has_small_order`; test/crypto/signature.test.ts derives the same set from the curve
 * with noble's point arithmetic.
 */
/** The y-coordinates above, little-endian, sign bit clear. */
const smallOrderEncodings: readonly Uint8Array[] = [
  "0000000000000000000000000000000000000000000000000000000000000000", // y = 0, order 4
  "0100000000000000000000000000000000000000000000000000000000000000", // y = 1, the identity
  "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", // y = p − y8, order 8
  "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", // y = y8, order 8
  "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = p − 1, order 2
  "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = p (non-canonical 0)
  "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = p + 1 (non-canonical 1)
].map((h) => Uint8Array.from(h.match(/../g) ?? [], (byte) => Number.parseInt(byte, 16)));

/** True if `encoding` (32 bytes) is, sign bit aside, one of the seven y above. */
export function isSmallOrderEncoding(encoding: Uint8Array): boolean {
  if (encoding.length !== 32) throw new RangeError(`a point encoding is 32 bytes, got ${encoding.length}`);
  for (const y of smallOrderEncodings) {
    let diff = ((encoding[31] as number) & 0x7f) ^ (y[31] as number);
    for (let i = 0; i < 31 && diff === 0; i++) diff |= (encoding[i] as number) ^ (y[i] as number);
    if (diff === 0) return true;
  }
  return false;
}
