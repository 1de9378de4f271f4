/**
 * A seeded PRNG: mulberry32 (Tommy Ettinger, 2017), 32 bits of state, floats in [0, 1). Small,
 * fast and good enough for simulations and property tests; not for anything secret. The same
 * seed gives the same sequence on every platform (only 32-bit integer arithmetic).
 */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
