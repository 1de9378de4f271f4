/**
 * Replication pushes (docs/CLUSTER.md#replication): every record this node stores as a write
 * (a client's, a decision it signed) goes to the other replicas of its shard — global records
 * to every other member — in batches over each peer's `push` channel.
 *
 * - **One queue a peer, bounded.** A record waits in its peer's queue until a batch leaves:
 *   at once when the peer has a free slot in its window (`inFlightMax` unanswered batches), else
 *   when one is answered. A queue that holds `queueRecordsMax` records takes no more: a slow or
 *   dead peer must not grow this node's memory without bound. The push is dropped and counted
 *   (`stemedb_replication_dropped_total`), and anti-entropy brings the record over later — the
 *   record is durable here, so nothing acknowledged is lost, only late.
 * - **A batch that fails** (the channel broke, no answer in `timeoutMs`) is dropped the same
 *   way: the records stay on this node and the next Merkle comparison finds them missing there.
 * - **The receiver** verifies each record's id and signature and stores it through its own
 *   ingest pipeline, which de-duplicates: a push twice is harmless (replication is set union).
 * - **Lag**: from the moment a record was acknowledged here to the moment the peer said it is
 *   durable there: `stemedb_replication_lag_seconds`, by peer.
 * - **`ack=quorum`** writes wait on `acked(id)`: the peers that confirmed the record so far,
 *   kept for the most recent `ackMemoryMax` records.
 */
import { StemeError } from "../../core/errors.ts";
import type { Logger } from "../../core/logger.ts";
import type { ReplicationMetrics } from "../../metrics/replication.ts";
import type { Clock, Timer } from "../env.ts";
import { PeerUnavailable, type PeerLink } from "./rpc.ts";
import type { WireRecord } from "./wire.ts";

export interface ReplicatorOptions {
  /** Records in one push frame at most. */
  batchRecordsMax: number;
  /** Bytes of bodies in one push frame at most (a frame must stay far below the transport's limit). */
  batchBytesMax: number;
  /** Records waiting for one peer at most; past it pushes are dropped (anti-entropy repairs). */
  queueRecordsMax: number;
  /** Unanswered batches to one peer at most. */
  inFlightMax: number;
  /** How long a batch may go unanswered. */
  timeoutMs: number;
}

export const replicatorDefaults: ReplicatorOptions = {
  batchRecordsMax: 1000,
  batchBytesMax: 4 * 1024 * 1024,
  queueRecordsMax: 100_000,
  inFlightMax: 4,
  timeoutMs: 10_000,
};

interface Outgoing {
  key: string;
  record: WireRecord;
  /** When the record was acknowledged here (the clock's ms). */
  acknowledgedMs: number;
}

/** One peer's queue. */
class PeerQueue {
  items: Outgoing[] = [];
  head = 0;
  inFlight = 0;
  /** Batches sent and not answered yet. */
  readonly flying = new Set<Outgoing[]>();

  /** When the oldest record still queued or in flight was acknowledged here; null when none is. */
  oldestMs(): number | null {
    let oldest: number | null = this.head < this.items.length ? (this.items[this.head] as Outgoing).acknowledgedMs : null;
    for (const batch of this.flying)
      for (const o of batch) if (oldest === null || o.acknowledgedMs < oldest) oldest = o.acknowledgedMs;
    return oldest;
  }

  get depth(): number {
    return this.items.length - this.head;
  }

  take(max: number, bytesMax: number): Outgoing[] {
    const out: Outgoing[] = [];
    let bytes = 0;
    while (this.head < this.items.length && out.length < max) {
      const next = this.items[this.head] as Outgoing;
      if (out.length > 0 && bytes + next.record[0].length > bytesMax) break;
      bytes += next.record[0].length;
      out.push(next);
      this.head++;
    }
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return out;
  }
}

type Waiter = {
  need: number;
  peers: ReadonlySet<string>;
  /** Peers whose push of this record failed or was dropped. */
  failed: Set<string>;
  resolve: (acked: number) => void;
  timer: Timer;
};

export class Replicator {
  private readonly queues = new Map<string, PeerQueue>();
  /** The peers that confirmed each recent record (insertion order: oldest first). */
  private readonly acks = new Map<string, Set<string>>();
  private readonly waiters = new Map<string, Waiter[]>();
  private readonly ackMemoryMax = 200_000;

  constructor(
    private readonly clock: Clock,
    private readonly linkOf: (peer: string) => PeerLink,
    private readonly nameOf: (peer: string) => string,
    private readonly options: ReplicatorOptions,
    private readonly metrics: ReplicationMetrics | undefined,
    private readonly logger: Logger,
  ) {}

  /** Queues `record` (acknowledged here at `acknowledgedMs`) for each of `peers`. */
  enqueue(key: string, record: WireRecord, peers: readonly string[], acknowledgedMs: number): void {
    for (const peer of peers) {
      const q = this.queue(peer);
      if (q.depth >= this.options.queueRecordsMax) {
        this.metrics?.droppedTotal.inc({ peer: this.nameOf(peer), reason: "queue_full" });
        this.failed(key, peer);
        continue;
      }
      q.items.push({ key, record, acknowledgedMs });
      this.pump(peer, q);
    }
  }

  /** Records waiting for `peer`. */
  depth(peer: string): number {
    return this.queues.get(peer)?.depth ?? 0;
  }

