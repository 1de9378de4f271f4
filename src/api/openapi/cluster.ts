/** The cluster's answer schemas (docs/API.md#cluster, docs/CLUSTER.md#endpoints). */
import { shardStates } from "../../cluster/shard-states.ts";
import { arr, bool, int, nullable, obj, oneOfEnum, str } from "./schema.ts";
import type { Schema } from "./types.ts";

export const memberStates = ["alive", "suspect", "dead", "left"] as const;
export const localShardStates = ["in_sync", "syncing", "leaving", "unknown"] as const;

export function clusterSchemas(): Record<string, Schema> {
  return {
    ClusterMembers: obj({
      members: arr(
        obj({
          name: str("unique in the cluster (--node-name)"),
          node_id: str("the data directory's node id: placement's identity"),
          api: str("the HTTP API, host:port"),
          cluster: nullable(str("the cluster's TCP port, host:port (gossip is on the next port); null on a single node")),
          state: oneOfEnum(memberStates),
          incarnation: int("raised only by the member itself, to refute a suspicion or after a restart"),
        }),
        "every member this node knows, by name; dead and left ones too",
      ),
      meta_version: int('placement changes this node has seen (per node: for "did my view change")'),
      clustered: bool("false on a node started without --cluster-bind: the list is the node itself"),
      self: str("this node's name"),
    }),
    ClusterShards: obj({
      shards: arr(
        obj({
          id: int(),
          replicas: arr(str(), "member names, highest rendezvous weight first"),
          replica_ids: arr(str(), "their node ids, in the same order"),
          state: oneOfEnum(
            shardStates,
            "healthy: replication_factor live replicas, all alive and in sync; syncing: a replica is still fetching it; degraded: a replica is suspect; under_replicated: fewer live nodes than the replication factor; unavailable: no live replica",
          ),
        }),
      ),
      shard_count: int("fixed at cluster creation (--shards)"),
      replication_factor: int("--replication-factor; 1 on a single node"),
      meta_version: int(),
      clustered: bool(),
    }),
    ClusterLocalShards: obj({
      shards: arr(
        obj({
          id: int(),
          records: nullable(int("records of the shard on this node; null while the data plane does not report it")),
          root: nullable(str("hex Merkle root over the shard's record ids; null while not reported")),
          state: oneOfEnum(
            localShardStates,
            "in_sync, syncing (serving no reads for it yet), leaving (moved away, data kept), unknown",
          ),
        }),
        "the shards this node holds",
      ),
      node: str("this node's name"),
    }),
    ClusterLeave: obj({ name: str(), state: { const: "left" } }),
    ClusterDrain: obj({
      name: str(),
      state: oneOfEnum(["draining", "drained"]),
      shards_left: int("shards still to hand over"),
    }),
  };
}
