/**
 * The id → LSN map, in memory, compact.
 *
 * Record ids are BLAKE3 hashes: uniformly random, so a B-tree index over them touches a random
 * leaf page for every insert, and at a few million records those page writes bound ingest
 * (measured here: ≈ 12–15k records/s). A hash table over a prefix of each id does the same job
 * in memory and keeps every SQLite index append-mostly.
 *
 * Layout: 9 bytes a slot — a 32-bit tag (the id's first 4 bytes, big-endian) and a 40-bit LSN
 * (a 32-bit low word and an 8-bit high byte; LSN 0 marks an empty slot, LSNs start at 1) —
 * in three typed arrays, filled up to 85 % and sized at start-up to 75 % (≈ 12 bytes a
 * record; the table of 16-byte slots at ≤ 50 % before it took 32–64).
 *
 * A tag's home slot is `tag × capacity / 2^32`: monotonic in the tag, so linear probing that
 * keeps every run sorted by tag (an insert shifts the larger tags of its run one slot on, as
 * robin-hood hashing does) leaves the whole table sorted. A lookup starts at the home slot and
 * stops at the first empty slot or larger tag: a miss (the common case, de-duplicating a new
 * record) costs about as few probes as a hit. Runs never wrap: the arrays have a tail past the
 * last home slot, doubled when a run would pass its end.
 *
 * A hit is a *candidate*: ids that share their first 4 bytes share a tag (at 10M records a new
 * id meets one by chance about once in 430 lookups), so the caller confirms the full id
 * against the record row. The table is derived: it is rebuilt from the index, or read back
 * from the file the last clean stop left (id-table-file.ts), at start-up.
 */
import { invariant } from "../core/errors.ts";

/** Grow (by half) when more than this share of the home slots is used. */
export const loadFactorMax = 0.85;
/** A table built for `n` records starts with n / this many home slots. */
export const loadFactorBuilt = 0.75;
const capacityMin = 1 << 12;
/** Slots past the last home slot at first, so a run near the end has room (doubled when it has not). */
const tailSlots = 256;
/** LSNs fit in 40 bits (a trillion records). */
export const lsnMax = 2 ** 40 - 1;
const two32 = 2 ** 32;

/** The arrays of a table, as stored (id-table-file.ts). */
export interface IdTableArrays {
  /** Home slots (the arrays hold more: a tail past the last home slot). */
  capacity: number;
  tags: Uint32Array;
  lsnLo: Uint32Array;
  lsnHi: Uint8Array;
  size: number;
}

export class IdTable {
  private tags: Uint32Array;
  private lsnLo: Uint32Array;
  private lsnHi: Uint8Array;
  /** Home slots: tags map onto [0, capacity); runs may continue into the tail. */
  private capacity: number;
  private used = 0;

  /** A table with room for `expected` records before it grows. */
  constructor(expected = 0) {
    this.capacity = Math.max(capacityMin, Math.ceil(expected / loadFactorBuilt));
    const slots = this.capacity + tailSlots;
    this.tags = new Uint32Array(slots);
    this.lsnLo = new Uint32Array(slots);
    this.lsnHi = new Uint8Array(slots);
  }

  /** A table over arrays read back from a file; the caller has checked them (`checkArrays`). */
  static fromArrays(a: IdTableArrays): IdTable {
    const t = new IdTable();
    t.capacity = a.capacity;
    t.tags = a.tags;
    t.lsnLo = a.lsnLo;
    t.lsnHi = a.lsnHi;
    t.used = a.size;
    return t;
  }

  /** The arrays themselves (not copies): what a file of the table holds. */
  arrays(): IdTableArrays {
    return { capacity: this.capacity, tags: this.tags, lsnLo: this.lsnLo, lsnHi: this.lsnHi, size: this.used };
  }

  get size(): number {
    return this.used;
  }

  /** Bytes of memory the table holds. */
  get bytes(): number {
    return this.tags.length * 9;
  }

  add(id: Uint8Array, lsn: number): void {
    invariant(Number.isInteger(lsn) && lsn >= 1 && lsn <= lsnMax, "LSNs are integers in [1, 2^40)");
    if (this.used + 1 > this.capacity * loadFactorMax) this.grow(this.capacity * 1.5);
    const tag = readU32(id);
    while (!this.insert(tag, lsn)) this.extendTail();
  }

  /** LSNs of records whose id starts with the same 4 bytes: usually none or one. */
  candidates(id: Uint8Array): number[] {
    const tag = readU32(id);
    const out: number[] = [];
    const { tags, lsnLo, lsnHi } = this;
    for (let i = this.home(tag); i < tags.length; i++) {
      const lo = lsnLo[i] as number;
      const hi = lsnHi[i] as number;
      if (lo === 0 && hi === 0) break;
      const t = tags[i] as number;
      if (t > tag) break;
      if (t === tag) out.push(hi * two32 + lo);
    }
    return out;
  }

