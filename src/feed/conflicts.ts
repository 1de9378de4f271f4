/**
 * Watched pairs of the change feed (docs/API.md#conflict-events): a follower names (subject,
 * predicate) pairs, a lens and a κ threshold; when a record could change a pair, the pair is
 * resolved again through the query engine, and each watcher is told — event `conflict` — when κ
 * crossed its threshold (either way) or the winner changed.
 *
 * Which records could change a pair is what the pair's last answer was derived from (its
 * `AnswerDeps`), looked up by the invalidation table materialized views use (query/views.ts):
 * an assertion about the pair, a vote, retraction or review of anything it gathered, a record
 * it referenced arriving, a retraction of a source it cites, any epoch. Observing a record is
 * a few map lookups; the resolving happens later, off the write path, once per pair however
 * many records touched it (the debounce), in passes `passDelayMs` apart at most once each.
 *
 * A resolution is asynchronous (it may wait for the index), so records keep arriving while it
 * runs. Its answer reflects every record acknowledged before it started; records that arrived
 * during it are kept in `window` and checked against the new answer's dependencies, so a vote
 * on an assertion the new answer gathered is not missed because the old answer did not know it.
 */
import { toHex } from "../core/hex.ts";
import { type Logger, silentLogger } from "../core/logger.ts";
import type { IndexEntry } from "../index/store.ts";
import type { AnswerDeps, QueryAnswer, QueryRequest } from "../query/query.ts";
import { keysOf, ViewCache } from "../query/views.ts";

/** A watched pair's state as a watcher last saw it. */
export interface PairReading {
  conflict: number;
  winnerId: string | null;
}

/** The `conflict` event's data (docs/API.md#conflict-events). */
export interface ConflictEvent {
  subject: string;
  predicate: string;
  lens: string;
  conflict: number;
  previous_conflict: number | null;
  winner_id: string | null;
  previous_winner_id: string | null;
  value: unknown;
  lsn: number;
}

/** Who hears about a pair (a follower). */
export interface ConflictSink {
  conflict(event: ConflictEvent): void;
}

export interface Watcher {
  readonly sink: ConflictSink;
  readonly pair: Pair;
  readonly threshold: number;
  /** What this watcher was last told or shown; null until its first answer. */
  last: PairReading | null;
}

interface Pair {
  key: string;
  request: QueryRequest;
  lens: string;
  deps: AnswerDeps | null;
  watchers: Set<Watcher>;
  dirty: boolean;
}

export type Resolver = (q: QueryRequest) => Promise<{ answer: QueryAnswer; deps: AnswerDeps }>;

export interface ConflictWatchOptions {
  /** How long after a change a pass resolves the changed pairs, ms (the debounce window). */
  passDelayMs: number;
  /** The feed's position now: every record up to it has been observed. */
  position: () => number;
  logger?: Logger;
  /** Runs `fn` after `ms` (tests pass their own). */
  setTimer?: (fn: () => void, ms: number) => void;
}

export class ConflictWatch {
  private readonly pairs = new Map<string, Pair>();
  private readonly bySp = new Map<string, Set<Pair>>();
  private readonly byId = new Map<string, Set<Pair>>();
  private readonly bySource = new Map<string, Set<Pair>>();
  /** Records observed while a pass resolves (null when no pass runs). */
  private window: IndexEntry[] | null = null;
  private passScheduled = false;
  private passRunning = false;
  private closed = false;
  /** Resolutions done since start (tests and the debounce's witness). */
  resolutions = 0;
  private readonly logger: Logger;
  private readonly setTimer: (fn: () => void, ms: number) => void;

  constructor(
    private readonly resolve: Resolver,
    private readonly options: ConflictWatchOptions,
  ) {
    this.logger = options.logger ?? silentLogger;
    this.setTimer = options.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
  }

  /** No pair is watched: observing records can be skipped. */
  get idle(): boolean {
    return this.pairs.size === 0;
  }

  /** Whether a pass is scheduled or running (tests wait on it). */
  get busy(): boolean {
    return this.passScheduled || this.passRunning;
  }

  watch(
    sink: ConflictSink,
    subject: string,
    predicate: string,
    lens: string,
    layers: string[] | undefined,
    threshold: number,
  ): Watcher {
    const key = [lens, layers?.join(",") ?? "", subject, predicate].join("\0");
    let pair = this.pairs.get(key);
    if (!pair) {
      const request: QueryRequest = { subject, predicate, lenses: [lens], ...(layers ? { layers } : {}) };
      pair = { key, request, lens, deps: null, watchers: new Set(), dirty: false };
      this.pairs.set(key, pair);
    }
    const watcher: Watcher = { sink, pair, threshold, last: null };
    pair.watchers.add(watcher);
    this.markDirty(pair); // its first answer, for this watcher's opening event
    return watcher;
  }

