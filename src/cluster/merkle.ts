/**
 * Per-shard Merkle trees and the diff that repairs replicas (docs/CLUSTER.md#anti-entropy),
 * after Merkle's hash trees as Dynamo §4.7, Riak's active anti-entropy and Cassandra's repair
 * use them: two replicas compare roots, and descend only where they differ.
 *
 * **The tree** is a 16-way trie over a shard's record ids by their hex digits (nibbles): the
 * node at prefix P covers the ids that start with P. Its hash depends only on that set of ids,
 * never on how it was built or on the rest of the tree:
 *
 *     count(P) ≤ 16  →  hash(P) = BLAKE3(0x00 ‖ the ids under P in order)      (a bucket leaf)
 *     otherwise      →  hash(P) = BLAKE3(0x01 ‖ hash(P0) ‖ hash(P1) ‖ … ‖ hash(Pf))
 *
 * Ids are uniform hashes, so a tree over n ids is about log16(n / 16) + 1 levels deep, and two
 * replicas holding the same ids under P agree on hash(P) whatever else they hold. The root is
 * hash(""), the shard's `root` in `GET /v1/cluster/shards?local=1`. (The whole-store root of
 * `stemedb root` and audit bundles is another tree, src/crypto/merkle.ts: a balanced binary
 * one over all ids. This one is built to be compared part by part.)
 *
 * **The diff** is run by one side (the initiator) against a peer that only answers requests
 * (`answerMerkle`, stateless, so it serves over any transport). Each round the initiator sends
 * one request naming prefixes: for some it wants the 16 child summaries (hash and count), for
 * others the ids. At a prefix whose hashes differ it asks for children while both sides hold
 * more than a bucket, and for the ids once either side holds a bucket or less — the ids then
 * settle that prefix both ways; a prefix the peer holds nothing under is settled without
 * asking. It ends knowing the ids it lacks and the ids the peer lacks. Two trees that differ in
 * k ids cost at most depth + 1 rounds and O(k · log n) summaries and ids; equal trees cost one.
 */
import { blake3_256 } from "../crypto/blake3.ts";
import { compareIds, uniqueSorted } from "../crypto/merkle.ts";

/** Ids under a prefix at or below this count are hashed together as one leaf. */
export const bucketIdsMax = 16;
const nibbles = "0123456789abcdef";

export interface Summary {
  hash: Uint8Array;
  count: number;
}

/** The nibble of `id` at `depth` (0 = the high half of byte 0). */
function nibbleAt(id: Uint8Array, depth: number): number {
  const byte = id[depth >> 1] as number;
  return depth % 2 === 0 ? byte >> 4 : byte & 0x0f;
}

function checkPrefix(prefix: string): void {
  if (!/^[0-9a-f]{0,64}$/.test(prefix))
    throw new RangeError(`a tree prefix is up to 64 lowercase hex digits, got ${JSON.stringify(prefix)}`);
}

/** A shard's ids and the lazily computed, memoised summaries of their trie. */
export class ShardTree {
  private ids: Uint8Array[];
  private readonly memo = new Map<string, Summary>();

  constructor(ids: readonly Uint8Array[] = []) {
    this.ids = uniqueSorted(ids);
  }

  get size(): number {
    return this.ids.length;
  }

  /** Adds an id; returns false when it was already there. Only the summaries of its 65 prefixes are forgotten. */
  add(id: Uint8Array): boolean {
    if (id.length !== 32) throw new RangeError(`a record id is 32 bytes, got ${id.length}`);
    const at = this.lowerBound(id);
    const here = this.ids[at];
    if (here && compareIds(here, id) === 0) return false;
    this.ids.splice(at, 0, id);
    let prefix = "";
    this.memo.delete(prefix);
    for (let depth = 0; depth < 64; depth++) {
      prefix += nibbles[nibbleAt(id, depth)];
      this.memo.delete(prefix);
    }
    return true;
  }

  root(): Uint8Array {
    return this.summary("").hash;
  }

  summary(prefix: string): Summary {
    const cached = this.memo.get(prefix);
    if (cached) return cached;
    checkPrefix(prefix);
    const [lo, hi] = this.range(prefix);
    const count = hi - lo;
    let hash: Uint8Array;
    if (count <= bucketIdsMax) {
      const input = new Uint8Array(1 + 32 * count);
      for (let i = 0; i < count; i++) input.set(this.ids[lo + i] as Uint8Array, 1 + 32 * i);
      hash = blake3_256(input);
    } else {
      const input = new Uint8Array(1 + 32 * 16);
      input[0] = 1;
      for (let c = 0; c < 16; c++) input.set(this.summary(prefix + nibbles[c]).hash, 1 + 32 * c);
      hash = blake3_256(input);
    }
    const s = { hash, count };
    this.memo.set(prefix, s);
    return s;
  }

  /** The 16 child summaries of `prefix`. */
  children(prefix: string): Summary[] {
    if (prefix.length >= 64) throw new RangeError("a full id has no children");
    return [...nibbles].map((c) => this.summary(prefix + c));
  }

  /** The ids under `prefix`, in order. */
  idsUnder(prefix: string): Uint8Array[] {
    checkPrefix(prefix);
    const [lo, hi] = this.range(prefix);
    return this.ids.slice(lo, hi);
  }

