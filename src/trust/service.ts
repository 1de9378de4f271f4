/**
 * TrustRank kept current on a running node: facts are read incrementally from the index (only
 * what arrived since the last refresh), and τ is recomputed in the background when they
 * change — never on the write path. Each result is stamped with the index position it
 * reflects; a query reports that position (`trust_lsn`) and may demand a fresh one.
 *
 * A refresh is one synchronous pass (SQLite reads and the power iteration), so the index
 * cannot move under it and the stamp is exact.
 *
 * τ for a query `as_of` or `known_at` a time (docs/SEMANTICS.md#trustrank) is computed from the
 * facts read up to the index position *now* — the position the query itself answers at — kept
 * to those dated by `as_of` and received by `known_at`, and stamped with that position. So an
 * as-of answer and its τ reflect the same records, and a known-at answer is what the node
 * would have answered then (with `fresh=true`), whatever arrived since.
 */
import { toHex } from "../core/hex.ts";
import { type Logger, silentLogger } from "../core/logger.ts";
import { listRecords } from "../index/list.ts";
import type { Store } from "../store/store.ts";
import type { Cut } from "../state/index.ts";
import { claimFact, reviewFact, type TrustFacts, voteFact } from "./facts.ts";
import { computeTrust, type TrustResult, trustOf } from "./rank.ts";

export interface TrustSnapshot {
  result: TrustResult;
  /** The index position the facts were read up to. */
  lsn: number;
  computedAtMs: number;
  /** τ of an agent (authorities 1, unknown agents the floor). */
  trustOf(agent: string): number;
}

export interface TrustServiceOptions {
  /** How often the background refresh looks for new facts. */
  intervalMs?: number;
  logger?: Logger;
  now?: () => number;
}

export const trustIntervalMsDefault = 1000;
const pageRecords = 2000;
const asOfCacheMax = 16;

export class TrustService {
  private readonly facts: TrustFacts = { votes: [], reviews: [], claims: new Map() };
  /**
   * Vote or review targets not (yet) known as assertions. Each is looked up (`toLookUp`) once
   * when a fact first names it, and again only when a record with that id is acknowledged:
   * anyone can vote on ids that never arrive, and looking all of them up at every refresh would
   * make each refresh as slow as the dangling votes are many.
   */
  private readonly unresolved = new Set<string>();
  private toLookUp: string[] = [];
  /** Targets of `gold` reviews, and the (subject, predicate) pairs whose assertions are followed. */
  private readonly goldTargets = new Set<string>();
  private readonly goldSps = new Set<string>();
  private readonly authorities: ReadonlySet<string>;
  private readonly logger: Logger;
  private readonly now: () => number;
  private cursor = 0;
  /** Facts were read past what the current snapshot was computed from. */
  private stale = false;
  private snapshot: TrustSnapshot;
  private readonly cutCache = new Map<string, TrustResult>();
  private timer: ReturnType<typeof setInterval> | null = null;
  private readonly listeners: Array<(snapshot: TrustSnapshot) => void> = [];

  constructor(
    private readonly store: Store,
    private readonly options: TrustServiceOptions = {},
  ) {
    this.authorities = new Set(store.dataDir.authorities);
    this.logger = options.logger ?? silentLogger;
    this.now = options.now ?? Date.now;
    this.snapshot = this.stamp(computeTrust(this.facts, { authorities: this.authorities }), 0);
    store.onAcknowledged((entries) => {
      if (this.unresolved.size === 0) return;
      for (const e of entries) {
        const id = toHex(e.id);
        if (this.unresolved.has(id)) this.toLookUp.push(id);
      }
    });
  }

