/**
 * Records that cross shards (docs/CLUSTER.md#references-across-shards). Placement by subject
 * keeps a (subject, predicate)'s assertions together, but derived state also reads records of
 * other subjects, and a node must hold those too to answer as a node holding every record would:
 *
 * - **What a record names, its holder fetches.** A vote's, retraction's or review's target, an
 *   assertion's `depends_on` and `supersedes`: a node that stores a record naming one it lacks
 *   asks its peers for it (and, the fetched record being stored in turn, for what *it* names —
 *   the whole closure). So a cascade through `depends_on` sees the dependency's flags, TrustRank
 *   sees the author of every assertion voted on, and a gold review sees its target. A name that
 *   dangles (the record does not exist yet, or anywhere) is asked for again, with a growing
 *   delay, `wantedMax` at most.
 * - **Some assertions are global.** An assertion with `supersedes` changes the flags of another
 *   (which may live in another shard, and be fetched anywhere as a reference), so it goes to
 *   every node, like the global kinds; so does every assertion on a **gold** (subject,
 *   predicate) — one that an authority's `gold` or `ungold` review names — since TrustRank
 *   compares every agent's latest claim there with the gold one, on every node. Every node
 *   computes the same gold pairs from the same global records; anti-entropy of the global set
 *   (its tree holds these assertions too) converges them.
 *
 * What this costs is in docs/CLUSTER.md#limits: every assertion anyone voted on ends up on every
 * node.
 */
import { toHex } from "../../core/hex.ts";
import type { Logger } from "../../core/logger.ts";
import type { StemeRecord } from "../../core/record.ts";
import { recordId } from "../../crypto/hash.ts";
import { kindCodes, relCodes } from "../../index/schema.ts";
import type { IndexEntry } from "../../index/store.ts";
import type { Store } from "../../store/store.ts";
import type { Clock, Timer } from "../env.ts";
import type { PeerLink } from "./rpc.ts";
import type { ShardMap } from "./shards.ts";
import type { WireRecord } from "./wire.ts";

export interface ReferenceOptions {
  /** Records named and missing that are remembered at most (past it, anti-entropy's periodic scan finds them again). */
  wantedMax: number;
  /** First retry of a name no peer had; doubles up to `retryMaxMs`. */
  retryMs: number;
  retryMaxMs: number;
  /** Ids asked for in one `fetch` at most. */
  fetchIdsMax: number;
  timeoutMs: number;
}

export const referenceDefaults: ReferenceOptions = {
  wantedMax: 100_000,
  retryMs: 1000,
  retryMaxMs: 60_000,
  fetchIdsMax: 256,
  timeoutMs: 10_000,
};

export interface ReferenceDeps {
  store: Store;
  clock: Clock;
  shards: ShardMap;
  rpc(peer: string): PeerLink;
  storeReplicated(records: readonly WireRecord[]): Promise<number>;
  /** A (subject, predicate) became gold: the global set grew. */
  goldPair(subject: string, predicate: string): void;
  logger: Logger;
}

interface Wanted {
  id: Uint8Array;
  dueMs: number;
  delayMs: number;
}

/** The ids a record names that derived state reads. */
export function namedBy(record: StemeRecord): Uint8Array[] {
  switch (record.kind) {
    case "vote":
    case "retraction":
      return [record.target];
    case "review":
      // A trust seed names an agent's key, not a record.
      return record.action === "trust_seed" ? [] : [record.target];
    case "assertion":
      return [...(record.depends_on ?? []), ...(record.supersedes ? [record.supersedes] : [])];
    default:
      return [];
  }
}

const pairKey = (subject: string, predicate: string) => `${subject}\0${predicate}`;

export class References {
  private readonly wanted = new Map<string, Wanted>();
  private readonly goldPairs = new Set<string>();
  /** Targets of gold and ungold reviews not held yet (their pair is learnt when they arrive). */
  private readonly goldTargets = new Set<string>();
  private timer: Timer | null = null;
  private running = false;
  private stopped = false;

  constructor(
    private readonly deps: ReferenceDeps,
    private readonly options: ReferenceOptions,
  ) {}

  /** Is `record` on every node (docs above)? */
  isGlobal(record: StemeRecord): boolean {
    if (record.kind !== "assertion") return true;
    return record.supersedes !== undefined || this.goldPairs.has(pairKey(record.subject, record.predicate));
  }

  /** The gold (subject, predicate) pairs this node knows. */
  gold(): Array<[string, string]> {
    return [...this.goldPairs].map((k) => k.split("\0") as [string, string]);
  }

  /** Records in flight to be fetched. */
  get pending(): number {
    return this.wanted.size;
  }

