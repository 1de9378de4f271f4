/**
 * Anti-entropy (docs/CLUSTER.md#anti-entropy): what replication missed — a push dropped from a
 * full queue, a peer that was down or cut off, a node that gained a shard — is found by
 * comparing per-shard Merkle trees (../merkle.ts) with the other replicas and fetched, both ways.
 *
 * - **Periodically** (`intervalMs`) this node asks each live peer for the roots of the shards
 *   they both replicate, and of the global records, in one `roots` message; an equal root ends
 *   the comparison of that shard. For a shard whose roots differ it runs the Merkle diff with
 *   that peer, fetches the records it lacks and pushes the ones the peer lacks.
 * - **To sync** a shard it gained (or every shard, after a start) it repairs with a peer that
 *   holds the shard complete — in sync, or leaving with a complete copy — and then marks it in
 *   sync (shards.ts). When no peer holds it complete (every replica is new, or the whole cluster
 *   restarted) it repairs with every other live replica instead: the union of what is left is
 *   the best there is. A node waits for every live peer's shard-state news (`newsWaitMs` at
 *   most) before it concludes that nobody holds a shard complete.
 * - **Everything fetched is checked** before it is stored: its id must be one that was asked
 *   for (BLAKE3 of the body), and the ingest pipeline verifies the signature (and
 *   de-duplicates).
 *
 * Each round of a diff is split into bounded messages: ids answered per prefix stay under
 * `idsPerPrefixMax` (the diff descends where a peer holds more), prefixes per message under a
 * few dozen, fetched records per message under `fetchIdsMax`.
 */
import { toHex } from "../../core/hex.ts";
import type { Logger } from "../../core/logger.ts";
import { recordId } from "../../crypto/hash.ts";
import type { ReplicationMetrics } from "../../metrics/replication.ts";
import type { Store } from "../../store/store.ts";
import type { Clock, Timer } from "../env.ts";
import { MerkleDiff, type MerkleRequest, type MerkleResponse, type Summary } from "../merkle.ts";
import type { PeerLink } from "./rpc.ts";
import type { ShardMap } from "./shards.ts";
import type { ShardTrees } from "./shard-trees.ts";
import { globalShard, type WireRecord, type WireSummary } from "./wire.ts";

export interface AntiEntropyOptions {
  /** How often the roots of every shared shard are compared with each peer. */
  intervalMs: number;
  /** How soon a shard still syncing is tried again. */
  syncRetryMs: number;
  /** How long to wait for a live peer's shard-state news before syncing without it. */
  newsWaitMs: number;
  /** A request's deadline. */
  timeoutMs: number;
  /** Ids under one prefix in one answer at most (the diff descends past it). */
  idsPerPrefixMax: number;
  /** Records asked for (or pushed) in one message at most. */
  fetchIdsMax: number;
}

export const antiEntropyDefaults: AntiEntropyOptions = {
  intervalMs: 30_000,
  syncRetryMs: 1000,
  newsWaitMs: 5000,
  timeoutMs: 30_000,
  idsPerPrefixMax: 4096,
  fetchIdsMax: 256,
};

/** What anti-entropy needs of the rest of the data plane. */
export interface AntiEntropyDeps {
  clock: Clock;
  store: Store;
  shards: ShardMap;
  trees: ShardTrees;
  rpc(peer: string): PeerLink;
  /** Stores records a peer sent (verified, de-duplicated, not pushed on); the count newly stored. */
  storeReplicated(records: readonly WireRecord[]): Promise<number>;
  /** A shard (or the globals) finished syncing. */
  synced(shard: number | "global"): void;
  /** A leaver's records are with every current replica of its shard: the copy may be retired. */
  handedOver(shard: number): void;
  metrics: ReplicationMetrics | undefined;
  logger: Logger;
}

/** What one repair found and moved. */
export interface Repair {
  /** Ids the peer holds and this node lacked. */
  lacked: number;
  /** Ids this node holds and the peer lacked. */
  peerLacked: number;
  /** Records stored here (new). */
  fetched: number;
  /** Records the peer took. */
  pushed: number;
}

/** Prefixes per `merkle` message: 32 children answers are 512 summaries (≈ 21 KB). */
const prefixesPerMessage = 32;
/** Id lists per `merkle` message (each at most `idsPerPrefixMax` ids). */
const idPrefixesPerMessage = 4;

const toSummary = ([hash, count]: WireSummary): Summary => ({ hash, count });
const keyOf = (shard: number | "global") => (shard === "global" ? globalShard : shard);

export class AntiEntropy {
  private timer: Timer | null = null;
  private syncTimer: Timer | null = null;
  private comparing = false;
  private syncing = false;
  private stopped = false;
  private readonly startedMs: number;