  unwatch(watcher: Watcher): void {
    const pair = watcher.pair;
    pair.watchers.delete(watcher);
    if (pair.watchers.size > 0) return;
    this.pairs.delete(pair.key);
    if (pair.deps) this.unindex(pair, pair.deps);
  }

  /** A record was acknowledged (in LSN order): mark the pairs it could change. */
  observe(entry: IndexEntry): void {
    if (this.pairs.size === 0) return;
    if (this.window) this.window.push(entry);
    const id = toHex(entry.id);
    this.markAll(this.byId.get(id));
    for (const k of keysOf(id, entry.record)) {
      if (k.kind === "all") for (const pair of this.pairs.values()) this.markDirty(pair);
      else if (k.kind === "sp") this.markAll(this.bySp.get(k.value));
      else if (k.kind === "id") this.markAll(this.byId.get(k.value));
      else this.markAll(this.bySource.get(k.value));
    }
  }

  close(): void {
    this.closed = true;
  }

  private markAll(pairs: Set<Pair> | undefined): void {
    if (pairs) for (const pair of pairs) this.markDirty(pair);
  }

  private markDirty(pair: Pair): void {
    pair.dirty = true;
    if (this.passScheduled || this.passRunning || this.closed) return;
    this.passScheduled = true;
    this.setTimer(() => void this.pass(), this.options.passDelayMs);
  }

  /** Resolves every dirty pair once, tells watchers, and runs again if more changed meanwhile. */
  private async pass(): Promise<void> {
    this.passScheduled = false;
    if (this.closed) return;
    this.passRunning = true;
    this.window = [];
    const startLsn = this.options.position();
    const dirty = [...this.pairs.values()].filter((p) => p.dirty);
    for (const pair of dirty) pair.dirty = false;
    try {
      const answers = await Promise.all(dirty.map((pair) => this.resolveOne(pair)));
      const arrived = this.window.filter((e) => e.lsn > startLsn);
      dirty.forEach((pair, i) => {
        const got = answers[i];
        if (!got || this.pairs.get(pair.key) !== pair) return;
        this.reindex(pair, got.deps);
        if (arrived.some((e) => ViewCache.affects(got.deps, toHex(e.id), e.record))) pair.dirty = true;
        this.tell(pair, got.answer);
      });
    } finally {
      this.window = null;
      this.passRunning = false;
    }
    const again = [...this.pairs.values()].find((p) => p.dirty);
    if (again) this.markDirty(again);
  }

  private async resolveOne(pair: Pair): Promise<{ answer: QueryAnswer; deps: AnswerDeps } | null> {
    try {
      this.resolutions++;
      return await this.resolve(pair.request);
    } catch (err) {
      // Not the follower's fault and not fatal: the pair is tried again when a record touches it.
      this.logger.warn("change feed: resolving a watched pair failed", {
        subject: pair.request.subject,
        predicate: pair.request.predicate,
        lens: pair.lens,
        err: err as Error,
      });
      return null;
    }
  }

  /** Each watcher hears of a threshold crossing or a new winner; a new watcher hears where things stand. */
  private tell(pair: Pair, answer: QueryAnswer): void {
    const now: PairReading = { conflict: answer.conflict, winnerId: (answer.winner?.id as string | undefined) ?? null };
    for (const w of pair.watchers) {
      const before = w.last;
      w.last = now;
      if (before !== null) {
        const crossed = before.conflict >= w.threshold !== now.conflict >= w.threshold;
        if (!crossed && before.winnerId === now.winnerId) continue;
      }
      w.sink.conflict({
        subject: pair.request.subject,
        predicate: pair.request.predicate,
        lens: pair.lens,
        conflict: now.conflict,
        previous_conflict: before?.conflict ?? null,
        winner_id: now.winnerId,
        previous_winner_id: before?.winnerId ?? null,
        value: answer.value,
        lsn: answer.lsn,
      });
    }
  }

  private reindex(pair: Pair, deps: AnswerDeps): void {
    if (pair.deps) this.unindex(pair, pair.deps);
    pair.deps = deps;
    add(this.bySp, deps.sp, pair);
    for (const id of deps.ids) add(this.byId, id, pair);
    for (const s of deps.sources) add(this.bySource, s, pair);
  }

  private unindex(pair: Pair, deps: AnswerDeps): void {
    del(this.bySp, deps.sp, pair);
    for (const id of deps.ids) del(this.byId, id, pair);
    for (const s of deps.sources) del(this.bySource, s, pair);
  }
}

function add(map: Map<string, Set<Pair>>, k: string, pair: Pair): void {
  const set = map.get(k);
  if (set) set.add(pair);
  else map.set(k, new Set([pair]));
}

function del(map: Map<string, Set<Pair>>, k: string, pair: Pair): void {
  const set = map.get(k);
  if (!set) return;
  set.delete(pair);
  if (set.size === 0) map.delete(k);
}
