/**
 * Query workers (resolver-worker.ts): cold queries resolved on other threads, so the event
 * loop keeps to HTTP, views and the write path, and a node answers on every core
 * (docs/STORAGE.md#query-workers).
 *
 * What the node keeps to itself: queries with `as_of` or `known_at` (TrustRank at a cut is
 * computed here), `fresh` ones, and anything a worker hands back — an id lookup (the id table
 * lives here) or a log read that failed (the node tells a damaged index from a damaged log).
 * Damage a worker finds in a row is reported here, so every later read is refused.
 *
 * A worker learns what it needs in order on its port: the TrustRank table whenever it changes,
 * and the acknowledged records its gather cache keeps state about, before any query sent later.
 */
import { StemeError, type ProblemCode } from "../core/errors.ts";
import type { Logger } from "../core/logger.ts";
import { workerUrl } from "../core/worker-url.ts";
import type { Store } from "../store/store.ts";
import type { TrustService, TrustSnapshot } from "../trust/service.ts";
import { GatherCache } from "./gather.ts";
import type { AnswerDeps, AnswerSummary, QueryRequest } from "./query.ts";
import type { FromWorker, QueryItem, Settled, ToWorker } from "./resolver-wire.ts";

export interface ResolverPoolOptions {
  workers: number;
  /** Each worker's SQLite page cache, KiB. */
  cacheKiB: number;
  /** Each worker's decoded-record cache, bytes. */
  recordCacheBytes: number;
  logger: Logger;
}

export interface Resolved {
  /** Each lens's answer as JSON text. */
  json: Record<string, string>;
  summaries: Record<string, AnswerSummary>;
  /** What the answer was derived from, parsed at the first call: most cold answers never need it (views.ts). */
  deps: () => AnswerDeps;
}

interface Slot {
  worker: Worker;
  open: boolean;
  inFlight: number;
  /** Replacements so far: each waits twice as long as the one before (1 s, 2 s, … at most a minute). */
  restarts: number;
  /** A replacement is on its way (the dying worker's later events are ignored). */
  replacing: boolean;
  /** Queries of this turn not yet sent (`flush`). */
  outbox: QueryItem[];
}

const restartDelayMsMax = 60_000;

interface Pending {
  slot: Slot;
  resolve: (r: Resolved | null) => void;
  reject: (e: Error) => void;
}

export class ResolverPool {
  private readonly slots: Slot[] = [];
  private readonly pending = new Map<number, Pending>();
  private seq = 0;
  private closed = false;
  /** A flush is scheduled for the end of this turn. */
  private flushing = false;
  /** Queries answered by a worker, and handed back to the node. */
  answered = 0;
  handedBack = 0;
  /** Messages of queries sent (`flush`): fewer than the queries when several arrive in one turn. */
  sent = 0;

  private readonly open: ToWorker;

  constructor(
    private readonly store: Store,
    private readonly trust: TrustService,
    private readonly options: ResolverPoolOptions,
  ) {
    this.open = {
      type: "open",
      store: {
        indexPath: store.dataDir.indexPath,
        logDir: store.dataDir.logDir,
        authorities: store.dataDir.authorities,
        cacheKiB: options.cacheKiB,
      },
      recordCacheBytes: options.recordCacheBytes,
    };
    for (let i = 0; i < options.workers; i++) {
      const slot: Slot = { worker: this.spawn(), open: false, inFlight: 0, restarts: 0, replacing: false, outbox: [] };
      this.attach(slot);
      this.slots.push(slot);
    }
    trust.onChange((snapshot) => this.broadcast(trustTable(snapshot)));
    store.onAcknowledged((entries) => {
      const concerning = entries.filter((e) => GatherCache.concerns(e.record)).map((e) => ({ lsn: e.lsn, record: e.record }));
      if (concerning.length > 0) this.broadcast({ type: "acknowledged", entries: concerning });
    });
  }

  private spawn(): Worker {
    const worker = new Worker(workerUrl(import.meta.url, "query/resolver-worker.ts"));
    worker.postMessage(this.open);
    worker.postMessage(trustTable(this.trust.current)); // before any query; later changes follow in order
    return worker;
  }

  private attach(slot: Slot): void {
    const worker = slot.worker;
    worker.onmessage = (event: MessageEvent<FromWorker>) => this.received(slot, event.data);
    worker.onerror = (event) => this.failed(slot, worker, event.message);
    worker.addEventListener("close", () => this.failed(slot, worker, "the worker exited"));
  }

  /** Workers open and answering. */
  get ready(): number {
    return this.slots.filter((s) => s.open).length;
  }

