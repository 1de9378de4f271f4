/**
 * The id → LSN map, in memory.
 *
 * Record ids are BLAKE3 hashes: uniformly random, so a B-tree index over them touches a random
 * leaf page for every insert, and at a few million records those page writes bound ingest
 * (measured here: ≈ 12–15k records/s). An open-addressing hash table over the first 8 bytes of
 * each id does the same job in memory at ≈ 16–32 bytes a record, and keeps every SQLite index
 * append-mostly.
 *
 * The table maps a 64-bit prefix to candidate LSNs. Prefixes can collide (after about 2^32
 * records), so a hit is a *candidate*: the caller confirms the full id against the record row.
 * The table is derived: it is rebuilt from the index at start-up.
 */
import { invariant } from "../core/errors.ts";

/** Grow when more than this share of slots is used: linear probing stays short. */
const loadFactorMax = 0.5;
const capacityMin = 1 << 16;

export class IdTable {
  /** Slot i holds prefix (hi[i], lo[i]) and lsn[i]; lsn 0 marks an empty slot (LSNs start at 1). */
  private hi: Uint32Array;
  private lo: Uint32Array;
  private lsn: Float64Array;
  private mask: number;
  private used = 0;

  constructor(capacity = capacityMin) {
    let size = capacityMin;
    while (size < capacity / loadFactorMax) size *= 2;
    this.hi = new Uint32Array(size);
    this.lo = new Uint32Array(size);
    this.lsn = new Float64Array(size);
    this.mask = size - 1;
  }

  get size(): number {
    return this.used;
  }

  /** Bytes of memory the table holds. */
  get bytes(): number {
    return this.lsn.length * 16;
  }

  add(id: Uint8Array, lsn: number): void {
    invariant(lsn >= 1, "LSNs start at 1");
    if (this.used + 1 > this.lsn.length * loadFactorMax) this.grow();
    this.insert(readU32(id, 0), readU32(id, 4), lsn);
  }

  /** LSNs of records whose id starts with the same 8 bytes: usually none or one. */
  candidates(id: Uint8Array): number[] {
    const h = readU32(id, 0);
    const l = readU32(id, 4);
    const out: number[] = [];
    for (let i = slotOf(h, l) & this.mask; ; i = (i + 1) & this.mask) {
      const v = this.lsn[i] as number;
      if (v === 0) return out;
      if (this.hi[i] === h && this.lo[i] === l) out.push(v);
    }
  }

  /** Forget every entry with an LSN above `lsn` (the log lost its tail). */
  dropAfter(lsn: number): void {
    const keep: Array<[number, number, number]> = [];
    for (let i = 0; i < this.lsn.length; i++) {
      const v = this.lsn[i] as number;
      if (v !== 0 && v <= lsn) keep.push([this.hi[i] as number, this.lo[i] as number, v]);
    }
    this.lsn.fill(0);
    this.used = 0;
    for (const [h, l, v] of keep) this.insert(h, l, v);
  }

  private insert(h: number, l: number, lsn: number): void {
    let i = slotOf(h, l) & this.mask;
    while ((this.lsn[i] as number) !== 0) i = (i + 1) & this.mask;
    this.hi[i] = h;
    this.lo[i] = l;
    this.lsn[i] = lsn;
    this.used++;
  }

  private grow(): void {
    const { hi, lo, lsn } = this;
    const size = lsn.length * 2;
    this.hi = new Uint32Array(size);
    this.lo = new Uint32Array(size);
    this.lsn = new Float64Array(size);
    this.mask = size - 1;
    this.used = 0;
    for (let i = 0; i < lsn.length; i++) {
      const v = lsn[i] as number;
      if (v !== 0) this.insert(hi[i] as number, lo[i] as number, v);
    }
  }
}

function readU32(b: Uint8Array, at: number): number {
  return (((b[at] as number) << 24) | ((b[at + 1] as number) << 16) | ((b[at + 2] as number) << 8) | (b[at + 3] as number)) >>> 0;
}

/** Ids are already uniformly random; mixing the two halves is enough to spread slots. */
function slotOf(h: number, l: number): number {
  return (h ^ Math.imul(l, 0x9e3779b1)) >>> 0;
}
