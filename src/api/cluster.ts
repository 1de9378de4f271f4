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
import { DataPlane, dataPlaneOptions } from "../cluster/data/data-plane.ts";
import type { DrainAnswer } from "../cluster/data-plane.ts";
import { viewOf } from "../cluster/data-view.ts";
import type { ClusterNode } from "../cluster/node.ts";
import type { Config } from "../config/config.ts";
import { StemeError } from "../core/errors.ts";
import type { Logger } from "../core/logger.ts";
import type { Ingest } from "../ingest/pipeline.ts";
import type { Metrics } from "../metrics/index.ts";
import type { Store } from "../store/store.ts";
import type { RequestFacts } from "./node.ts";
import type { ClusterHooks } from "./serve.ts";

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
  for (const hook of handle.afterJoin) hook(opened.node);
}

/** A graceful stop: leave the cluster (the others move our shards at once), then close its ports. */
export async function stopCluster(handle: ClusterHandle, logger: Logger): Promise<void> {
  const node = handle.node();
  if (node) {
    await node.leave();
    logger.info("cluster: left", { name: node.name });
  }
  handle.stopDataPlane();
  closeCluster(handle);
}

/** Closes the cluster's ports, whatever state the node is in (idempotent). */
export function closeCluster(handle: ClusterHandle): void {
  handle.stopDataPlane();
  handle.opened?.node.shutdown();
}

/**
 * The data plane of a clustered node (src/cluster/data, docs/CLUSTER.md#the-data-plane), built
 * over the node `openClusterFor` made, once the API's request facts exist: it takes the write
 * routes (its writer routes each record to its shard's replicas) and wraps the read routes. It
 * answers the endpoints' shard reports and drains, serves its channels from just before the
 * node starts, acts on the membership once the first join attempt is over, and stops (`handle.stopDataPlane`) after the node has left.
 */
export function dataPlaneFor(
  config: Config,
  handle: ClusterHandle,
  deps: { store: Store; ingest: Ingest; logger: Logger; metrics: Metrics },
): (facts: RequestFacts) => ClusterHooks {
  return (facts) => {
    const opened = handle.opened;
    if (!opened) throw new Error("dataPlaneFor: the cluster node is not open");
    const settings = opened.settings;
    const plane = new DataPlane(
      {
        view: viewOf(opened.node),
        store: deps.store,
        ingest: deps.ingest,
        logger: deps.logger,
        metrics: deps.metrics.replication,
        facts,
      },
      dataPlaneOptions(config, settings.shards, settings.replicationFactor),
    );
    deps.metrics.attachReplication(plane.scrape());
    handle.shards = {
      localShards: () => plane.localShards().shards,
      syncing: (shard) => plane.shardSyncing(shard),
      replicas: (shard) => plane.shards.placement.replicas(shard),
    };
    handle.drain = { drain: (name) => drainThrough(plane, opened.node, name) };
    handle.beforeStart.push(() => plane.serve());
    handle.afterJoin.push(() => plane.start());
    handle.stopDataPlane = () => plane.stop();
    return { writer: plane.writer, wrapRoutes: (routes, dispatch) => plane.wrapRoutes(routes, dispatch) };
  };
}

/** Drains `name`: this node's own drain, or the same request sent to the node it names. */
async function drainThrough(plane: DataPlane, node: ClusterNode, name: string): Promise<DrainAnswer> {
  if (name === node.name) {
    if (!plane.drainProgress().draining) plane.drain();
    const p = plane.drainProgress();
    const left = p.primary + p.handing_over;
    return { name, state: left === 0 ? "drained" : "draining", shards_left: left };
  }
  const member = node.member(name);
  if (!member) throw new StemeError("not_found", `no member named ${name}`);
  const request = new Request(`http://${member.api}/v1/cluster/nodes/${encodeURIComponent(name)}/drain`, { method: "POST" });
  const answer = await plane.forwardTo(member.nodeId, request);
  const body = (await answer.json()) as DrainAnswer & { code?: string; detail?: string };
  if (answer.status !== 202)
    throw new StemeError("unavailable", `${name} did not take the drain: ${body.detail ?? answer.status}`);
  return body;
}