  /** Queue depth per peer (the metric's gauge reads it at scrape). */
  depths(): Array<[string, number]> {
    return [...this.queues].map(([peer, q]) => [peer, q.depth]);
  }

  /**
   * How far behind each peer is, seconds: the age of the oldest record acknowledged here and
   * not yet confirmed by it (queued or in flight); 0 when nothing is waiting. A peer that stops
   * answering shows a number that grows until its pushes time out and anti-entropy takes over.
   */
  behind(): Array<[string, number]> {
    const now = this.clock.now();
    return [...this.queues].map(([peer, q]) => {
      const oldest = q.oldestMs();
      return [peer, oldest === null ? 0 : Math.max(0, now - oldest) / 1000];
    });
  }

  /** Forgets a peer that left the cluster (its queue goes; anti-entropy covers it if it comes back). */
  forget(peer: string): void {
    const q = this.queues.get(peer);
    if (!q) return;
    for (let i = q.head; i < q.items.length; i++) this.failed((q.items[i] as Outgoing).key, peer);
    this.queues.delete(peer);
  }

  /** The peers that confirmed the record `key` so far. */
  acked(key: string): ReadonlySet<string> {
    return this.acks.get(key) ?? new Set();
  }

  /**
   * Resolves with how many of `peers` confirmed `key` once `need` of them have, or once that
   * can no longer happen (a push failed or was dropped), or after `timeoutMs`.
   */
  waitFor(key: string, peers: readonly string[], need: number, timeoutMs: number): Promise<number> {
    const set = new Set(peers);
    const count = () => [...this.acked(key)].filter((p) => set.has(p)).length;
    if (count() >= need || need <= 0) return Promise.resolve(count());
    return new Promise((resolve) => {
      const waiter: Waiter = {
        need,
        peers: set,
        failed: new Set(),
        resolve: (n) => {
          waiter.timer.cancel();
          const list = this.waiters.get(key)?.filter((w) => w !== waiter) ?? [];
          if (list.length > 0) this.waiters.set(key, list);
          else this.waiters.delete(key);
          resolve(n);
        },
        timer: this.clock.setTimeout(() => waiter.resolve(count()), timeoutMs),
      };
      this.waiters.set(key, [...(this.waiters.get(key) ?? []), waiter]);
    });
  }

  private queue(peer: string): PeerQueue {
    let q = this.queues.get(peer);
    if (!q) {
      q = new PeerQueue();
      this.queues.set(peer, q);
    }
    return q;
  }

  /** Sends batches while the peer's window has room. */
  private pump(peer: string, q: PeerQueue): void {
    while (q.inFlight < this.options.inFlightMax && q.depth > 0) {
      const batch = q.take(this.options.batchRecordsMax, this.options.batchBytesMax);
      q.inFlight++;
      q.flying.add(batch);
      void this.send(peer, q, batch);
    }
  }

  private async send(peer: string, q: PeerQueue, batch: Outgoing[]): Promise<void> {
    const name = this.nameOf(peer);
    try {
      const answer = await this.linkOf(peer).call(
        { type: "push", records: batch.map((o) => o.record) },
        this.options.timeoutMs,
        "push_ack",
      );
      const refused = new Set(answer.failed.map(([i]) => i));
      const now = this.clock.now();
      batch.forEach((o, i) => {
        if (refused.has(i)) this.failed(o.key, peer);
        else {
          this.metrics?.lagSeconds.observe({ peer: name }, Math.max(0, now - o.acknowledgedMs) / 1000);
          this.confirm(o.key, peer);
        }
      });
      if (refused.size > 0) {
        this.metrics?.droppedTotal.inc({ peer: name, reason: "refused" }, refused.size);
        this.logger.warn("replication: a peer refused records", { peer: name, refused: refused.size, first: answer.failed[0] });
      }
    } catch (err) {
      // Unreachable, or refused whole (the peer is overloaded, shutting down): anti-entropy brings the records over later.
      const reason = err instanceof PeerUnavailable ? "unreachable" : err instanceof StemeError ? "refused" : null;
      if (reason === null) throw err;
      this.metrics?.droppedTotal.inc({ peer: name, reason }, batch.length);
      for (const o of batch) this.failed(o.key, peer);
    } finally {
      q.inFlight--;
      q.flying.delete(batch);
      if (this.queues.get(peer) === q) this.pump(peer, q);
    }
  }

  private confirm(key: string, peer: string): void {
    let set = this.acks.get(key);
    if (!set) {
      set = new Set();
      this.acks.set(key, set);
      if (this.acks.size > this.ackMemoryMax) this.acks.delete(this.acks.keys().next().value as string);
    }
    set.add(peer);
    for (const w of this.waiters.get(key) ?? []) {
      const n = [...set].filter((p) => w.peers.has(p)).length;
      if (n >= w.need) w.resolve(n);
    }
  }

  /** A push of `key` to `peer` will not be confirmed: waiters that can no longer reach their count give up now. */
  private failed(key: string, peer: string): void {
    const acked = this.acked(key);
    for (const w of this.waiters.get(key) ?? []) {
      if (!w.peers.has(peer)) continue;
      w.failed.add(peer);
      const confirmed = [...w.peers].filter((p) => acked.has(p)).length;
      const open = [...w.peers].filter((p) => !acked.has(p) && !w.failed.has(p)).length;
      if (confirmed + open < w.need) w.resolve(confirmed);
    }
  }
}
