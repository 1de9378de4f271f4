/**
 * What the cluster's control plane (node.ts, the /v1/cluster endpoints, `stemedb admin`) asks of
 * the data plane — replication, anti-entropy, shard hand-over, drain — which is built apart
 * (docs/CLUSTER.md#the-data-plane-contract). Until it is plugged in, the stubs below answer:
 * every local shard's records, root and state as unknown, and drain as not built. They say so
 * in their answers; nothing here pretends to know what it does not.
 */
import { StemeError } from "../core/errors.ts";

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

/** STUB until the data plane is merged: records, root and state unknown for every shard held. */
export const unknownShardReport: ShardReport = {
  localShards: (held) => held.map((id) => ({ id, records: null, root: null, state: "unknown" })),
  syncing: () => null,
};

/** STUB until the data plane is merged: draining is not built. */
export const drainNotBuilt: DrainControl = {
  drain: async (name) => {
    throw new StemeError(
      "not_implemented",
      `draining ${name} needs the cluster's data plane, which this build does not carry yet`,
      {
        hint: "stop the node gracefully instead (SIGTERM: it leaves the cluster); its shards go to the next replicas",
      },
    );
  },
};