  /**
   * `q` resolved by the least busy worker, at the index's cut when the worker reads it (at
   * least every record acknowledged before the call, when the caller waited for the index);
   * null when the node must answer it itself.
   */
  resolve(q: QueryRequest, trustLsn: number): Promise<Resolved | null> {
    let slot: Slot | undefined;
    for (const s of this.slots) if (s.open && (slot === undefined || s.inFlight < slot.inFlight)) slot = s;
    if (this.closed || slot === undefined) return Promise.resolve(null);
    const seq = ++this.seq;
    const chosen = slot;
    chosen.inFlight++;
    return new Promise((resolve, reject) => {
      this.pending.set(seq, { slot: chosen, resolve, reject });
      chosen.outbox.push({ seq, q, trustLsn });
      if (!this.flushing) {
        this.flushing = true;
        setImmediate(this.flush);
      }
    });
  }

  /**
   * Sends each worker the queries of this turn in one message (one read transaction there, one
   * message back): under load, dozens arrive in one turn. Before anything else is sent too
   * (`broadcast`), so a query never meets a trust table or a record newer than its own.
   */
  private readonly flush = (): void => {
    this.flushing = false;
    for (const s of this.slots) {
      if (s.outbox.length === 0) continue;
      const message: ToWorker = { type: "queries", items: s.outbox };
      s.outbox = [];
      s.worker.postMessage(message);
      this.sent++;
    }
  };

  /**
   * Stops the workers. Each is asked to close its store first and given `closeWaitMs` to say
   * so: terminated with its index connection open, a worker left the index's WAL and
   * shared-memory files behind the node's clean stop. Queries still out are the node's.
   */
  async close(closeWaitMs = 1000): Promise<void> {
    this.closed = true;
    for (const s of this.slots) s.outbox = [];
    for (const [seq, p] of this.pending) {
      this.pending.delete(seq);
      p.resolve(null);
    }
    const closing = this.slots.map((s) => {
      const worker = s.worker;
      return new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, closeWaitMs);
        worker.onmessage = (event: MessageEvent<FromWorker>) => {
          if (event.data.type !== "closed") return;
          clearTimeout(timer);
          resolve();
        };
        worker.postMessage({ type: "close" } satisfies ToWorker);
      }).then(() => worker.terminate());
    });
    await Promise.all(closing);
  }

  private broadcast(m: ToWorker): void {
    this.flush(); // queries asked before it go before it
    for (const s of this.slots) s.worker.postMessage(m);
  }

  private received(slot: Slot, m: FromWorker): void {
    if (m.type === "opened") {
      slot.open = m.ok;
      if (!m.ok)
        this.options.logger.warn("a query worker could not open the store; the node answers its share", { error: m.error });
      return;
    }
    if (m.type === "closed") return; // close() listens for it itself
    for (const item of m.items) this.settle(slot, item);
  }

  private settle(slot: Slot, m: Settled): void {
    const p = this.pending.get(m.seq);
    if (!p) return;
    this.pending.delete(m.seq);
    slot.inFlight--;
    switch (m.type) {
      case "answer":
        this.answered++;
        p.resolve({ json: m.answers, summaries: m.summaries, deps: lazyJson<AnswerDeps>(m.deps) });
        return;
      case "node":
        this.handedBack++;
        p.resolve(null);
        return;
      case "damage":
        p.reject(this.store.index.reportDamage(m.found));
        return;
      case "error":
        p.reject(
          new StemeError(m.code as ProblemCode, m.message, {
            ...(m.hint ? { hint: m.hint } : {}),
            ...(m.extra ? { extra: m.extra } : {}),
          }),
        );
        return;
      case "bug": {
        const err = new Error(`query worker: ${m.message}`);
        if (m.stack) err.stack = m.stack;
        p.reject(err);
        return;
      }
    }
  }

  /**
   * A worker died: what it held is answered by the node, and a new one takes its place after a
   * delay that doubles with each replacement (a worker that keeps dying costs little).
   */
  private failed(slot: Slot, worker: Worker, message: string): void {
    if (this.closed || slot.worker !== worker || slot.replacing) return; // closing, or the dying worker's later events
    slot.open = false;
    slot.replacing = true;
    const delayMs = Math.min(restartDelayMsMax, 1000 * 2 ** slot.restarts);
    this.options.logger.error("a query worker failed; the node answers its share until a new one starts", {
      error: message,
      restart_in_ms: delayMs,
    });
    const replacement = setTimeout(() => {
      if (this.closed) return;
      slot.restarts++;
      slot.worker = this.spawn();
      slot.replacing = false;
      this.attach(slot);
    }, delayMs);
    replacement.unref?.();
    worker.terminate();
    slot.outbox = []; // their promises are settled below
    for (const [seq, p] of this.pending) {
      if (p.slot !== slot) continue;
      this.pending.delete(seq);
      p.resolve(null);
    }
    slot.inFlight = 0;
  }
}

/** `text` parsed at the first call, and the same value at every later one. */
function lazyJson<T>(text: string): () => T {
  let value: T | undefined;
  return () => {
    value ??= JSON.parse(text) as T;
    return value;
  };
}

function trustTable(snapshot: TrustSnapshot): ToWorker {
  return { type: "trust", agents: [...snapshot.result.agents].map(([agent, a]) => [agent, a.trust]) };
}