  /** The index range of the ids that start with `prefix`. */
  private range(prefix: string): [number, number] {
    if (prefix === "") return [0, this.ids.length];
    const low = new Uint8Array(32);
    const high = new Uint8Array(32).fill(0xff);
    for (let d = 0; d < prefix.length; d++) {
      const v = Number.parseInt(prefix[d] as string, 16);
      const i = d >> 1;
      if (d % 2 === 0) {
        low[i] = v << 4;
        high[i] = (v << 4) | 0x0f;
      } else {
        low[i] = (low[i] as number) | v;
        high[i] = ((high[i] as number) & 0xf0) | v;
      }
    }
    return [this.lowerBound(low), this.upperBound(high)];
  }

  private lowerBound(id: Uint8Array): number {
    let lo = 0;
    let hi = this.ids.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (compareIds(this.ids[mid] as Uint8Array, id) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private upperBound(id: Uint8Array): number {
    let lo = 0;
    let hi = this.ids.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (compareIds(this.ids[mid] as Uint8Array, id) <= 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** One round's question: summaries of some prefixes (the root first), children of others, ids of others. */
export interface MerkleRequest {
  summaries: string[];
  children: string[];
  ids: string[];
}

export interface MerkleResponse {
  summaries: Summary[];
  children: Summary[][];
  ids: Uint8Array[][];
}

/** The peer's side: answers a request from its tree. Bad prefixes throw RangeError. */
export function answerMerkle(tree: ShardTree, request: MerkleRequest): MerkleResponse {
  return {
    summaries: request.summaries.map((p) => tree.summary(p)),
    children: request.children.map((p) => tree.children(p)),
    ids: request.ids.map((p) => tree.idsUnder(p)),
  };
}

export interface MerkleCost {
  /** Request–response exchanges. */
  rounds: number;
  /** Summaries (hash and count) received. */
  summaries: number;
  /** Ids received. */
  ids: number;
}

/** The initiator's side of one comparison. */
export class MerkleDiff {
  /** Ids the peer has and we lack. */
  readonly localLacks: Uint8Array[] = [];
  /** Ids we have and the peer lacks. */
  readonly remoteLacks: Uint8Array[] = [];
  readonly cost: MerkleCost = { rounds: 0, summaries: 0, ids: 0 };
  private pending: MerkleRequest | null = { summaries: [""], children: [], ids: [] };

  constructor(private readonly tree: ShardTree) {}

  /** The next request, or null when the comparison is complete. */
  next(): MerkleRequest | null {
    return this.pending;
  }

  get done(): boolean {
    return this.pending === null;
  }

  receive(response: MerkleResponse): void {
    const request = this.pending;
    if (!request) throw new Error("MerkleDiff.receive after the comparison finished");
    if (
      response.summaries.length !== request.summaries.length ||
      response.children.length !== request.children.length ||
      response.ids.length !== request.ids.length
    )
      throw new RangeError("a Merkle response does not match its request");
    this.cost.rounds++;
    const next: MerkleRequest = { summaries: [], children: [], ids: [] };
    for (let i = 0; i < request.summaries.length; i++)
      this.compare(request.summaries[i] as string, response.summaries[i] as Summary, next);
    for (let i = 0; i < request.children.length; i++) {
      const theirs = response.children[i] as Summary[];
      if (theirs.length !== 16) throw new RangeError("a Merkle children answer holds 16 summaries");
      for (let c = 0; c < 16; c++) this.compare((request.children[i] as string) + nibbles[c], theirs[c] as Summary, next);
    }
    for (let i = 0; i < request.ids.length; i++) this.settle(request.ids[i] as string, response.ids[i] as Uint8Array[]);
    this.cost.summaries += response.summaries.length + response.children.length * 16;
    this.cost.ids += response.ids.reduce((a, ids) => a + ids.length, 0);
    const empty = next.summaries.length + next.children.length + next.ids.length === 0;
    this.pending = empty ? null : next;
  }

  /** Decides what a differing prefix needs next. */
  private compare(prefix: string, theirs: Summary, next: MerkleRequest): void {
    const mine = this.tree.summary(prefix);
    if (mine.count === theirs.count && compareIds(mine.hash, theirs.hash) === 0) return;
    if (theirs.count === 0) {
      this.remoteLacks.push(...this.tree.idsUnder(prefix));
      return;
    }
    if (mine.count <= bucketIdsMax || theirs.count <= bucketIdsMax || prefix.length >= 63) next.ids.push(prefix);
    else next.children.push(prefix);
  }

  /** Both sides' ids under a prefix are known: the differences, both ways. */
  private settle(prefix: string, theirs: readonly Uint8Array[]): void {
    const mine = this.tree.idsUnder(prefix);
    const sortedTheirs = uniqueSorted(theirs);
    let i = 0;
    let j = 0;
    while (i < mine.length || j < sortedTheirs.length) {
      const a = mine[i];
      const b = sortedTheirs[j];
      const order = a === undefined ? 1 : b === undefined ? -1 : compareIds(a, b);
      if (order < 0) this.remoteLacks.push(mine[i++] as Uint8Array);
      else if (order > 0) this.localLacks.push(sortedTheirs[j++] as Uint8Array);
      else {
        i++;
        j++;
      }
    }
  }
}

/** Runs a whole comparison against a tree in memory (tests; the real peer is across a session). */
export function diffTrees(local: ShardTree, remote: ShardTree): MerkleDiff {
  const diff = new MerkleDiff(local);
  for (let request = diff.next(); request; request = diff.next()) diff.receive(answerMerkle(remote, request));
  return diff;
}
