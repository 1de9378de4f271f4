/**
 * The cluster's metrics (src/metrics/cluster.ts) without a cluster: nothing attached, every
 * labelled series empty and the rest at 0 (a single node); a sample attached, the counts mirrored as counters that only
 * grow, members as a gauge by state, the probe round trip as a histogram.
 */
import { describe, expect, test } from "bun:test";
import type { ClusterSample } from "../../src/metrics/cluster.ts";
import { createMetrics } from "../../src/metrics/index.ts";

function sample(n: number): ClusterSample {
  return {
    members: { alive: 3, suspect: 1, dead: 0, left: 0 },
    shards: { healthy: 250, syncing: 0, degraded: 6, under_replicated: 0, unavailable: 0 },
    health: 2,
    metaVersion: 7,
    probes: 10 * n,
    probeFailures: n,
    indirectProbes: 2 * n,
    relayedProbes: n,
    suspicions: n,
    lastChecks: n,
    lastChecksAnswered: 0,
    deathsDeclared: 0,
    refutations: 0,
    nameConflicts: 0,
    stateChanges: { alive: 0, suspect: n, dead: 0, left: 0 },
    packets: { in: 100 * n, out: 90 * n },
    messages: { in: { ping: 5 * n, ack: 4 * n }, out: { ping: 6 * n, ack: 0 } },
    bytes: { in: { ping: 500 * n }, out: { ping: 600 * n } },
    dropped: { bad_mac: 3 * n, too_short: 0 },
    pushPulls: n,
    pushPullFailures: 0,
    sessionsAccepted: n,
    sessionsFailed: 0,
    channels: { opened: { info: n }, accepted: { info: 0 }, refused: 0 },
    streamErrors: { bad_length: 0, tls: n, connect: 0 },
    streamBytes: { in: 1000 * n, out: 2000 * n },
  };
}

const line = (text: string, prefix: string) => text.split("\n").find((l) => l.startsWith(prefix));

describe("cluster metrics", () => {
  test("a single node: the labelled series hold nothing, the others stay at 0", async () => {
    const m = createMetrics({ processMetrics: false });
    const text = await m.registry.metrics();
    expect(text).toContain("# TYPE stemedb_cluster_members gauge");
    expect(text).not.toMatch(/^stemedb_cluster_members\{/m);
    expect(text).not.toMatch(/^stemedb_cluster_packets_dropped_total\{/m);
    expect(line(text, "stemedb_cluster_probes_total")).toBe("stemedb_cluster_probes_total 0");
  });

  test("attached: counts mirrored, gauges by state, the histogram observed", async () => {
    const m = createMetrics({ processMetrics: false });
    let n = 1;
    m.attachCluster(() => sample(n));
    m.clusterProbeRoundTripSeconds.observe(0.0008);
    let text = await m.registry.metrics();
    expect(line(text, 'stemedb_cluster_members{state="suspect"}')).toBe('stemedb_cluster_members{state="suspect"} 1');
    expect(line(text, "stemedb_cluster_probes_total")).toBe("stemedb_cluster_probes_total 10");
    expect(line(text, 'stemedb_cluster_packets_dropped_total{reason="bad_mac"}')).toBe(
      'stemedb_cluster_packets_dropped_total{reason="bad_mac"} 3',
    );
    expect(line(text, 'stemedb_cluster_gossip_messages_total{direction="in",type="ping"}')).toBe(
      'stemedb_cluster_gossip_messages_total{direction="in",type="ping"} 5',
    );
    expect(text).not.toContain('direction="out",type="ack"'); // a zero count is not a series
    expect(line(text, 'stemedb_cluster_stream_errors_total{reason="tls"}')).toBe(
      'stemedb_cluster_stream_errors_total{reason="tls"} 1',
    );
    expect(line(text, "stemedb_cluster_health_score")).toBe("stemedb_cluster_health_score 2");
    expect(line(text, 'stemedb_cluster_shards{state="degraded"}')).toBe('stemedb_cluster_shards{state="degraded"} 6');
    expect(line(text, 'stemedb_cluster_shards{state="under_replicated"}')).toBe(
      'stemedb_cluster_shards{state="under_replicated"} 0',
    ); // zeros are series here: an alert compares them
    expect(line(text, 'stemedb_cluster_probe_round_trip_seconds_bucket{le="0.001"}')).toBe(
      'stemedb_cluster_probe_round_trip_seconds_bucket{le="0.001"} 1',
    );
    n = 4;
    text = await m.registry.metrics();
    expect(line(text, "stemedb_cluster_probes_total")).toBe("stemedb_cluster_probes_total 40");
    expect(line(text, 'stemedb_cluster_member_state_changes_total{state="suspect"}')).toBe(
      'stemedb_cluster_member_state_changes_total{state="suspect"} 4',
    );
  });
});
