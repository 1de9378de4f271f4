/**
 * The cluster's control plane (docs/CLUSTER.md#metrics): member states, probes and their round
 * trips, suspicions and deaths, gossip messages and bytes by type, dropped packets by reason,
 * push-pull exchanges, sessions and channels, stream errors. The membership layer keeps plain
 * counts (src/cluster/stats.ts); these mirror them at scrape time, so the protocol's hot path
 * never touches prom-client. Only the probe round trip is observed as it happens (a histogram
 * cannot be mirrored). On a single node nothing is attached: the labelled series stay empty, the
 * others at 0.
 * Replication's metrics (queues, lag, Merkle comparisons, the shards a node holds) are the data
 * plane's; the shards' states in the cluster's view are here (they follow from placement and the
 * members' states, with the data plane's word on syncing).
 */
import { Gauge, Histogram, type Registry } from "prom-client";
import { mirroredCounter, perScrape } from "./scrape.ts";

type Counts = Readonly<Record<string, number>>;

/** What the cluster node reports at scrape time (plain numbers; counts only grow). */
export interface ClusterSample {
  /** Members by state, ourselves included. */
  members: Counts;
  /** Shards by state in the cluster's view (src/cluster/shard-states.ts), every state named. */
  shards: Counts;
  /** Lifeguard's local health score (0: healthy). */
  health: number;
  metaVersion: number;
  probes: number;
  probeFailures: number;
  indirectProbes: number;
  relayedProbes: number;
  suspicions: number;
  lastChecks: number;
  lastChecksAnswered: number;
  deathsDeclared: number;
  refutations: number;
  nameConflicts: number;
  /** Other members' state changes seen here, by the state they went to. */
  stateChanges: Counts;
  packets: { in: number; out: number };
  messages: { in: Counts; out: Counts };
  /** Packet bytes by the packet's purpose (its first message's type). */
  bytes: { in: Counts; out: Counts };
  dropped: Counts;
  pushPulls: number;
  pushPullFailures: number;
  sessionsAccepted: number;
  sessionsFailed: number;
  channels: { opened: Counts; accepted: Counts; refused: number };
  streamErrors: Counts;
  streamBytes: { in: number; out: number };
}

