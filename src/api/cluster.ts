/**
 * The cluster in the server (docs/CLUSTER.md#starting-a-cluster). With --cluster-bind: the
 * node is made before the API (`openClusterFor`: the key file, the ports, the node — so the
 * data plane can be built over it), started once the API listens (`startClusterFor`: it listens
 * to peers, probes, joins; its metrics attached), and leaves the cluster on a graceful stop
 * (`stopCluster`). Without --cluster-bind none of it runs: the node is single, and the handle
 * describes it as a cluster of one.
 */
import os from "node:os";
import { ClusterHandle } from "../cluster/handle.ts";
import { formatHostPort, isWildcard } from "../cluster/net/address.ts";
import { clusterSample, joinCluster, openCluster } from "../cluster/run.ts";
import type { Config } from "../config/config.ts";
import type { Logger } from "../core/logger.ts";
import type { Metrics } from "../metrics/index.ts";
import type { Store } from "../store/store.ts";

/** The API's address as the other members reach it: the bind host, or the advertised one when the API listens everywhere. */
function apiAddress(config: Config): string {
  const host = isWildcard(config.bindHost) ? (config.cluster?.advertiseHost ?? config.bindHost) : config.bindHost;
  return formatHostPort(host, config.bindPort);
}

export function clusterHandle(config: Config, store: Store): ClusterHandle {
  return new ClusterHandle(config.cluster !== null, {
    name: config.cluster?.nodeName ?? (config.nodeName || os.hostname().slice(0, 128)),
    nodeId: store.dataDir.meta.node_id,
    api: apiAddress(config),
    shardCount: config.shards,
  });
}

/** Makes the cluster node when the config asks for one (not started); throws what stops the server from starting. */
export async function openClusterFor(
  config: Config,
  handle: ClusterHandle,
  ctx: { logger: Logger; metrics: Metrics },
): Promise<void> {
  if (config.cluster === null) return;
  const { metrics } = ctx;
  handle.opened = await openCluster(config.cluster, {
    nodeId: handle.single.nodeId,
    api: handle.single.api,
    logger: ctx.logger,
    onProbeRtt: (ms) => metrics.clusterProbeRoundTripSeconds.observe(ms / 1000),
  });
  const opened = handle.opened;
  metrics.attachCluster(() => (handle.started ? clusterSample(opened, handle.shards) : null));
}

/** Starts the node made by `openClusterFor` (a refusal by the cluster throws, the node closed). */
export async function startClusterFor(handle: ClusterHandle, logger: Logger): Promise<void> {
  const opened = handle.opened;
  if (!opened) return;
  for (const hook of handle.beforeStart) hook(opened.node);
  await joinCluster(opened, logger);
  handle.started = true;
}

/** A graceful stop: leave the cluster (the others move our shards at once), then close its ports. */
export async function stopCluster(handle: ClusterHandle, logger: Logger): Promise<void> {
  const node = handle.node();
  if (node) {
    await node.leave();
    logger.info("cluster: left", { name: node.name });
  }
  closeCluster(handle);
}

/** Closes the cluster's ports, whatever state the node is in (idempotent). */
export function closeCluster(handle: ClusterHandle): void {
  handle.opened?.node.shutdown();
}
