/**
 * Per-shard Merkle trees over this node's own store (docs/CLUSTER.md#shard-aware-storage): the
 * ids of the assertions filed under each shard, and of the global records, as ShardTrees
 * (../merkle.ts) — what anti-entropy compares and what `GET /v1/cluster/shards?local=1` reports.
 *
 * **Built lazily, then kept current.** A tree is built from the index the first time it is
 * needed (its shard column, src/index/shard-list.ts, plus the records acknowledged but not yet
 * indexed), and from then on every acknowledged record is added to its tree as it arrives:
 * one binary search, one array insert and the forgetting of its 65 memoised prefix summaries —
 * a few µs. The alternative, a dirty flag and a rebuild per comparison, would re-read and
 * re-hash every id of every shard written to since the last comparison, every anti-entropy
 * interval: under a steady write load that is every shard, every time (a 4,000-id shard costs
 * about 3 ms to rebuild; all 256 about a second). A tree's root is memoised until an id
 * arrives under it, so comparing an unchanged shard costs nothing but the message.
 *
 * Trees cost memory: about 120 bytes an id (docs/CLUSTER.md#limits). Trees of the shards this
 * node holds are kept; a tree built for a shard it does not hold (a peer asked) is dropped
 * when `retain` is next called without it.
 */
import type { Kind, StemeRecord } from "../../core/record.ts";
import { globalIds, shardIds } from "../../index/shard-list.ts";
import type { IndexEntry } from "../../index/store.ts";
import type { Store } from "../../store/store.ts";
import { ShardTree } from "../merkle.ts";
import { shardOf } from "../placement.ts";
import { globalShard } from "./wire.ts";

/** Subjects whose shard is remembered (a hash saved per record of a known subject). */
const subjectCacheMax = 100_000;

/** Which records the cluster keeps on every node (references.ts): the global set's tree holds them. */
export interface GlobalRule {
  isGlobal(record: StemeRecord): boolean;
  /** The (subject, predicate) pairs whose assertions are global. */
  gold(): Array<[string, string]>;
}

export class ShardTrees {
  private readonly trees = new Map<number, ShardTree>();
  private readonly subjectShards = new Map<string, number>();
  private rule: GlobalRule = { isGlobal: (r) => r.kind !== "assertion", gold: () => [] };

  constructor(
    private readonly store: Store,
    readonly shardCount: number,
  ) {}

  /** Sets what the global set holds besides the global kinds. */
  setGlobalRule(rule: GlobalRule): void {
    this.rule = rule;
    this.trees.delete(globalShard);
  }

  isGlobal(record: StemeRecord): boolean {
    return this.rule.isGlobal(record);
  }

  /** The global set grew (a new gold pair): its tree is built again when next needed. */
  globalChanged(): void {
    this.trees.delete(globalShard);
  }

  /** The shard of a record: `globalShard` for every kind but assertion. */
  shardOfRecord(kind: Kind, subject: string | undefined): number {
    if (kind !== "assertion" || subject === undefined) return globalShard;
    let shard = this.subjectShards.get(subject);
    if (shard === undefined) {
      shard = shardOf(subject, this.shardCount);
      if (this.subjectShards.size >= subjectCacheMax) this.subjectShards.clear();
      this.subjectShards.set(subject, shard);
    }
    return shard;
  }

  /** Acknowledged records join the trees already built (the rest are read from the index when built). */
  added(entries: readonly IndexEntry[]): void {
    for (const e of entries) {
      const r = e.record;
      if (r.kind === "assertion") {
        this.trees.get(this.shardOfRecord(r.kind, r.subject))?.add(e.id);
        if (this.rule.isGlobal(r)) this.trees.get(globalShard)?.add(e.id);
      } else this.trees.get(globalShard)?.add(e.id);
    }
  }

  /** The tree of `shard` (`globalShard`: the globals), built now if it is not kept. */
  tree(shard: number): ShardTree {
    const kept = this.trees.get(shard);
    if (kept) return kept;
    const index = this.store.index;
    const ids = shard === globalShard ? globalIds(index, this.rule.gold()) : shardIds(index, shard);
    // Acknowledged but not yet indexed: the index writer trails the log by up to ~50 ms.
    for (const e of this.store.pendingAfter(index.checkpointLsn)) {
      const r = e.record;
      const here =
        shard === globalShard ? this.rule.isGlobal(r) : r.kind === "assertion" && this.shardOfRecord(r.kind, r.subject) === shard;
      if (here) ids.push(e.id);
    }
    const tree = new ShardTree(ids);
    this.trees.set(shard, tree);
    return tree;
  }

  /** Is the tree of `shard` in memory? */
  has(shard: number): boolean {
    return this.trees.has(shard);
  }

  /** Keeps only the trees of these shards (and the globals'). */
  retain(shards: ReadonlySet<number>): void {
    for (const shard of [...this.trees.keys()]) if (shard !== globalShard && !shards.has(shard)) this.trees.delete(shard);
  }

  /** Ids held in memory, all trees together. */
  get idsHeld(): number {
    let n = 0;
    for (const t of this.trees.values()) n += t.size;
    return n;
  }
}
