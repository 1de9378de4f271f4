/**
 * The cluster in the server (docs/CLUSTER.md#starting-a-cluster): the handle the routes hold
 * from the start, and — with --cluster-bind — the cluster node started once the API listens
 * (members publish the API's address, port included), its metrics attached, and its graceful
 * leave when the server stops. Without --cluster-bind nothing here runs: the node is single.
 */
import os from "node:os";
import { ClusterHandle } from "../cluster/handle.ts";
import { formatHostPort, isWildcard } from "../cluster/net/address.ts";
import { clusterSample, startCluster } from "../cluster/run.ts";
import type { Config } from "../config/config.ts";
import type { Logger } from "../core/logger.ts";
import type { Metrics } from "../metrics/index.ts";
import type { Store } from "../store/store.ts";

export function clusterHandle(config: Config, store: Store): ClusterHandle {
  return new ClusterHandle(config.cluster !== null, {
    name: config.cluster?.nodeName ?? (config.nodeName || os.hostname().slice(0, 128)),
    nodeId: store.dataDir.meta.node_id,
    api: formatHostPort(config.bindHost, config.bindPort),
    shardCount: config.shards,
  });
}

/** The API's address as the other members reach it: the bind host, or the advertised one when the API listens everywhere. */
function apiAddress(config: Config, port: number): string {
  const host = isWildcard(config.bindHost) ? (config.cluster?.advertiseHost ?? config.bindHost) : config.bindHost;
  return formatHostPort(host, port);
}

/** Starts the cluster node when the config asks for one; throws what stops the server from starting. */
export async function startClusterFor(
  config: Config,
  handle: ClusterHandle,
  ctx: { apiPort: number; logger: Logger; metrics: Metrics },
): Promise<void> {
  handle.single.api = apiAddress(config, ctx.apiPort);
  if (config.cluster === null) return;
  const { metrics } = ctx;
  handle.running = await startCluster(config.cluster, {
    nodeId: handle.single.nodeId,
    api: handle.single.api,
    logger: ctx.logger,
    onProbeRtt: (ms) => metrics.clusterProbeRoundTripSeconds.observe(ms / 1000),
    prepare: (node) => {
      for (const hook of handle.beforeStart) hook(node);
    },
  });
  metrics.attachCluster(() => (handle.running ? clusterSample(handle.running) : null));
}

/** A graceful stop: leave the cluster (the others move our shards at once), then close its ports. */
export async function stopCluster(handle: ClusterHandle, logger: Logger): Promise<void> {
  const node = handle.node();
  if (!node) return;
  await node.leave();
  node.shutdown();
  logger.info("cluster: left", { name: node.name });
}