  /** Read every fact in the index and compute once, then refresh in the background. */
  start(): void {
    this.refreshNow();
    const intervalMs = this.options.intervalMs ?? trustIntervalMsDefault;
    this.timer = setInterval(() => {
      try {
        if (this.store.indexLsn > this.cursor || this.stale) this.refreshNow();
      } catch (err) {
        // A damaged or failing index is reported where it is found; the snapshot stays as it was.
        this.logger.warn("trust refresh failed; keeping the last snapshot", { err: err as Error });
      }
    }, intervalMs);
    this.timer.unref?.();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  get current(): TrustSnapshot {
    return this.snapshot;
  }

  /** A snapshot reflecting every acknowledged record (waits for the index, then refreshes). */
  async fresh(): Promise<TrustSnapshot> {
    await this.store.indexCaughtUp();
    this.refreshNow();
    return this.snapshot;
  }

  /**
   * τ as of a past time and/or known at one: computed from the facts read up to the index
   * position now, with ts ≤ asOf and recorded_at ≤ knownAt (cached until facts change), and
   * that position. Synchronous: call it after waiting for the index.
   */
  at(cut: Cut): { trustOf: (agent: string) => number; lsn: number } {
    this.readFacts();
    const key = `${cut.asOf ?? ""}:${cut.knownAt ?? ""}`;
    let result = this.cutCache.get(key);
    if (!result) {
      result = computeTrust(this.facts, { authorities: this.authorities, ...cut });
      if (this.cutCache.size >= asOfCacheMax) this.cutCache.delete(this.cutCache.keys().next().value as string);
      this.cutCache.set(key, result);
    }
    const r = result;
    return { trustOf: (agent) => trustOf(r, agent, this.authorities), lsn: this.cursor };
  }

  /** Reads facts up to the index position; whether any arrived. Marks the snapshot stale if so. */
  private readFacts(): boolean {
    const lsn = this.store.indexLsn;
    if (lsn <= this.cursor && this.toLookUp.length === 0) return false;
    let changed = this.readNewFacts(lsn);
    changed = this.resolvePending() || changed;
    changed = this.followGold(lsn) || changed;
    this.cursor = lsn;
    if (changed) this.factsChanged();
    return changed;
  }

  /** Facts changed: the snapshot and τ at past cuts are to be computed again. */
  private factsChanged(): void {
    this.cutCache.clear();
    this.stale = true;
  }

  /** Reads facts past the cursor and recomputes when any arrived. Synchronous: the index cannot move under it. */
  refreshNow(): void {
    const started = performance.now();
    this.readFacts();
    const lsn = this.cursor;
    if (!this.stale) {
      if (lsn !== this.snapshot.lsn) this.snapshot = { ...this.snapshot, lsn };
      return;
    }
    this.stale = false;
    const before = this.snapshot.result;
    this.snapshot = this.stamp(computeTrust(this.facts, { authorities: this.authorities }), lsn);
    this.logger.debug("trust recomputed", {
      lsn,
      agents: this.snapshot.result.agents.size,
      votes: this.facts.votes.length,
      iterations: this.snapshot.result.iterations,
      ms: Math.round(performance.now() - started),
    });
    if (differs(before, this.snapshot.result)) for (const listener of this.listeners) listener(this.snapshot);
  }

  /** Called after a recomputation changed some agent's τ (views that weigh trust drop). */
  onChange(listener: (snapshot: TrustSnapshot) => void): void {
    this.listeners.push(listener);
  }

  private stamp(result: TrustResult, lsn: number): TrustSnapshot {
    return { result, lsn, computedAtMs: this.now(), trustOf: (agent) => trustOf(result, agent, this.authorities) };
  }

  /** Votes and trust reviews in (cursor, lsn]. */
  private readNewFacts(lsn: number): boolean {
    const votes = this.facts.votes.length;
    const reviews = this.facts.reviews.length;
    try {
      return this.readNewFactsFrom(lsn);
    } catch (err) {
      // The cursor stays where it was, so the next refresh reads these records again: keep
      // nothing of this pass, or its facts would be counted twice.
      this.facts.votes.length = votes;
      this.facts.reviews.length = reviews;
      throw err;
    }
  }

  private readNewFactsFrom(lsn: number): boolean {
    let changed = false;
    let afterLsn = this.cursor;
    for (;;) {
      const page = listRecords(this.store.index, { kinds: ["vote", "review"], afterLsn, limit: pageRecords });
      for (const loc of page.items) {
        if (loc.lsn > lsn) return changed;
        const { id, record, recordedAt } = this.readRecord(loc);
        if (record.kind === "vote") {
          const f = voteFact(id, record, recordedAt);
          this.facts.votes.push(f);
          this.need(f.target);
          changed = true;
        } else if (record.kind === "review") {
          const f = reviewFact(id, record, recordedAt);
          if (!f) continue;
          this.facts.reviews.push(f);
          if (f.action !== "trust_seed") this.need(f.target);
          if (f.action === "gold") this.goldTargets.add(f.target);
          changed = true;
        }
      }
      if (page.next === null) return changed;
      afterLsn = page.next;
    }
  }

  private readRecord(loc: Parameters<Store["read"]>[0]) {
    const { record, recordedAt } = this.store.read(loc);
    return { id: Buffer.from(loc.id).toString("hex"), record, recordedAt };
  }

  private need(target: string): void {
    if (this.facts.claims.has(target) || this.unresolved.has(target)) return;
    this.unresolved.add(target);
    this.toLookUp.push(target);
  }

  /** Targets named for the first time, and unresolved ones that arrived since: look them up (a vote may arrive before its target). */
  private resolvePending(): boolean {
    if (this.toLookUp.length === 0) return false;
    const targets = this.toLookUp;
    this.toLookUp = [];
    let changed = false;
    let i = 0;
    try {
      for (; i < targets.length; i++) {
        const target = targets[i] as string;
        if (!this.unresolved.has(target)) continue;
        const loc = this.store.lookupId(Buffer.from(target, "hex"));
        if (!loc) continue;
        const { id, record, recordedAt } = this.readRecord(loc);
        this.unresolved.delete(target);
        if (record.kind !== "assertion") continue; // a vote on a non-assertion never counts
        this.facts.claims.set(id, claimFact(id, record, recordedAt));
        changed = true;
      }
    } catch (err) {
      // A lookup or read failed: what was not settled is tried again at the next refresh, and
      // what was settled already counts from then on.
      this.toLookUp.push(...targets.slice(i));
      if (changed) this.factsChanged();
      throw err;
    }
    return changed;
  }

  /**
   * Assertions on gold (subject, predicate) pairs: all of them for a newly gold pair, those
   * since the cursor for pairs already followed.
   */
  private followGold(lsn: number): boolean {
    let changed = false;
    for (const sp of this.goldSps) changed = this.loadClaims(sp, this.cursor, lsn) || changed;
    for (const target of this.goldTargets) {
      const claim = this.facts.claims.get(target);
      if (!claim || this.goldSps.has(claim.sp)) continue;
      this.goldSps.add(claim.sp);
      changed = this.loadClaims(claim.sp, 0, lsn) || changed;
    }
    return changed;
  }

  private loadClaims(sp: string, afterLsn: number, lsn: number): boolean {
    const [subject, predicate] = sp.split("\0") as [string, string];
    let after = afterLsn;
    let changed = false;
    for (;;) {
      const page = listRecords(this.store.index, {
        subject,
        predicate,
        kinds: ["assertion"],
        afterLsn: after,
        limit: pageRecords,
      });
      for (const loc of page.items) {
        if (loc.lsn > lsn) return changed;
        const { id, record, recordedAt } = this.readRecord(loc);
        if (record.kind === "assertion" && !this.facts.claims.has(id)) {
          this.facts.claims.set(id, claimFact(id, record, recordedAt));
          changed = true;
        }
      }
      if (page.next === null) return changed;
      after = page.next;
    }
  }
}

function differs(a: TrustResult, b: TrustResult): boolean {
  if (a.agents.size !== b.agents.size) return true;
  for (const [agent, t] of b.agents) if (a.agents.get(agent)?.trust !== t.trust) return true;
  return false;
}
