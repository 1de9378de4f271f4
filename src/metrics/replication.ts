/**
 * The cluster data plane's metrics (src/cluster/data, docs/CLUSTER.md#what-the-data-plane-counts):
 * replication lag and queues per peer, pushes dropped, Merkle comparisons, records repaired,
 * shards by state, requests forwarded. Per-peer labels are member names: a cluster's size bounds
 * them. What moves without an event (queue depths, shard states) is read at scrape time from the
 * data plane once it is attached (`attach`); a node that runs single leaves them empty.
 */
import { Counter, Gauge, Histogram, type Registry } from "prom-client";

/** What the data plane reports at scrape time. */
export interface ReplicationScrape {
  /** Records waiting in each peer's push queue, by peer name. */
  queues(): Array<[peer: string, records: number]>;
  /** Seconds since the oldest record not yet confirmed by each peer was acknowledged here, by peer name. */
  behind(): Array<[peer: string, seconds: number]>;
  /** Shards this node holds, by state (syncing, in_sync, leaving); the globals count as one. */
  shards(): Record<string, number>;
}

/**
 * Replication lag buckets, seconds: a push on a healthy LAN is answered in a few ms (one fsync
 * on the peer); under load, tens; a peer that is slow or catching up, seconds. The SLO line
 * (p99 < 100 ms, docs/BENCHMARKS.md) sits on a bucket edge.
 */
const lagBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function replicationMetrics(registers: Registry[]) {
  let source: ReplicationScrape | null = null;
  return {
    /** Hands over the scrape-time source (once the data plane exists). */
    attachReplication(s: ReplicationScrape): void {
      source = s;
    },
    replication: {
      lagSeconds: new Histogram({
        name: "stemedb_replication_lag_seconds",
        help: "from a record's acknowledgement on this node to its peer saying it is durable there, by peer",
        labelNames: ["peer"] as const,
        buckets: lagBuckets,
        registers,
      }),
      queueRecords: new Gauge({
        name: "stemedb_replication_queue_records",
        help: "records waiting to be pushed to a peer, by peer (bounded by the replication queue setting)",
        labelNames: ["peer"] as const,
        registers,
        collect() {
          if (!source) return;
          this.reset();
          for (const [peer, n] of source.queues()) this.set({ peer }, n);
        },
      }),
      behindSeconds: new Gauge({
        name: "stemedb_replication_behind_seconds",
        help: "how far replication to a peer is behind, by peer: the age of the oldest record acknowledged here that the peer has not confirmed yet (0: nothing waiting)",
        labelNames: ["peer"] as const,
        registers,
        collect() {
          if (!source) return;
          this.reset();
          for (const [peer, s] of source.behind()) this.set({ peer }, s);
        },
      }),
      droppedTotal: new Counter({
        name: "stemedb_replication_dropped_total",
        help: "records not pushed to a peer (anti-entropy brings them over later), by peer and reason: queue_full, unreachable, refused",
        labelNames: ["peer", "reason"] as const,
        registers,
      }),
      pushedTotal: new Counter({
        name: "stemedb_replication_received_records_total",
        help: "records received in pushes from peers, by outcome: stored (new here), duplicate, refused",
        labelNames: ["outcome"] as const,
        registers,
      }),
      comparisonsTotal: new Counter({
        name: "stemedb_antientropy_comparisons_total",
        help: "Merkle comparisons of a shard with a peer, by result: equal, repaired (they differed), failed",
        labelNames: ["result"] as const,
        registers,
      }),
      repairedTotal: new Counter({
        name: "stemedb_antientropy_repaired_records_total",
        help: "records anti-entropy moved, by direction: fetched (this node lacked them), pushed (the peer lacked them)",
        labelNames: ["direction"] as const,
        registers,
      }),
      shards: new Gauge({
        name: "stemedb_cluster_local_shards",
        help: "shards this node holds, by state: syncing, in_sync, leaving (the global records count as one shard)",
        labelNames: ["state"] as const,
        registers,
        collect() {
          if (!source) return;
          this.reset();
          for (const [state, n] of Object.entries(source.shards())) this.set({ state }, n);
        },
      }),
      forwardedTotal: new Counter({
        name: "stemedb_cluster_forwarded_requests_total",
        help: "requests this node sent to the node that holds their shard, by kind (read, write, list) and result (ok, failed)",
        labelNames: ["kind", "result"] as const,
        registers,
      }),
      badFramesTotal: new Counter({
        name: "stemedb_cluster_bad_frames_total",
        help: "data-channel frames that did not decode (the channel was closed)",
        registers,
      }),
    },
  };
}

export type ReplicationMetrics = ReturnType<typeof replicationMetrics>["replication"];
