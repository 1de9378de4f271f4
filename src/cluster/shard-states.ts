/**
 * Each shard's state in the cluster's view (docs/CLUSTER.md#endpoints), from its replicas as
 * placement gives them, the members' states, the replication factor and the data plane's word on
 * syncing. The endpoints answer it per shard; the metrics count it by state
 * (`stemedb_cluster_shards{state}`), which the under-replication alerts read.
 */
import type { ShardReport } from "./data-plane.ts";
import type { ClusterMember, ClusterNode } from "./node.ts";

export const shardStates = ["healthy", "syncing", "degraded", "under_replicated", "unavailable"] as const;
export type ShardState = (typeof shardStates)[number];

/**
 * `unavailable`: no live replica; `under_replicated`: fewer than the factor (fewer copies
 * outranks syncing); `syncing`: a replica is still fetching it; `degraded`: a replica is
 * suspect (or no longer named by the table); `healthy` otherwise.
 */
export function shardState(
  replicas: ReadonlyArray<ClusterMember | undefined>,
  replicationFactor: number,
  syncing: boolean | null,
): ShardState {
  if (replicas.length === 0) return "unavailable";
  if (replicas.length < replicationFactor) return "under_replicated";
  if (syncing === true) return "syncing";
  if (replicas.some((m) => m?.state !== "alive")) return "degraded";
  return "healthy";
}

export interface ShardView {
  id: number;
  /** Member names, highest rendezvous weight first (a node id when the table no longer names it). */
  replicas: string[];
  replicaIds: string[];
  state: ShardState;
}

/** Every shard of the node's placement, with its replicas and state. */
export function shardViews(node: ClusterNode, report: Pick<ShardReport, "syncing" | "replicas">): ShardView[] {
  const placement = node.placement();
  const byId = new Map(node.members().map((m) => [m.nodeId, m]));
  const out: ShardView[] = [];
  for (let id = 0; id < placement.shardCount; id++) {
    const ids = report.replicas?.(id) ?? placement.replicas(id);
    const members = ids.map((nid) => byId.get(nid));
    out.push({
      id,
      replicas: members.map((m, i) => m?.name ?? (ids[i] as string)),
      replicaIds: [...ids],
      state: shardState(members, placement.replicationFactor, report.syncing(id)),
    });
  }
  return out;
}

/** How many shards are in each state (every state named, zeros included). */
export function shardStateCounts(views: readonly ShardView[]): Record<ShardState, number> {
  const counts = Object.fromEntries(shardStates.map((s) => [s, 0])) as Record<ShardState, number>;
  for (const v of views) counts[v.state]++;
  return counts;
}
