/** A seeded random stream with the draws the arena needs (src/core/prng.ts underneath). */
import { prng } from "../core/prng.ts";
import { blake3_256 } from "../crypto/blake3.ts";

export class Rng {
  private readonly next: () => number;

  constructor(seed: number) {
    this.next = prng(seed);
  }

  /** An independent stream for `name` under `seed`, so one agent's draws never shift another's. */
  static for(seed: number, name: string): Rng {
    const h = blake3_256(new TextEncoder().encode(`stemedb-arena-rng/${seed}/${name}`));
    return new Rng(new DataView(h.buffer, h.byteOffset, 4).getUint32(0));
  }

  /** A float in [0, 1). */
  float(): number {
    return this.next();
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  /** A float in [a, b). */
  uniform(a: number, b: number): number {
    return a + (b - a) * this.next();
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError("pick: no items");
    return items[this.int(items.length)] as T;
  }

  /** `k` distinct items (all of them when there are fewer), in draw order. */
  sample<T>(items: readonly T[], k: number): T[] {
    return this.indices(items.length, k).map((i) => items[i] as T);
  }

  /** `k` distinct integers in [0, n) (all of them when k ≥ n), in draw order; O(k) when k ≪ n. */
  indices(n: number, k: number): number[] {
    if (k >= n / 2) {
      const pool = Array.from({ length: n }, (_, i) => i);
      const m = Math.min(k, n);
      for (let i = 0; i < m; i++) {
        const j = i + this.int(n - i);
        [pool[i], pool[j]] = [pool[j] as number, pool[i] as number];
      }
      return pool.slice(0, m);
    }
    const seen = new Set<number>();
    const out: number[] = [];
    while (out.length < k) {
      const i = this.int(n);
      if (seen.has(i)) continue;
      seen.add(i);
      out.push(i);
    }
    return out;
  }
}
