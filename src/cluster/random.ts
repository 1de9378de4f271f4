/**
 * Seeded randomness for tests and the simulator (docs/CLUSTER.md#testing-without-sockets).
 *
 * sfc32 (Chris Doty-Humphrey's "small fast counting" generator from PractRand): 128 bits of
 * state, passes PractRand and BigCrush, and is a handful of 32-bit operations per draw. Seeds
 * are spread into the state with splitmix32 so that seeds 1, 2, 3 give unrelated streams, and
 * `fork(label)` derives an independent stream per node, so adding a node to a simulation does
 * not shift the draws of the others. Never for secrets: production nonces come from
 * `systemRandom()` (env.ts).
 */
import type { Random } from "./env.ts";

export interface SeededRandom extends Random {
  /** An independent generator derived from this one's seed and `label`. */
  fork(label: string | number): SeededRandom;
}

function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/** FNV-1a over the label's UTF-16 units: only to mix a label into a seed. */
function labelHash(label: string | number): number {
  const text = String(label);
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

export function seededRandom(seed: number): SeededRandom {
  if (!Number.isSafeInteger(seed)) throw new RangeError(`seededRandom: expected an integer seed, got ${seed}`);
  const mix = splitmix32((seed % 0x100000000) ^ Math.floor(seed / 0x100000000));
  let a = mix();
  let b = mix();
  let c = mix();
  let d = mix();
  const next = (): number => {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = ((c << 21) | (c >>> 11)) >>> 0;
    c = (c + t) >>> 0;
    return t;
  };
  for (let i = 0; i < 12; i++) next();
  return {
    float: () => next() / 0x100000000,
    int: (n) => Math.floor((next() / 0x100000000) * n),
    bytes(n) {
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i += 4) {
        const w = next();
        for (let k = 0; k < 4 && i + k < n; k++) out[i + k] = (w >>> (8 * k)) & 0xff;
      }
      return out;
    },
    fork: (label) => seededRandom((seed ^ labelHash(label)) + labelHash(`${label}/${seed}`) * 0x10000),
  };
}
