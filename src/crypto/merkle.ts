/**
 * The Merkle root over a set of record ids (docs/FORMAT.md#the-merkle-root audit bundles, §10 `stemedb root`): one
 * 32-byte value two holders of the same records compute alike, whatever order they hold them
 * in — a data dir and its backup, two replicas, a bundle and its manifest.
 *
 *   leaves  = BLAKE3(0x00 ‖ id) for every id, ids sorted bytewise (duplicates once)
 *   parent  = BLAKE3(0x01 ‖ left ‖ right), pairing left to right; an odd last node is
 *             carried up to the next level unchanged
 *   root    = the single node left; the empty set's root is BLAKE3 of no bytes
 *
 * The 0x00 / 0x01 prefixes separate leaves from inner nodes (as in RFC 6962 §2.1), so no
 * inner node can pass for a leaf.
 *
 * Built for a million ids in about a second: ids are sorted by a counting sort on their first
 * two bytes (ids are uniform hashes: ~15 per bucket at a million) with an insertion sort in
 * each bucket, and every level lives in one buffer hashed in place, allocating nothing per node.
 */
import { blake3_256, blake3_256_into } from "./blake3.ts";

/** Compares two ids bytewise. */
export function compareIds(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return (a[i] as number) - (b[i] as number);
  return a.length - b.length;
}

/** Ids in bytewise order (a new array; the ids themselves are not copied). */
export function sortIds(ids: readonly Uint8Array[]): Uint8Array[] {
  const key = (id: Uint8Array) => (((id[0] ?? 0) << 8) | (id[1] ?? 0)) + (id.length >= 2 ? 1 : 0);
  const counts = new Uint32Array(65538);
  for (const id of ids) counts[key(id) + 1] = (counts[key(id) + 1] as number) + 1;
  for (let i = 1; i < counts.length; i++) counts[i] = (counts[i] as number) + (counts[i - 1] as number);
  const out = new Array<Uint8Array>(ids.length);
  const next = counts.slice(0, 65537);
  for (const id of ids) {
    const k = key(id);
    out[next[k] as number] = id;
    next[k] = (next[k] as number) + 1;
  }
  for (let b = 0; b < 65537; b++) {
    const start = counts[b] as number;
    const end = counts[b + 1] as number;
    for (let i = start + 1; i < end; i++) {
      const v = out[i] as Uint8Array;
      let j = i - 1;
      while (j >= start && compareIds(out[j] as Uint8Array, v) > 0) {
        out[j + 1] = out[j] as Uint8Array;
        j--;
      }
      out[j + 1] = v;
    }
  }
  return out;
}

/** The root over `ids` (any order; not modified). Ids are 32 bytes: record ids. */
export function merkleRoot(ids: readonly Uint8Array[]): Uint8Array {
  const leaves = leavesOf(uniqueSorted(ids));
  return rootOfLeaves(leaves, leaves.length / 32);
}

/** `ids` sorted bytewise with duplicates dropped. */
export function uniqueSorted(ids: readonly Uint8Array[]): Uint8Array[] {
  for (const id of ids) if (id.length !== 32) throw new RangeError(`a record id is 32 bytes, got ${id.length}`);
  const out: Uint8Array[] = [];
  for (const id of sortIds(ids)) if (out.length === 0 || !sameId(out[out.length - 1] as Uint8Array, id)) out.push(id);
  return out;
}

/** The leaves BLAKE3(0x00 ‖ id) of sorted, unique ids, back to back in one buffer. */
export function leavesOf(sorted: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(sorted.length * 32);
  const leafInput = new Uint8Array(33);
  for (let i = 0; i < sorted.length; i++) {
    const id = sorted[i] as Uint8Array;
    for (let k = 0; k < 32; k++) leafInput[k + 1] = id[k] as number;
    blake3_256_into(leafInput, out, i * 32);
  }
  return out;
}

/** The root over `count` leaves in `leaves` (32 bytes each, in id order), each level hashed in place. */
export function rootOfLeaves(leaves: Uint8Array, count: number): Uint8Array {
  if (count === 0) return blake3_256(new Uint8Array(0));
  const parentInput = new Uint8Array(65);
  parentInput[0] = 1;
  let level = leaves;
  while (count > 1) {
    const nextCount = Math.ceil(count / 2);
    const next = new Uint8Array(nextCount * 32);
    for (let i = 0; i + 1 < count; i += 2) {
      const from = i * 32;
      for (let k = 0; k < 64; k++) parentInput[k + 1] = level[from + k] as number;
      blake3_256_into(parentInput, next, (i >> 1) * 32);
    }
    if (count % 2 === 1) next.set(level.subarray((count - 1) * 32, count * 32), (nextCount - 1) * 32);
    level = next;
    count = nextCount;
  }
  return level.slice(0, 32);
}

function sameId(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 31; i >= 0; i--) if (a[i] !== b[i]) return false; // uniform hashes differ at the end as surely as at the start
  return true;
}

/**
 * The same root built from ids given one at a time in bytewise order (duplicates once), holding
 * one node per level: for ids read in order from an index, without an array of them. Complete
 * subtrees pair as they fill; at the end the last node is carried up to the level of the node on
 * its left and paired with it, right to left — what `rootOfLeaves` does level by level.
 */
export class MerkleBuilder {
  private readonly nodes: Uint8Array[] = [];
  private readonly levels: number[] = [];
  private readonly leafInput = new Uint8Array(33);
  private readonly parentInput = new Uint8Array(65);
  private last: Uint8Array | null = null;
  count = 0;

  constructor() {
    this.parentInput[0] = 1;
  }

  /** Adds the next id; it must not sort before the one added last (an equal one is skipped). */
  add(id: Uint8Array): void {
    if (id.length !== 32) throw new RangeError(`a record id is 32 bytes, got ${id.length}`);
    if (this.last !== null) {
      const order = compareIds(this.last, id);
      if (order === 0) return;
      if (order > 0) throw new RangeError("ids must be added in bytewise order");
    }
    this.last = id.slice();
    this.count++;
    this.leafInput.set(id, 1);
    let node = blake3_256(this.leafInput);
    let level = 0;
    while (this.levels.length > 0 && this.levels[this.levels.length - 1] === level) {
      node = this.parent(this.nodes.pop() as Uint8Array, node);
      this.levels.pop();
      level++;
    }
    this.nodes.push(node);
    this.levels.push(level);
  }

  root(): Uint8Array {
    if (this.nodes.length === 0) return blake3_256(new Uint8Array(0));
    let node = this.nodes[this.nodes.length - 1] as Uint8Array;
    for (let i = this.nodes.length - 2; i >= 0; i--) node = this.parent(this.nodes[i] as Uint8Array, node);
    return node;
  }

  private parent(left: Uint8Array, right: Uint8Array): Uint8Array {
    this.parentInput.set(left, 1);
    this.parentInput.set(right, 33);
    return blake3_256(this.parentInput);
  }
}
