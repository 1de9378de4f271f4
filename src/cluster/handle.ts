/**
 * The cluster as the server's other parts see it (the /v1/cluster endpoints, the data plane's
 * wiring): the cluster node — made before the API (`opened`), running once the API listens and
 * the node has started (`node()`), none on a single node — and the data plane's reports, stubs
 * until it is plugged in (data-plane.ts). One object made by serve, so a handler holds it from
 * the start.
 */
import { type DrainControl, drainNotBuilt, type ShardReport, unknownShardReport } from "./data-plane.ts";
import type { ClusterNode } from "./node.ts";
import type { RunningCluster } from "./run.ts";

/** How a node describes itself when it is not clustered. */
export interface SingleNode {
  name: string;
  nodeId: string;
  /** The API's address as the members publish it. */
  api: string;
  shardCount: number;
}

export class ClusterHandle {
  /** The node, its transport and settings: set by serve before the API is made (never on a single node). */
  opened: RunningCluster | null = null;
  /** Set once the node has started (listens to peers, probes, has made its first join attempt). */
  started = false;
  /** The data plane's shard reports: replace the stub when it is plugged in. */
  shards: ShardReport = unknownShardReport;
  /** The data plane's drain: replace the stub when it is plugged in. */
  drain: DrainControl = drainNotBuilt;
  /**
   * Run with the node just before it starts listening to peers. The data plane can as well serve
   * its channels on `opened.node` as soon as it is made; either way no peer's session finds its
   * channel unserved.
   */
  readonly beforeStart: Array<(node: ClusterNode) => void> = [];
  /**
   * Run with the node once its first join attempt is over (joined, the first member, or no seed
   * answered yet): the data plane acts on the membership from then on.
   */
  readonly afterJoin: Array<(node: ClusterNode) => void> = [];
  /** Stops the data plane (its timers and channels): after the node left, before its ports close. Idempotent. */
  stopDataPlane: () => void = () => {};

  constructor(
    /** Whether the server was started with --cluster-bind. */
    readonly clustered: boolean,
    readonly single: SingleNode,
  ) {}

  /** The started node; null on a single node, and for the moment between the API listening and the node's start. */
  node(): ClusterNode | null {
    return this.started ? (this.opened?.node ?? null) : null;
  }
}