  /** Forget every entry with an LSN above `lsn` (the log lost its tail). */
  dropAfter(lsn: number): void {
    this.rebuild(this.capacity, (v) => v <= lsn);
  }

  private home(tag: number): number {
    return Math.min(this.capacity - 1, Math.floor((tag * this.capacity) / two32));
  }

  /**
   * Puts (tag, lsn) after every entry of its run with a tag ≤ its own, shifting the rest of the
   * run one slot on. False (nothing changed) when the run would pass the end of the arrays.
   */
  private insert(tag: number, lsn: number): boolean {
    const { tags, lsnLo, lsnHi } = this;
    const n = tags.length;
    let i = this.home(tag);
    while (i < n && ((lsnLo[i] as number) !== 0 || (lsnHi[i] as number) !== 0) && (tags[i] as number) <= tag) i++;
    let end = i;
    while (end < n && ((lsnLo[end] as number) !== 0 || (lsnHi[end] as number) !== 0)) end++;
    if (end === n) return false;
    if (end > i) {
      tags.copyWithin(i + 1, i, end);
      lsnLo.copyWithin(i + 1, i, end);
      lsnHi.copyWithin(i + 1, i, end);
    }
    tags[i] = tag;
    lsnLo[i] = lsn % two32;
    lsnHi[i] = Math.floor(lsn / two32);
    this.used++;
    return true;
  }

  private grow(capacity: number): void {
    this.rebuild(capacity, () => true);
  }

  /** The same home slots, a tail twice as long: a run ran off the end (at the tail's size, only a crafted one does). */
  private extendTail(): void {
    const slots = this.tags.length + Math.max(tailSlots, this.tags.length - this.capacity);
    const grown = <T extends Uint32Array | Uint8Array>(a: T, make: (n: number) => T): T => {
      const out = make(slots);
      out.set(a);
      return out;
    };
    this.tags = grown(this.tags, (n) => new Uint32Array(n));
    this.lsnLo = grown(this.lsnLo, (n) => new Uint32Array(n));
    this.lsnHi = grown(this.lsnHi, (n) => new Uint8Array(n));
  }

  /**
   * New arrays of `capacity` home slots holding the entries `keep` accepts, inserted in slot
   * (so tag) order: each lands at its run's end.
   */
  private rebuild(capacity: number, keep: (lsn: number) => boolean): void {
    const { tags, lsnLo, lsnHi } = this;
    this.capacity = Math.ceil(capacity);
    this.tags = new Uint32Array(this.capacity + tailSlots);
    this.lsnLo = new Uint32Array(this.capacity + tailSlots);
    this.lsnHi = new Uint8Array(this.capacity + tailSlots);
    this.used = 0;
    for (let i = 0; i < tags.length; i++) {
      const lo = lsnLo[i] as number;
      const hi = lsnHi[i] as number;
      if (lo === 0 && hi === 0) continue;
      const v = hi * two32 + lo;
      if (!keep(v)) continue;
      while (!this.insert(tags[i] as number, v)) this.extendTail();
    }
  }
}

/**
 * Checks arrays read from a file against the table's invariants before they are used: the
 * lengths, the count, each entry in the run its home slot starts or continues, runs sorted by tag. Returns what
 * is wrong, or null.
 */
export function checkArrays(a: IdTableArrays): string | null {
  const slots = a.tags.length;
  if (!Number.isInteger(a.capacity) || a.capacity < capacityMin || slots <= a.capacity) return `capacity ${a.capacity}`;
  if (a.lsnLo.length !== slots || a.lsnHi.length !== slots) return "array lengths";
  let used = 0;
  let prevTag = -1;
  let runStart = 0;
  for (let i = 0; i < slots; i++) {
    if (a.lsnLo[i] === 0 && a.lsnHi[i] === 0) {
      prevTag = -1;
      runStart = i + 1;
      continue;
    }
    const tag = a.tags[i] as number;
    const home = Math.min(a.capacity - 1, Math.floor((tag * a.capacity) / two32));
    if (home > i || home < runStart) return `slot ${i} holds a tag whose home is ${home}, outside its run`;
    if (tag < prevTag) return `slot ${i} breaks its run's order`;
    prevTag = tag;
    used++;
  }
  return used === a.size ? null : `${used} entries, the header says ${a.size}`;
}

function readU32(b: Uint8Array): number {
  return (((b[0] as number) << 24) | ((b[1] as number) << 16) | ((b[2] as number) << 8) | (b[3] as number)) >>> 0;
}