  constructor(
    private readonly deps: AntiEntropyDeps,
    private readonly options: AntiEntropyOptions,
  ) {
    this.startedMs = deps.clock.now();
  }

  /** Starts (or, after `stop`, resumes) the periodic comparisons and the syncing of what is pending. */
  start(): void {
    this.stopped = false;
    this.timer?.cancel();
    this.schedule();
    this.syncSoon(0);
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.syncTimer?.cancel();
  }

  /** Something to sync: try soon (placement changed, news arrived). */
  syncSoon(delayMs = 0): void {
    if (this.stopped) return;
    this.syncTimer?.cancel();
    this.syncTimer = this.deps.clock.setTimeout(() => void this.syncPending(), delayMs);
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.deps.clock.setTimeout(async () => {
      await this.compareAll();
      this.schedule();
    }, this.options.intervalMs);
  }

  /** Compares every shared shard with every live peer once (and hands over what leavers still hold). */
  async compareAll(): Promise<void> {
    if (this.comparing || this.stopped) return;
    this.comparing = true;
    try {
      await this.handOffLeavers();
      const { shards } = this.deps;
      for (const peer of shards.live.map((m) => m.nodeId)) {
        if (peer === shards.selfId || this.stopped) continue;
        const shared = shards.placement.shardsOf(peer).filter((s) => shards.placement.replicas(s).includes(shards.selfId));
        await this.compareWith(peer, [...shared, globalShard]);
      }
    } finally {
      this.comparing = false;
    }
  }

  /** One `roots` message for `list`, then a repair of each shard whose roots differ. */
  private async compareWith(peer: string, list: number[]): Promise<void> {
    let theirs: WireSummary[];
    try {
      const answer = await this.deps.rpc(peer).call({ type: "roots", shards: list }, this.options.timeoutMs, "roots_answer");
      theirs = answer.roots;
    } catch (err) {
      this.deps.metrics?.comparisonsTotal.inc({ result: "failed" }, list.length);
      this.deps.logger.debug("anti-entropy: roots not compared", { peer, err: err as Error });
      return;
    }
    for (let i = 0; i < list.length && !this.stopped; i++) {
      const shard = list[i] as number;
      const mine = this.deps.trees.tree(shard).summary("");
      const other = theirs[i];
      if (other && other[1] === mine.count && Buffer.compare(other[0], mine.hash) === 0) {
        this.deps.metrics?.comparisonsTotal.inc({ result: "equal" });
        continue;
      }
      await this.repair(peer, shard);
    }
  }

  /** Tries every shard still syncing; retries later while some are. */
  async syncPending(): Promise<void> {
    if (this.syncing || this.stopped) return;
    this.syncing = true;
    let left = 0;
    try {
      const { shards } = this.deps;
      const pending: Array<number | "global"> = [];
      if (shards.global === "syncing") pending.push("global");
      for (const [shard, held] of shards.localShards()) if (held.state === "syncing") pending.push(shard);
      for (const shard of pending) {
        if (this.stopped) return;
        if (!(await this.syncOne(shard))) left++;
      }
      left += await this.handOffLeavers();
    } finally {
      this.syncing = false;
    }
    if (left > 0) this.syncSoon(this.options.syncRetryMs);
  }

  /**
   * Gives each current replica of every shard this node holds as a leaver what this copy has
   * and the replica lacks (a push-only repair): a copy can hold records no replica saw —
   * writes taken on the other side of a partition, or by a replica that has since lost the
   * shard — and it is retired only once every replica has them. Returns the shards left to do.
   */
  async handOffLeavers(): Promise<number> {
    const { shards } = this.deps;
    let left = 0;
    for (const shard of shards.toHandOver()) {
      if (this.stopped) return left;
      const replicas = shards.placement.replicas(shard).filter((id) => id !== shards.selfId && shards.isLive(id));
      if (replicas.length === 0) {
        left++;
        continue;
      }
      let done = true;
      for (const peer of replicas) if ((await this.repair(peer, shard, "push")) === null) done = false;
      if (done) this.deps.handedOver(shard);
      else left++;
    }
    return left;
  }

  /** Syncs one shard; true when it is in sync now. */
  private async syncOne(shard: number | "global"): Promise<boolean> {
    const { shards } = this.deps;
    for (const source of shards.completeHolders(shard)) {
      if ((await this.repair(source, keyOf(shard))) !== null) {
        this.deps.synced(shard);
        return true;
      }
    }
    const others = shards.otherReplicas(shard).filter((id) => shards.isLive(id));
    const waitedEnough = this.deps.clock.now() - this.startedMs >= this.options.newsWaitMs;
    if (others.some((id) => shards.unheard().includes(id)) && !waitedEnough) return false;
    // Nobody holds it complete: the union of what the live replicas hold is the best there is.
    for (const peer of others) if ((await this.repair(peer, keyOf(shard))) === null) return false;
    this.deps.synced(shard);
    return true;
  }

