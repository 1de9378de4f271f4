/**
 * What `stemedb serve --cluster-bind …` runs (docs/CLUSTER.md#starting-a-cluster): the key
 * file, the TLS files, the Bun transport on the cluster ports, a cluster node with the system
 * clock and randomness (`openCluster`, before the API is made), and once the API listens, its
 * start and first join (`joinCluster`). Everything that can be wrong with the settings is
 * said here, before the node takes part: an unreadable or world-readable key file, a taken
 * port, a seed that refuses us.
 */
import { StemeError } from "../core/errors.ts";
import type { Logger } from "../core/logger.ts";
import type { ClusterSample } from "../metrics/cluster.ts";
import { type PresetName, presets } from "./config.ts";
import { systemClock, systemRandom } from "./env.ts";
import { readClusterKeyFile } from "./key-file.ts";
import { formatHostPort } from "./net/address.ts";
import { BunTransport } from "./net/bun-transport.ts";
import { loadClusterTls } from "./net/tls.ts";
import type { ShardReport } from "./data-plane.ts";
import { ClusterNode, type JoinOutcome } from "./node.ts";
import { shardStateCounts, shardViews } from "./shard-states.ts";

/** A clustered node's settings, checked and defaulted (config/config.ts makes them from the flags). */
export interface ClusterSettings {
  bindHost: string;
  /** TCP streams; gossip on `port + 1`. */
  port: number;
  /** Seed stream addresses (`host:port`). */
  seeds: string[];
  keyFile: string;
  nodeName: string;
  replicationFactor: number;
  shards: number;
  /** The host the other members reach us at. */
  advertiseHost: string;
  preset: PresetName;
  tls: { certPath: string; keyPath: string; caPath: string } | null;
}

export interface RunningCluster {
  node: ClusterNode;
  transport: BunTransport;
  settings: ClusterSettings;
  /** Whether mutual TLS is on (for the start's log line). */
  tls: boolean;
}

export interface ClusterContext {
  /** The data directory's node id (meta.json). */
  nodeId: string;
  /** The HTTP API's address as published to the other members. */
  api: string;
  logger: Logger;
  onProbeRtt?: (ms: number) => void;
}

/**
 * The first half of a start: the key file, the TLS files, the ports bound and the node made —
 * not yet listening to peers or joining. The data plane is built over the node now (its view,
 * its channels), before anything can reach it; `joinCluster` then starts it.
 */
export async function openCluster(settings: ClusterSettings, ctx: ClusterContext): Promise<RunningCluster> {
  const keyring = readClusterKeyFile(settings.keyFile);
  const tls = settings.tls ? loadClusterTls(settings.tls) : undefined;
  let transport: BunTransport;
  try {
    transport = await BunTransport.open({
      bindHost: settings.bindHost,
      port: settings.port,
      advertiseHost: settings.advertiseHost,
      ...(tls ? { tls } : {}),
    });
  } catch (err) {
    const where = formatHostPort(settings.bindHost, settings.port);
    throw new StemeError(
      "bind_failed",
      `cannot listen on the cluster ports ${where} (TCP) and ${settings.port + 1} (UDP): ${(err as Error).message}`,
      {
        hint: "another process holds one of them; pick another --cluster-bind port (gossip takes CPORT + 1)",
      },
    );
  }
  const node = new ClusterNode({
    name: settings.nodeName,
    nodeId: ctx.nodeId,
    api: ctx.api,
    transport,
    clock: systemClock,
    random: systemRandom(),
    keyring,
    config: presets[settings.preset],
    shardCount: settings.shards,
    replicationFactor: settings.replicationFactor,
    seeds: settings.seeds,
    logger: ctx.logger,
    ...(ctx.onProbeRtt ? { onProbeRtt: ctx.onProbeRtt } : {}),
  });
  return { node, transport, settings, tls: tls !== undefined };
}

/** The second half: listen to peers, probe, and the first join attempt (a refusal throws and closes the node). */
export async function joinCluster(running: RunningCluster, logger: Logger): Promise<JoinOutcome> {
  const { node, transport, settings } = running;
  let outcome: JoinOutcome;
  try {
    outcome = await node.start();
  } catch (err) {
    node.shutdown();
    throw err;
  }
  const retrying = outcome.state === "retrying";
  (retrying ? logger.warn : logger.info).call(
    logger,
    retrying
      ? "cluster: no seed answered; serving as a one-node cluster and trying again"
      : `cluster: ${outcome.state === "first" ? "started" : "joined"}`,
    {
      name: settings.nodeName,
      node_id: node.nodeId,
      cluster: transport.clusterAddress,
      gossip: transport.gossipAddress,
      api: node.self.api,
      preset: settings.preset,
      shards: settings.shards,
      replication_factor: settings.replicationFactor,
      tls: running.tls,
      detail: outcome.detail,
    },
  );
  return outcome;
}

/** What the metrics read from a running cluster node at scrape time (src/metrics/cluster.ts). */
export function clusterSample(running: RunningCluster, report: Pick<ShardReport, "syncing">): ClusterSample {
  const { node, transport } = running;
  const s = node.stats;
  const t = transport.stats;
  const members: Record<string, number> = { alive: 0, suspect: 0, dead: 0, left: 0 };
  for (const m of node.members()) members[m.state] = (members[m.state] ?? 0) + 1;
  return {
    members,
    shards: shardStateCounts(shardViews(node, report)),
    health: node.health,
    metaVersion: node.placement().metaVersion,
    probes: s.probes,
    probeFailures: s.probesFailed,
    indirectProbes: s.indirectProbes,
    relayedProbes: s.relayedProbes,
    suspicions: s.suspicionsStarted,
    lastChecks: s.lastChecks,
    lastChecksAnswered: s.lastChecksAnswered,
    deathsDeclared: s.deathsDeclared,
    refutations: s.refutations,
    nameConflicts: s.conflicts,
    stateChanges: node.stateChanges,
    packets: { in: s.packetsReceived, out: s.packetsSent },
    messages: { in: s.messagesReceived, out: s.messagesSent },
    bytes: { in: s.packetBytesReceivedByType, out: s.packetBytesSentByType },
    dropped: s.dropped,
    pushPulls: s.pushPulls,
    pushPullFailures: s.pushPullFailures,
    sessionsAccepted: s.sessionsAccepted,
    sessionsFailed: s.sessionsFailed,
    channels: { opened: node.channelStats.opened, accepted: node.channelStats.accepted, refused: node.channelStats.refused },
    streamErrors: { bad_length: t.badLengths, tls: t.tlsFailures, connect: t.connectFailures },
    streamBytes: { in: t.streamBytesReceived, out: t.streamBytesSent },
  };
}
