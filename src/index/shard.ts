/**
 * The shard of a subject (docs/CLUSTER.md#placement): a pure function of the subject, so the
 * index can file every assertion under its shard as it arrives and a cluster node can list,
 * count and compare its records shard by shard (src/cluster/data/). It lives here, below the
 * cluster layer, because the index computes it; src/cluster/placement.ts re-exports it.
 *
 * `shard = u64(BLAKE3(utf8(subject))[0..8], big-endian) mod shards`. All assertions about one
 * subject land in one shard. The shard count is fixed when a cluster is created (default 256):
 * changing it would move nearly every subject.
 */
import { blake3_256 } from "../crypto/blake3.ts";

export const shardCountDefault = 256;
/** Shard ids are u16 on the wire. */
export const shardCountMax = 65_536;

const utf8 = new TextEncoder();

export function checkShardCount(shardCount: number): void {
  if (!(Number.isSafeInteger(shardCount) && shardCount >= 1 && shardCount <= shardCountMax))
    throw new RangeError(`shard count: expected an integer from 1 to ${shardCountMax}, got ${shardCount}`);
}

/**
 * The shard of `subject`. The first 8 bytes of the hash as a big-endian u64, reduced mod
 * `shardCount` without BigInt: (hi · 2^32 + lo) mod n = ((hi mod n) · (2^32 mod n) + lo) mod n,
 * exact in doubles for n ≤ 2^16.
 */
export function shardOf(subject: string, shardCount: number = shardCountDefault): number {
  checkShardCount(shardCount);
  const h = blake3_256(utf8.encode(subject));
  const view = new DataView(h.buffer, h.byteOffset, 8);
  const hi = view.getUint32(0);
  const lo = view.getUint32(4);
  return ((((hi % shardCount) * (0x100000000 % shardCount)) % shardCount) + lo) % shardCount;
}
