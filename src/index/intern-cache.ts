/**
 * The row ids of strings the index interns (subjects, agents, predicates, sources), for the ones
 * seen lately: a batch's inserts look each one up here before asking SQLite.
 *
 * Bounded, so it does not grow with the store: two generations of at most `generationMax`
 * entries each. A string found in the older generation moves to the newer; when the newer is
 * full it becomes the older and the older is dropped whole, with every string not asked for
 * during a whole generation. So it holds at most 2 × `generationMax` strings (≈ 111 bytes each
 * for a 25-character subject: ≈ 29 MB at the default), and a string asked for at least once a
 * generation stays. Before this bound, every distinct subject the node had indexed since it
 * started stayed in memory.
 */
export const internGenerationMaxDefault = 1 << 17;

/** Throws on a generation size that is not a positive integer. */
export function checkGenerationMax(generationMax: number): void {
  if (!Number.isInteger(generationMax) || generationMax < 1) throw new RangeError(`internGenerationMax: ${generationMax}`);
}

export class InternCache {
  private young = new Map<string, number>();
  private old = new Map<string, number>();

  constructor(private readonly generationMax = internGenerationMaxDefault) {
    checkGenerationMax(generationMax);
  }

  get(key: string): number | undefined {
    const young = this.young.get(key);
    if (young !== undefined) return young;
    const old = this.old.get(key);
    if (old !== undefined) this.set(key, old);
    return old;
  }

  set(key: string, id: number): void {
    if (this.young.size >= this.generationMax) {
      this.old = this.young;
      this.young = new Map();
    }
    this.young.set(key, id);
  }

  /** Strings held (one counted twice while it is in both generations). */
  get size(): number {
    return this.young.size + this.old.size;
  }

  clear(): void {
    this.young = new Map();
    this.old = new Map();
  }
}
