/**
 * The cluster as the server's other parts see it (the /v1/cluster endpoints, the data plane's
 * wiring): the running node, or none on a single node; and the data plane's reports, stubs
 * until it is plugged in (data-plane.ts). One object made by serve, so a handler holds it from
 * the start and finds the node once the cluster has started.
 */
import { type DrainControl, drainNotBuilt, type ShardReport, unknownShardReport } from "./data-plane.ts";
import type { ClusterNode } from "./node.ts";
import type { RunningCluster } from "./run.ts";

/** How a node describes itself when it is not clustered. */
export interface SingleNode {
  name: string;
  nodeId: string;
  /** The API's address; set once the server listens (its port may be chosen then). */
  api: string;
  shardCount: number;
}

export class ClusterHandle {
  /** Set by serve once the cluster node has started (never on a single node). */
  running: RunningCluster | null = null;
  /** The data plane's shard reports: replace the stub when it is plugged in. */
  shards: ShardReport = unknownShardReport;
  /** The data plane's drain: replace the stub when it is plugged in. */
  drain: DrainControl = drainNotBuilt;
  /**
   * Run with the node before it listens (and so before any peer can open a session to it): the
   * data plane serves its channels here, so no early session finds its channel unserved.
   */
  readonly beforeStart: Array<(node: ClusterNode) => void> = [];

  constructor(
    /** Whether the server was started with --cluster-bind. */
    readonly clustered: boolean,
    readonly single: SingleNode,
  ) {}

  /** The running node; null on a single node, and for the moment it takes a clustered node to start. */
  node(): ClusterNode | null {
    return this.running?.node ?? null;
  }
}
