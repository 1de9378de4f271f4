/**
 * What the cluster's control plane (node.ts, the /v1/cluster endpoints, `stemedb admin`) asks of
 * the data plane — replication, anti-entropy, shard hand-over, drain — which is built apart
 * (docs/CLUSTER.md#the-data-plane-contract); api/cluster.ts plugs the data plane in on a
 * clustered node. A single node has none: its local shards say records, root and state are not
 * known, and it never drains (`409 not_clustered` before this is reached).
 */

/** A shard this node holds, as `GET /v1/cluster/shards?local=1` shows it. */
export interface LocalShard {
  id: number;
  /** Records of the shard on this node; null: not known (no data plane). */
  records: number | null;
  /** Hex Merkle root over the shard's ids (merkle.ts); null: not known. */
  root: string | null;
  state: LocalShardState;
}

/**
 * `in_sync`: this replica holds what the others hold as of the last comparison; `syncing`: it
 * gained the shard (or fell behind) and is fetching it, serving no reads for it yet; `leaving`:
 * placement moved the shard away, the data is kept until told otherwise; `unknown`: no data plane.
 */
export type LocalShardState = "in_sync" | "syncing" | "leaving" | "unknown";

/** What the data plane reports about shards. */
export interface ShardReport {
  /** The shards this node holds (placement's `shards` for our node id, plus any it keeps while leaving). */
  localShards(held: readonly number[]): LocalShard[] | Promise<LocalShard[]>;
  /** Whether some replica of `shard` is still syncing it (null: not known). Makes the cluster view say `syncing`. */
  syncing(shard: number): boolean | null;
  /**
   * The replicas of `shard` as the data plane places it (a draining node already left out), node
   * ids, highest weight first; absent: the membership's placement is the answer.
   */
  replicas?(shard: number): readonly string[];
}

/** The answer of `POST /v1/cluster/nodes/{name}/drain`. */
export interface DrainAnswer {
  name: string;
  /** `draining`: started (or already under way); `drained`: nothing left to hand over. */
  state: "draining" | "drained";
  /** Shards still to hand over. */
  shards_left: number;
}

/** Drains a node: its shards go to the other replicas before it leaves (the data plane). */
export interface DrainControl {
  drain(name: string): Promise<DrainAnswer>;
}

/** A node without a data plane (a single node): records, root and state not known for each shard. */
export const unknownShardReport: ShardReport = {
  localShards: (held) => held.map((id) => ({ id, records: null, root: null, state: "unknown" })),
  syncing: () => null,
};

/** Before the data plane is plugged in: a clustered node always has one (api/cluster.ts), a single node never drains. */
export const drainNotBuilt: DrainControl = {
  drain: async (name) => {
    throw new Error(`bug: a drain of ${name} reached a node whose data plane is not plugged in (api/cluster.ts dataPlaneFor)`);
  },
};
