/**
 * The query engine: answers queries through materialized views when it can, resolves them
 * otherwise, and keeps the views of hot queries current in the background.
 *
 * - A query without `as_of` and without `fresh=true` is answered from views when every lens
 *   asked has one; each view carries the log position (`lsn`) and TrustRank position
 *   (`trust_lsn`) it reflects.
 * - `fresh=true` waits for the index, recomputes TrustRank to the current position, resolves
 *   and replaces the views.
 * - `as_of` and `known_at` queries are resolved every time (with TrustRank from the facts
 *   inside that cut, stamped with the position they were read to) and never kept as views: a
 *   view is keyed without the cut, and a known-at answer must not depend on what arrived since.
 */
import { toHex } from "../core/hex.ts";
import type { Logger } from "../core/logger.ts";
import { silentLogger } from "../core/logger.ts";
import { predicatesOf } from "../index/list.ts";
import { indexCacheKiBDefault } from "../index/store.ts";
import type { Store } from "../store/store.ts";
import type { TrustService } from "../trust/service.ts";
import {
  type AnswerDeps,
  type AnswerSummary,
  answerNow,
  checkLens,
  cutOf,
  type QueryAnswer,
  type QueryRequest,
  type TrustContext,
  trustLenses,
} from "./query.ts";
import { GatherCache, recordCacheBytesMaxDefault } from "./gather.ts";
import { type Resolved, ResolverPool } from "./resolver-pool.ts";
import { ViewCache, viewsBytesMaxDefault, viewsMaxDefault } from "./views.ts";

export interface EngineOptions {
  /** Views kept at most; 0 turns views off. */
  viewsMax?: number;
  /** Memory the views may hold, estimated bytes (views.ts `viewBytes`); 0 turns views off. */
  viewsBytesMax?: number;
  /** Memory the decoded-record cache may hold, estimated bytes (gather.ts `DecodedRecords`); 0: none kept. */
  recordCacheBytesMax?: number;
  /** A dropped view read within this window is recomputed in the background. */
  hotWindowMs?: number;
  /** Query workers (resolver-pool.ts); none (0, the default here): every query is resolved on the event loop. */
  workers?: number;
  /** Each query worker's SQLite page cache, KiB. */
  workerIndexCacheKiB?: number;
  logger?: Logger;
}

export interface EngineAnswer {
  answers: Record<string, QueryAnswer>;
  /** Lenses answered from a view. */
  fromViews: number;
  /**
   * From a query worker: each lens's answer as JSON text and what the audit trail keeps of it,
   * so a response can be sent without a parse and a serialization (`answers` parses on first use).
   */
  json?: Record<string, string>;
  summaries?: Record<string, AnswerSummary>;
}

/** A worker's answer as the engine gives it: `answers` parsed from the text only when asked for. */
function fromWorker(r: Resolved): EngineAnswer {
  let parsed: Record<string, QueryAnswer> | null = null;
  return {
    fromViews: 0,
    json: r.json,
    summaries: r.summaries,
    get answers() {
      parsed ??= Object.fromEntries(Object.entries(r.json).map(([lens, text]) => [lens, JSON.parse(text) as QueryAnswer]));
      return parsed;
    },
  };
}

const hotWindowMsDefault = 10_000;
/** A query worker's SQLite page cache, KiB: half the node's. */
export const workerIndexCacheKiBOf = (nodeCacheKiB: number): number => Math.max(1, Math.round(nodeCacheKiB / 2));
/** Views recomputed per turn of the event loop by the background refresher. */
const refreshBatch = 16;
/** CPU the background refresher may use, ms in each second (a tenth of a core). */
const refreshBudgetMsPerSecond = 100;

export class QueryEngine {
  readonly views: ViewCache;
  private readonly gatherCache: GatherCache;
  private readonly refreshQueue = new Map<string, QueryRequest>();
  private refreshScheduled = false;
  private budgetWindow = 0;
  private budgetSpentMs = 0;
  private closed = false;
  private readonly logger: Logger;
  private readonly hotWindowMs: number;
  /** Cold queries resolved on other threads, when there are workers. */
  readonly pool: ResolverPool | null;