  /** Reads what the index already holds: gold pairs, and names that dangle (after a restart). */
  start(): void {
    this.stopped = false;
    const { store } = this.deps;
    const reviews = store.index.db.query(`SELECT lsn FROM records WHERE kind = ${kindCodes.review}`).all() as Array<{
      lsn: number;
    }>;
    for (const { lsn } of reviews) {
      const loc = store.index.locationByLsn(lsn);
      if (loc) this.learn(store.read(loc).record);
    }
    const refs = store.index.db.query("SELECT DISTINCT dst, rel FROM refs").all() as Array<{ dst: Uint8Array; rel: number }>;
    for (const { dst, rel } of refs) if (rel !== relCodes.review && store.lookupId(dst) === null) this.want(dst);
    for (const target of this.goldTargets) this.want(Buffer.from(target, "hex"));
    this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
  }

  /** Acknowledged records (writes, pushes, fetches alike): what they name and lack is wanted; gold pairs are learnt. */
  observe(entries: readonly IndexEntry[]): void {
    let more = false;
    let batch: Set<string> | null = null;
    for (const e of entries) {
      // On the write path: hex only when something waits for it.
      if (this.wanted.size > 0 || this.goldTargets.size > 0) {
        const idHex = toHex(e.id);
        this.wanted.delete(idHex);
        this.learn(e.record, idHex);
      } else this.learn(e.record);
      for (const id of namedBy(e.record)) {
        if (this.deps.store.lookupId(id) !== null) continue;
        batch ??= new Set(entries.map((x) => toHex(x.id)));
        if (!batch.has(toHex(id))) more = this.want(id) || more;
      }
    }
    if (more) this.schedule(0);
  }

  private learn(record: StemeRecord, idHex?: string): void {
    if (record.kind === "review" && (record.action === "gold" || record.action === "ungold")) {
      const loc = this.deps.store.lookupId(record.target);
      if (loc) {
        const target = this.deps.store.read(loc).record;
        if (target.kind === "assertion") this.addPair(target.subject, target.predicate);
      } else this.goldTargets.add(toHex(record.target));
    }
    if (record.kind === "assertion" && idHex !== undefined && this.goldTargets.delete(idHex))
      this.addPair(record.subject, record.predicate);
  }

  private addPair(subject: string, predicate: string): void {
    const key = pairKey(subject, predicate);
    if (this.goldPairs.has(key)) return;
    this.goldPairs.add(key);
    this.deps.goldPair(subject, predicate);
  }

  private want(id: Uint8Array): boolean {
    const key = toHex(id);
    if (this.wanted.has(key) || this.wanted.size >= this.options.wantedMax) return false;
    this.wanted.set(key, { id: new Uint8Array(id), dueMs: this.deps.clock.now(), delayMs: this.options.retryMs });
    return true;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer?.cancel();
    this.timer = this.deps.clock.setTimeout(() => void this.fetchDue(), delayMs);
  }

  /** Asks the live peers, one after the other, for every wanted id that is due. */
  private async fetchDue(): Promise<void> {
    if (this.running || this.stopped) return;
    this.running = true;
    try {
      const now = this.deps.clock.now();
      let due = [...this.wanted.values()].filter((w) => w.dueMs <= now && this.deps.store.lookupId(w.id) === null);
      const { shards } = this.deps;
      for (const peer of shards.live.map((m) => m.nodeId)) {
        if (peer === shards.selfId || due.length === 0 || this.stopped) continue;
        due = await this.askPeer(peer, due);
      }
      for (const w of due) {
        w.dueMs = this.deps.clock.now() + w.delayMs;
        w.delayMs = Math.min(w.delayMs * 2, this.options.retryMaxMs);
      }
    } finally {
      this.running = false;
    }
    this.scheduleNext();
  }

  /** Fetches `due` from `peer`; the ids it did not have. */
  private async askPeer(peer: string, due: Wanted[]): Promise<Wanted[]> {
    const left: Wanted[] = [];
    for (let i = 0; i < due.length; i += this.options.fetchIdsMax) {
      const chunk = due.slice(i, i + this.options.fetchIdsMax);
      try {
        const answer = await this.deps
          .rpc(peer)
          .call({ type: "fetch", ids: chunk.map((w) => w.id) }, this.options.timeoutMs, "records");
        const asked = new Set(chunk.map((w) => toHex(w.id)));
        const got = answer.records.filter(([body]) => asked.has(toHex(recordId(body))));
        await this.deps.storeReplicated(got);
        const found = new Set(got.map(([body]) => toHex(recordId(body))));
        for (const w of chunk) if (!found.has(toHex(w.id))) left.push(w);
      } catch (err) {
        this.deps.logger.debug("references: a peer could not be asked", { peer, err: err as Error });
        left.push(...chunk);
      }
    }
    return left;
  }

  private scheduleNext(): void {
    if (this.wanted.size === 0) return;
    const now = this.deps.clock.now();
    let next = Number.POSITIVE_INFINITY;
    for (const w of this.wanted.values()) next = Math.min(next, w.dueMs);
    this.schedule(Math.max(0, next - now));
  }
}
