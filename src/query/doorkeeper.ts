/**
 * Admission for the query caches: keep a thing the second time it is offered, not the first.
 * A cold workload — every (subject, predicate) asked once — then fills no cache at all, where
 * kept at the first ask it churned the whole bound through the heap (views made, evicted, made
 * again), and the garbage, not the bound, set the server's RSS (docs/BENCHMARKS.md#memory-make-bench-memory).
 * A hot key pays one more resolution before it is kept.
 *
 * It remembers the last `slots` keys offered, as 32-bit fingerprints in a direct-mapped table
 * (4 bytes a slot): a key whose slot another key took since is forgotten, and offered again it
 * counts as new; two keys with one fingerprint in one slot (about 1 in 2^32) let the second in
 * at its first offer. Either way only what is cached changes, never an answer.
 */
export const doorkeeperSlotsDefault = 1 << 16;

export class Doorkeeper {
  private readonly prints: Uint32Array;
  private readonly shift: number;

  constructor(slots = doorkeeperSlotsDefault) {
    let bits = 1;
    while (1 << bits < slots) bits++;
    this.prints = new Uint32Array(1 << bits);
    this.shift = 32 - bits;
  }

  /** Was `key` offered before (and still remembered)? It is remembered from now on either way. */
  offer(key: string | number): boolean {
    const print = fingerprint(key);
    const slot = Math.imul(print, 0x9e3779b1) >>> this.shift;
    if (this.prints[slot] === print) return true;
    this.prints[slot] = print;
    return false;
  }
}

/** FNV-1a over the string's UTF-16 units (or the number's two 32-bit halves); never 0, the empty slot. */
function fingerprint(key: string | number): number {
  let h = 0x811c9dc5;
  if (typeof key === "number") {
    h = Math.imul(h ^ (key >>> 0), 0x01000193);
    h = Math.imul(h ^ Math.floor(key / 2 ** 32), 0x01000193);
  } else {
    for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  }
  return h >>> 0 || 1;
}