  constructor(
    private readonly store: Store,
    readonly trust: TrustService,
    options: EngineOptions = {},
  ) {
    this.logger = options.logger ?? silentLogger;
    this.gatherCache = new GatherCache(store, options.recordCacheBytesMax);
    this.hotWindowMs = options.hotWindowMs ?? hotWindowMsDefault;
    this.views = new ViewCache(
      options.viewsMax ?? viewsMaxDefault,
      (key, view) => {
        if (!this.closed && performance.now() - view.readAtMs < this.hotWindowMs) this.scheduleRefresh(key, view.request);
      },
      options.viewsBytesMax ?? viewsBytesMaxDefault,
    );
    this.pool =
      (options.workers ?? 0) > 0
        ? new ResolverPool(store, trust, {
            workers: options.workers as number,
            cacheKiB: options.workerIndexCacheKiB ?? workerIndexCacheKiBOf(indexCacheKiBDefault),
            recordCacheBytes: Math.floor((options.recordCacheBytesMax ?? recordCacheBytesMaxDefault) / 4),
            logger: this.logger,
          })
        : null;
    if (this.views.viewsMax > 0 && this.views.bytesMax > 0) {
      store.onAcknowledged((entries) => {
        for (const e of entries) this.views.invalidate(toHex(e.id), e.record);
      });
      trust.onChange(() => this.views.invalidateTrust());
    }
  }

  /** The decoded-record cache's size now (the metrics read it). */
  get recordCache(): { records: number; bytes: number } {
    return { records: this.gatherCache.decoded.size, bytes: this.gatherCache.decoded.bytes };
  }

  /** Stops the engine; resolves once its query workers have closed their stores. */
  async close(): Promise<void> {
    this.closed = true;
    this.refreshQueue.clear();
    await this.pool?.close();
  }

  /** One view per (lens, subject, predicate, parameters). */
  static keyOf(q: QueryRequest, lens: string): string {
    return [
      lens,
      q.subject,
      q.predicate,
      q.validAt ?? "",
      q.tolerance ?? "",
      (q.include ?? []).slice().sort().join(","),
      (q.layers ?? []).join(","),
    ].join("\0");
  }

  static cacheable(q: QueryRequest): boolean {
    return q.asOf === undefined && q.knownAt === undefined;
  }

  /** A view answering `q` for its single lens, if one is current (for the serialized fast path). */
  peek(q: QueryRequest): { answer: QueryAnswer; json: () => string } | null {
    if (q.fresh || !QueryEngine.cacheable(q) || q.lenses.length !== 1) return null;
    const key = QueryEngine.keyOf(q, q.lenses[0] as string);
    const now = performance.now();
    const view = this.views.get(key, now);
    if (!view) return null;
    return { answer: view.answer, json: () => this.views.json(key, view, now) };
  }

  /** Views answering every lens of `q`, or null when one is missing (for `POST /v1/query`). */
  peekAll(q: QueryRequest): Array<{ lens: string; answer: QueryAnswer; json: () => string }> | null {
    if (q.fresh || !QueryEngine.cacheable(q)) return null;
    const out: Array<{ lens: string; answer: QueryAnswer; json: () => string }> = [];
    for (const lens of q.lenses) {
      const one = this.peek({ ...q, lenses: [lens] });
      if (!one) return null;
      out.push({ lens, ...one });
    }
    return out;
  }

  async query(q: QueryRequest): Promise<EngineAnswer> {
    for (const lens of q.lenses) checkLens(lens);
    const cacheable = QueryEngine.cacheable(q);
    if (cacheable && !q.fresh) {
      const now = performance.now();
      const answers: Record<string, QueryAnswer> = {};
      let all = true;
      for (const lens of q.lenses) {
        const view = this.views.get(QueryEngine.keyOf(q, lens), now);
        if (!view) {
          all = false;
          break;
        }
        answers[lens] = view.answer;
      }
      if (all) return { answers, fromViews: q.lenses.length };
    }
    await this.store.indexCaughtUp(); // every acknowledged record counts
    if (q.fresh) this.trust.refreshNow();
    else if (cacheable && this.pool) {
      const resolved = await this.resolveOnWorker(q);
      if (resolved) return resolved;
    }
    return { answers: this.resolveNow(q).answers, fromViews: 0 };
  }

  /**
   * `q` resolved by a query worker, kept as views only when nothing it depends on could have
   * moved since the worker's cut: the index is still at that cut, TrustRank at the position
   * sent (when a lens weighs trust: the views of the others do not follow TrustRank either,
   * `ViewCache.invalidateTrust`), and nothing acknowledged behind the index touches it. Null:
   * resolve it here.
   */
  private async resolveOnWorker(q: QueryRequest): Promise<EngineAnswer | null> {
    const trustLsn = this.trust.current.lsn;
    const resolved = await this.pool?.resolve(q, trustLsn);
    if (!resolved) return null;
    const lsn = this.store.index.checkpointLsn;
    const answer = fromWorker(resolved);
    const first = resolved.summaries[q.lenses[0] as string];
    const trustHeld = this.trust.current.lsn === trustLsn || !q.lenses.some((l) => trustLenses.has(l));
    if (first?.lsn === lsn && trustHeld && !this.changedBehindIndex(resolved.deps, lsn))
      this.keepViews(q, (lens) => answer.answers[lens] as QueryAnswer, resolved.deps, resolved.json);
    return answer;
  }

