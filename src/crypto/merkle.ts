/**
 * The Merkle root over a set of record ids (SPEC §5 audit bundles, §10 `stemedb root`): one
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
 */
import { blake3_256 } from "./blake3.ts";

/**
 * Ids in bytewise order. A comparator sort of a million ids costs seconds; instead each id's
 * first 5 bytes and its index are packed into one 64-bit integer (40 + 24 bits) and sorted
 * natively, then runs sharing a 5-byte prefix (rare: ids are uniform hashes) are put in
 * order by full comparison.
 */
export function sortIds(ids: readonly Uint8Array[]): Buffer[] {
  const views = ids.map((id) => Buffer.from(id.buffer, id.byteOffset, id.byteLength));
  if (views.length >= 1 << 24) return views.sort(Buffer.compare);
  const keys = new BigUint64Array(views.length);
  for (let i = 0; i < views.length; i++) {
    const v = views[i] as Buffer;
    const prefix = v.length >= 5 ? v.readUIntBE(0, 5) : Number.parseInt(`${v.toString("hex")}${"00".repeat(5 - v.length)}`, 16);
    keys[i] = (BigInt(prefix) << 24n) | BigInt(i);
  }
  keys.sort();
  const out = Array.from(keys, (k) => views[Number(k & 0xffffffn)] as Buffer);
  for (let i = 0; i < out.length; ) {
    let j = i + 1;
    while (j < out.length && (keys[j] as bigint) >> 24n === (keys[i] as bigint) >> 24n) j++;
    if (j - i > 1) out.splice(i, j - i, ...out.slice(i, j).sort(Buffer.compare));
    i = j;
  }
  return out;
}

/** The root over `ids` (any order; not modified). */
export function merkleRoot(ids: readonly Uint8Array[]): Uint8Array {
  if (ids.length === 0) return blake3_256(new Uint8Array(0));
  const sorted = sortIds(ids);
  const leafInput = new Uint8Array(33);
  let level: Uint8Array[] = [];
  let prev: Buffer | null = null;
  for (const id of sorted) {
    if (prev !== null && Buffer.compare(prev, id) === 0) continue;
    prev = id;
    leafInput[0] = 0;
    leafInput.set(id, 1);
    level.push(blake3_256(leafInput));
  }
  const parentInput = new Uint8Array(65);
  parentInput[0] = 1;
  while (level.length > 1) {
    const next: Uint8Array[] = [];
    for (let i = 0; i + 1 < level.length; i += 2) {
      parentInput.set(level[i] as Uint8Array, 1);
      parentInput.set(level[i + 1] as Uint8Array, 33);
      next.push(blake3_256(parentInput));
    }
    if (level.length % 2 === 1) next.push(level[level.length - 1] as Uint8Array);
    level = next;
  }
  return level[0] as Uint8Array;
}