/** Membership's probe round trips: loopback answers in well under a millisecond, a LAN in one or two, a loaded node in hundreds; probes time out at 200 ms – 3 s (the presets). */
const rttBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export function clusterMetrics(registers: Registry[]) {
  let source: (() => ClusterSample | null) | null = null;
  const read = perScrape(() => source?.() ?? null);
  const counter = (name: string, help: string, pick: (s: ClusterSample) => number) =>
    mirroredCounter({ name, help, registers, counts: () => withSample(read(), (s) => [[{}, pick(s)] as const]) });
  const labelled = <L extends string>(name: string, help: string, label: L, pick: (s: ClusterSample) => Counts) =>
    mirroredCounter<L>({
      name,
      help,
      labelNames: [label],
      registers,
      counts: () =>
        withSample(read(), (s) => Object.entries(pick(s)).map(([v, n]) => [{ [label]: v } as Record<L, string>, n] as const)),
    });
  const twoWay = <L extends string>(
    name: string,
    help: string,
    label: L,
    pick: (s: ClusterSample) => { in: Counts; out: Counts },
  ) =>
    mirroredCounter<"direction" | L>({
      name,
      help,
      labelNames: ["direction", label],
      registers,
      counts: () =>
        withSample(read(), (s) =>
          (["in", "out"] as const).flatMap((direction) =>
            Object.entries(pick(s)[direction])
              .filter(([, n]) => n > 0)
              .map(([v, n]) => [{ direction, [label]: v } as Record<"direction" | L, string>, n] as const),
          ),
        ),
    });
  return {
    /** Hands over the running cluster node's sample (serve does, when clustered). */
    attachCluster(sample: () => ClusterSample | null): void {
      source = sample;
    },
    clusterProbeRoundTripSeconds: new Histogram({
      name: "stemedb_cluster_probe_round_trip_seconds",
      help: "time from a probe's ping to its ack, directly or through a relay",
      buckets: rttBuckets,
      registers,
    }),
    clusterMembers: new Gauge({
      name: "stemedb_cluster_members",
      help: "members this node knows, by state: alive, suspect, dead, left (itself included)",
      labelNames: ["state"] as const,
      registers,
      collect() {
        const s = read();
        if (s) for (const [state, n] of Object.entries(s.members)) this.set({ state }, n);
      },
    }),
    clusterShards: new Gauge({
      name: "stemedb_cluster_shards",
      help: "shards by state in this node's view of the cluster: healthy, syncing, degraded (a replica suspect), under_replicated (fewer live nodes than the replication factor), unavailable (no live replica)",
      labelNames: ["state"] as const,
      registers,
      collect() {
        const s = read();
        if (s) for (const [state, n] of Object.entries(s.shards)) this.set({ state }, n);
      },
    }),
    clusterHealthScore: sampledGauge(
      registers,
      "stemedb_cluster_health_score",
      "Lifeguard's local health score: 0 is healthy; each step stretches probe timings",
      read,
      (s) => s.health,
    ),
    clusterMetaVersion: sampledGauge(
      registers,
      "stemedb_cluster_meta_version",
      "placement changes seen by this node (its meta version)",
      read,
      (s) => s.metaVersion,
    ),
    clusterProbesTotal: counter("stemedb_cluster_probes_total", "probe rounds started", (s) => s.probes),
    clusterProbeFailuresTotal: counter(
      "stemedb_cluster_probe_failures_total",
      "probe rounds that ended without an ack (the member is then suspected)",
      (s) => s.probeFailures,
    ),
    clusterIndirectProbesTotal: counter(
      "stemedb_cluster_indirect_probes_total",
      "probe rounds that asked other members to probe indirectly",
      (s) => s.indirectProbes,
    ),
    clusterRelayedProbesTotal: counter(
      "stemedb_cluster_relayed_probes_total",
      "indirect probes this node ran for other members",
      (s) => s.relayedProbes,
    ),
    clusterSuspicionsTotal: counter(
      "stemedb_cluster_suspicions_total",
      "suspicions this node started or first heard of",
      (s) => s.suspicions,
    ),
    clusterLastChecksTotal: counter(
      "stemedb_cluster_last_checks_total",
      "last probes of a suspect before declaring it dead",
      (s) => s.lastChecks,
    ),
    clusterLastChecksAnsweredTotal: counter(
      "stemedb_cluster_last_checks_answered_total",
      "last checks the suspect answered (a death averted)",
      (s) => s.lastChecksAnswered,
    ),
    clusterDeathsDeclaredTotal: counter(
      "stemedb_cluster_deaths_declared_total",
      "members this node's suspicion timer declared dead",
      (s) => s.deathsDeclared,
    ),
    clusterRefutationsTotal: counter(
      "stemedb_cluster_refutations_total",
      "times this node refuted a suspicion or death of itself",
      (s) => s.refutations,
    ),
    clusterNameConflictsTotal: counter(
      "stemedb_cluster_name_conflicts_total",
      "alive messages refused because another node holds the name",
      (s) => s.nameConflicts,
    ),
    clusterMemberStateChangesTotal: labelled(
      "stemedb_cluster_member_state_changes_total",
      "other members' state changes seen by this node, by the state entered: alive, suspect, dead, left (flapping shows here)",
      "state",
      (s) => s.stateChanges,
    ),
    clusterGossipPacketsTotal: mirroredCounter<"direction">({
      name: "stemedb_cluster_gossip_packets_total",
      help: "gossip packets (UDP), by direction: in (every datagram, dropped ones too), out",
      labelNames: ["direction"],
      registers,
      counts: () =>
        withSample(read(), (s) => [[{ direction: "in" }, s.packets.in] as const, [{ direction: "out" }, s.packets.out] as const]),
    }),
    clusterGossipMessagesTotal: twoWay(
      "stemedb_cluster_gossip_messages_total",
      "messages in gossip packets that passed their checks, piggybacked ones included, by direction and type",
      "type",
      (s) => s.messages,
    ),
    clusterGossipBytesTotal: twoWay(
      "stemedb_cluster_gossip_bytes_total",
      "bytes of gossip packets that passed their checks, by direction and the packet's purpose (its first message's type)",
      "type",
      (s) => s.bytes,
    ),
    clusterPacketsDroppedTotal: labelled(
      "stemedb_cluster_packets_dropped_total",
      "gossip packets (or messages in them) dropped, by reason: too_short, too_long, bad_version, bad_mac (unauthenticated), bad_cbor, malformed, unknown_type, wrong_channel",
      "reason",
      (s) => s.dropped,
    ),
    clusterPushPullsTotal: counter(
      "stemedb_cluster_push_pulls_total",
      "full state exchanges this node started (periodic, join, reconnect)",
      (s) => s.pushPulls,
    ),
    clusterPushPullFailuresTotal: counter(
      "stemedb_cluster_push_pull_failures_total",
      "push-pulls this node started that failed",
      (s) => s.pushPullFailures,
    ),
    clusterSessionsAcceptedTotal: counter(
      "stemedb_cluster_sessions_accepted_total",
      "stream sessions peers opened to this node",
      (s) => s.sessionsAccepted,
    ),
    clusterSessionsFailedTotal: counter(
      "stemedb_cluster_sessions_failed_total",
      "stream sessions that failed, either side: handshake (another key), MAC, timeout, broken stream",
      (s) => s.sessionsFailed,
    ),
    clusterChannelSessionsTotal: twoWay(
      "stemedb_cluster_channel_sessions_total",
      "channel sessions by direction (out: opened here, in: accepted) and channel",
      "channel",
      (s) => ({ in: s.channels.accepted, out: s.channels.opened }),
    ),
    clusterChannelRefusalsTotal: counter(
      "stemedb_cluster_channel_refusals_total",
      "channel sessions refused: a channel this node does not serve",
      (s) => s.channels.refused,
    ),
    clusterStreamErrorsTotal: labelled(
      "stemedb_cluster_stream_errors_total",
      "TCP streams ended by an error, by reason: bad_length (a frame length of 0 or over 16 MiB), tls (a failed handshake or certificate), connect (a connect that failed)",
      "reason",
      (s) => s.streamErrors,
    ),
    clusterStreamBytesTotal: mirroredCounter<"direction">({
      name: "stemedb_cluster_stream_bytes_total",
      help: "bytes on the cluster's TCP streams, by direction",
      labelNames: ["direction"],
      registers,
      counts: () =>
        withSample(read(), (s) => [
          [{ direction: "in" }, s.streamBytes.in] as const,
          [{ direction: "out" }, s.streamBytes.out] as const,
        ]),
    }),
  };
}

function withSample<T>(s: ClusterSample | null, f: (s: ClusterSample) => T): T | null {
  return s === null ? null : f(s);
}

function sampledGauge(
  registers: Registry[],
  name: string,
  help: string,
  read: () => ClusterSample | null,
  pick: (s: ClusterSample) => number,
): Gauge {
  return new Gauge({
    name,
    help,
    registers,
    collect() {
      const s = read();
      if (s) this.set(pick(s));
    },
  });
}