  /** Every predicate of a subject resolved through one lens (`GET /v1/subjects/:path`). */
  async subject(
    subject: string,
    q: Omit<QueryRequest, "subject" | "predicate">,
  ): Promise<{ subject: string; lens: string; predicates: Record<string, QueryAnswer> }> {
    const lens = q.lenses[0] as string;
    checkLens(lens);
    await this.store.indexCaughtUp();
    const predicates: Record<string, QueryAnswer> = {};
    for (const predicate of predicatesOf(this.store.index, subject)) {
      const { answers } = await this.query({ ...q, subject, predicate, lenses: [lens] });
      predicates[predicate] = answers[lens] as QueryAnswer;
    }
    return { subject, lens, predicates };
  }

  /**
   * One lens's answer and what it was derived from — from its view when one is current, else
   * resolved now — so a caller can tell which records would change it (the change feed's
   * watched pairs, docs/API.md#change-feed). It reflects every record acknowledged before the call.
   */
  async answerWithDeps(q: QueryRequest): Promise<{ answer: QueryAnswer; deps: AnswerDeps }> {
    const lens = q.lenses[0] as string;
    checkLens(lens);
    const one = { ...q, lenses: [lens] };
    if (QueryEngine.cacheable(one) && !one.fresh) {
      const view = this.views.get(QueryEngine.keyOf(one, lens), performance.now());
      if (view) return { answer: view.answer, deps: view.deps };
    }
    await this.store.indexCaughtUp();
    const { answers, deps } = this.resolveNow(one);
    return { answer: answers[lens] as QueryAnswer, deps };
  }

  /** Synchronous: resolves against the index as it stands and keeps the views. */
  private resolveNow(q: QueryRequest): { answers: Record<string, QueryAnswer>; deps: AnswerDeps } {
    const trust: TrustContext = QueryEngine.cacheable(q)
      ? { trustOf: this.trust.current.trustOf, lsn: this.trust.current.lsn }
      : this.trust.at(cutOf(q));
    const { answers, deps } = answerNow(this.store, q, trust, this.gatherCache);
    if (QueryEngine.cacheable(q) && !this.changedBehindIndex(deps, this.store.index.checkpointLsn))
      this.keepViews(q, (lens) => answers[lens] as QueryAnswer, deps);
    return { answers, deps };
  }

  /** `answerOf` and `deps` are asked only for the views the cache admits; `json`, when given, is each answer's text. */
  private keepViews(
    q: QueryRequest,
    answerOf: (lens: string) => QueryAnswer,
    deps: AnswerDeps | (() => AnswerDeps),
    json?: Record<string, string>,
  ): void {
    const now = performance.now();
    for (const lens of q.lenses) {
      const request = { ...q, lenses: [lens], fresh: false };
      delete request.escalate;
      this.views.put(QueryEngine.keyOf(q, lens), request, () => answerOf(lens), deps, trustLenses.has(lens), now, json?.[lens]);
    }
  }

  /** Records acknowledged past `lsn` (not in the index yet) that would change this answer (`deps` asked only when there are some). */
  private changedBehindIndex(deps: AnswerDeps | (() => AnswerDeps), lsn: number): boolean {
    for (const e of this.store.pendingAfter(lsn))
      if (ViewCache.affects(typeof deps === "function" ? deps() : deps, toHex(e.id), e.record)) return true;
    return false;
  }

  private scheduleRefresh(key: string, request: QueryRequest): void {
    this.refreshQueue.set(key, request);
    if (this.refreshScheduled) return;
    this.refreshScheduled = true;
    setTimeout(() => void this.refresh(), 0);
  }

  /** Recomputes dropped hot views, a batch per turn of the event loop. */
  private async refresh(): Promise<void> {
    try {
      while (this.refreshQueue.size > 0 && !this.closed) {
        await this.store.indexCaughtUp();
        if (this.closed) return;
        const windowStart = Math.floor(performance.now() / 1000) * 1000;
        if (windowStart !== this.budgetWindow) {
          this.budgetWindow = windowStart;
          this.budgetSpentMs = 0;
        }
        if (this.budgetSpentMs >= refreshBudgetMsPerSecond) {
          // Over budget: what is left is recomputed on its next read instead. Under a stream of
          // writes to hot pairs, refreshing every dropped view would take the CPU the writes need.
          this.refreshQueue.clear();
          break;
        }
        const started = performance.now();
        let n = 0;
        for (const [key, request] of this.refreshQueue) {
          this.refreshQueue.delete(key);
          if (!this.views.has(key)) this.resolveNow(request);
          if (++n >= refreshBatch) break;
        }
        this.budgetSpentMs += performance.now() - started;
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
    } catch (err) {
      this.logger.warn("view refresh failed; views are recomputed on their next read", { err: err as Error });
      this.refreshQueue.clear();
    } finally {
      this.refreshScheduled = false;
    }
  }
}
