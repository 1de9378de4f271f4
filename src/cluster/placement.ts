/**
 * Where records live (docs/CLUSTER.md#placement): subjects to shards by hash, shards to nodes
 * by rendezvous hashing, every other record kind everywhere.
 *
 * - **Shard of a subject.** `shard = u64(BLAKE3(utf8(subject))[0..8], big-endian) mod shards`.
 *   All assertions about one subject land in one shard, so a (subject, predicate) query is
 *   answered by one replica. The shard count is fixed when the cluster is created (default
 *   256): changing it would move nearly every subject. BLAKE3 is uniform, so shards hold equal
 *   shares of subjects (not of records: a popular subject makes a heavy shard).
 * - **Replicas of a shard.** Rendezvous, or highest-random-weight, hashing (Thaler & Ravishankar,
 *   "Using name-based mappings to increase hit rates", IEEE/ACM ToN 1998): every node scores
 *   `BLAKE3(u32be(shard) ‖ utf8(node_id))` and the `replicationFactor` highest scores, compared
 *   as bytes, hold the shard — Dynamo's preference list without a ring. It needs no shared
 *   state, every node computes the same answer from the same member set, and a join or a leave
 *   moves only the shards whose top scores it changes: a joining node takes a replica slot
 *   exactly where it outscores an incumbent, a leaving node's slots go to the next in line, and
 *   nothing else moves. The weight uses the node id, not the name, so a renamed node keeps its data.
 * - **Global records.** Every kind but `assertion` (vote, retraction, source,
 *   source_retraction, epoch, review) is on every node: each can change an answer on any
 *   shard, and TrustRank reads every vote (docs/CLUSTER.md#limits says what that costs).
 *
 * The **meta version** counts changes of the assignment: it goes up by one each time a
 * membership change moves at least one shard replica. It is per node (two nodes that saw the
 * same changes agree; one that missed a flap may differ) and is meant for "has my view
 * changed", not for ordering between nodes.
 */
import type { Kind } from "../core/record.ts";
import { blake3_256 } from "../crypto/blake3.ts";
import { compareIds } from "../crypto/merkle.ts";

export const shardCountDefault = 256;
/** Shard ids are u16 on the wire. */
export const shardCountMax = 65_536;
export const replicationFactorDefault = 2;

const utf8 = new TextEncoder();

function checkShardCount(shardCount: number): void {
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

/** Every kind but assertion goes to every node. */
export function isGlobalKind(kind: Kind): boolean {
  return kind !== "assertion";
}

/** A node's rendezvous weight for a shard: 32 bytes, compared bytewise (higher wins). */
export function rendezvousWeight(shard: number, nodeId: string): Uint8Array {
  const id = utf8.encode(nodeId);
  const input = new Uint8Array(4 + id.length);
  new DataView(input.buffer).setUint32(0, shard);
  input.set(id, 4);
  return blake3_256(input);
}

/** The replicas of `shard` among `nodeIds`: the `replicationFactor` highest weights, highest first. */
export function replicasOf(shard: number, nodeIds: readonly string[], replicationFactor: number): string[] {
  const scored = nodeIds.map((id) => ({ id, weight: rendezvousWeight(shard, id) }));
  scored.sort((a, b) => compareIds(b.weight, a.weight) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return scored.slice(0, Math.min(replicationFactor, nodeIds.length)).map((s) => s.id);
}

/** Where one record goes. */
export type RecordPlace = { global: true } | { global: false; shard: number; replicas: readonly string[] };

export class Placement {
  private assignment: string[][] = [];
  private liveIds: string[] = [];
  private versionCount = 0;

  constructor(
    readonly shardCount: number = shardCountDefault,
    readonly replicationFactor: number = replicationFactorDefault,
  ) {
    checkShardCount(shardCount);
    if (!(Number.isSafeInteger(replicationFactor) && replicationFactor >= 1))
      throw new RangeError(`replication factor: expected an integer ≥ 1, got ${replicationFactor}`);
  }

  /** Goes up by one with each update that moved a shard replica. */
  get version(): number {
    return this.versionCount;
  }

  /** The live nodes' ids, sorted. */
  get nodes(): readonly string[] {
    return this.liveIds;
  }

  /** The replicas of every shard, by shard id. */
  get shards(): readonly (readonly string[])[] {
    return this.assignment;
  }

  replicas(shard: number): readonly string[] {
    return this.assignment[shard] ?? [];
  }

  /** Recomputes the assignment for these live node ids; returns whether any replica moved. */
  update(liveNodeIds: readonly string[]): boolean {
    const ids = [...new Set(liveNodeIds)].sort();
    const next: string[][] = [];
    let moved = false;
    for (let shard = 0; shard < this.shardCount; shard++) {
      const replicas = replicasOf(shard, ids, this.replicationFactor);
      const before = this.assignment[shard];
      if (!before || before.length !== replicas.length || before.some((id, i) => id !== replicas[i])) moved = true;
      next.push(replicas);
    }
    this.assignment = next;
    this.liveIds = ids;
    if (moved) this.versionCount++;
    return moved;
  }

  /** The shards `nodeId` holds a replica of. */
  shardsOf(nodeId: string): number[] {
    const out: number[] = [];
    for (let shard = 0; shard < this.assignment.length; shard++) if (this.assignment[shard]?.includes(nodeId)) out.push(shard);
    return out;
  }

  /** Where a record of `kind` about `subject` goes. */
  place(kind: Kind, subject: string): RecordPlace {
    if (isGlobalKind(kind)) return { global: true };
    const shard = shardOf(subject, this.shardCount);
    return { global: false, shard, replicas: this.replicas(shard) };
  }
}