  /**
   * Diffs `shard` with `peer`, fetches what this node lacks and pushes what the peer lacks: the
   * ids the diff found missing each way and the records that moved, or null when it failed.
   */
  async repair(peer: string, shard: number, direction: "both" | "push" = "both"): Promise<Repair | null> {
    const diff = new MerkleDiff(this.deps.trees.tree(shard), this.options.idsPerPrefixMax);
    try {
      for (let request = diff.next(); request; request = diff.next()) diff.receive(await this.ask(peer, shard, request));
      const fetched = direction === "both" ? await this.fetch(peer, diff.localLacks) : 0;
      const pushed = await this.push(peer, diff.remoteLacks);
      const m = this.deps.metrics;
      m?.comparisonsTotal.inc({ result: diff.cost.rounds === 1 ? "equal" : "repaired" });
      if (fetched > 0) m?.repairedTotal.inc({ direction: "fetched" }, fetched);
      if (pushed > 0) m?.repairedTotal.inc({ direction: "pushed" }, pushed);
      if (fetched + pushed > 0)
        this.deps.logger.info("anti-entropy: repaired", {
          peer,
          shard: shard === globalShard ? "global" : shard,
          fetched,
          pushed,
          rounds: diff.cost.rounds,
        });
      return { lacked: diff.localLacks.length, peerLacked: diff.remoteLacks.length, fetched, pushed };
    } catch (err) {
      this.deps.metrics?.comparisonsTotal.inc({ result: "failed" });
      this.deps.logger.debug("anti-entropy: repair failed", { peer, shard, err: err as Error });
      return null;
    }
  }

  /** One round of the diff, split into bounded messages. */
  private async ask(peer: string, shard: number, request: MerkleRequest): Promise<MerkleResponse> {
    const out: MerkleResponse = { summaries: [], children: [], ids: [] };
    const link = this.deps.rpc(peer);
    const call = async (part: MerkleRequest) => {
      const a = await link.call({ type: "merkle", shard, ...part }, this.options.timeoutMs, "merkle_answer");
      out.summaries.push(...a.summaries.map(toSummary));
      out.children.push(...a.children.map((c) => c.map(toSummary)));
      out.ids.push(...a.ids);
    };
    if (request.summaries.length > 0) await call({ summaries: request.summaries, children: [], ids: [] });
    for (let i = 0; i < request.children.length; i += prefixesPerMessage)
      await call({ summaries: [], children: request.children.slice(i, i + prefixesPerMessage), ids: [] });
    for (let i = 0; i < request.ids.length; i += idPrefixesPerMessage)
      await call({ summaries: [], children: [], ids: request.ids.slice(i, i + idPrefixesPerMessage) });
    return out;
  }

  /** Fetches `ids` from `peer`, checks each is what was asked for, stores them; how many were new. */
  private async fetch(peer: string, ids: readonly Uint8Array[]): Promise<number> {
    let stored = 0;
    const { store } = this.deps;
    const wanted = ids.filter((id) => store.lookupId(id) === null);
    for (let i = 0; i < wanted.length; i += this.options.fetchIdsMax) {
      const chunk = wanted.slice(i, i + this.options.fetchIdsMax);
      const asked = new Set(chunk.map(toHex));
      const answer = await this.deps.rpc(peer).call({ type: "fetch", ids: chunk }, this.options.timeoutMs, "records");
      const fitting = answer.records.filter(([body]) => asked.has(toHex(recordId(body))));
      if (fitting.length < answer.records.length)
        this.deps.logger.warn("anti-entropy: a peer sent records that were not asked for; dropped", {
          peer,
          dropped: answer.records.length - fitting.length,
        });
      stored += await this.deps.storeReplicated(fitting);
    }
    return stored;
  }

  /** Pushes the records with `ids` to `peer`, in bounded messages; how many it took. */
  private async push(peer: string, ids: readonly Uint8Array[]): Promise<number> {
    let sent = 0;
    const { store } = this.deps;
    for (let i = 0; i < ids.length; i += this.options.fetchIdsMax) {
      const records: WireRecord[] = [];
      for (const id of ids.slice(i, i + this.options.fetchIdsMax)) {
        const loc = store.lookupId(id);
        if (!loc) continue;
        const r = store.read(loc);
        records.push([r.body, r.sig]);
      }
      if (records.length === 0) continue;
      const answer = await this.deps.rpc(peer).call({ type: "push", records }, this.options.timeoutMs, "push_ack");
      sent += records.length - answer.failed.length;
    }
    return sent;
  }
}
