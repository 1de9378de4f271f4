/**
 * Applying acknowledged records to the index, behind the log.
 *
 * The index is derived, so it may trail the log by a few milliseconds: the store answers reads
 * by id from its overlay of not-yet-indexed records, and list queries wait for `drain()`.
 * Records are applied in batches on a short timer, each batch one transaction that also
 * advances the checkpoint LSN; `onApplied(lsn)` reports progress in LSN order.
 *
 * Applying on a thread of its own (a second SQLite connection) was tried and measured: on two
 * cores the message and copy costs ate the gain (docs/BENCHMARKS.md).
 */
import { invariant, StemeError } from "../core/errors.ts";
import type { Logger } from "../core/logger.ts";
import { isIndexDamaged } from "./damage.ts";
import type { IndexEntry, IndexStore } from "./store.ts";

/** What the store needs of an index writer (one implementation today; tests use it directly). */
export interface IndexWriter {
  /** Queue entries (continuing the previous ones, in LSN order). */
  enqueue(entries: readonly IndexEntry[]): void;
  /** Resolves once everything queued so far is committed. */
  drain(): Promise<void>;
  /** The last failure while it lasts (the writer keeps retrying), or null. */
  readonly failure: Error | null;
  /** Records queued and not yet committed. */
  readonly backlog: number;
  close(): Promise<void>;
}

export interface IndexWriterOptions {
  /** Called with the last committed LSN after each batch. */
  onApplied: (lsn: number) => void;
  logger: Logger;
  /** Apply at least this often… */
  flushDelayMs: number;
  /** …or as soon as this many are queued. */
  flushRecordsMax: number;
}

/** How long a failing batch waits before it is tried again. */
export const retryDelayMs = 1000;

function unavailable(cause: Error): StemeError {
  if (isIndexDamaged(cause)) return cause; // rebuilt at the next start, not retried into health
  return new StemeError("index_failed", `the index is failing (${cause.message}); acknowledged records are safe in the log`, {
    hint: "check the disk holding index.sqlite; the node retries every second",
    extra: { retry_after_s: 1 },
  });
}

export class InlineIndexWriter implements IndexWriter {
  private queue: IndexEntry[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  private lastFailure: Error | null = null;
  private waiters: Array<{ lsn: number; resolve: () => void; reject: (err: unknown) => void }> = [];
  private applied: number;
  private closed = false;

  constructor(
    private readonly index: IndexStore,
    private readonly options: IndexWriterOptions,
  ) {
    this.applied = index.checkpointLsn;
  }

  get failure(): Error | null {
    return this.lastFailure;
  }

  /** Records waiting for the index (the store refuses new writes past a bound). */
  get backlog(): number {
    return this.queue.length;
  }

  enqueue(entries: readonly IndexEntry[]): void {
    invariant(!this.closed, "enqueue after close");
    for (const e of entries) this.queue.push(e);
    // While failing, only the retry timer tries again: re-running a growing backlog on every
    // acknowledgement would stall the event loop for nothing.
    if (this.lastFailure !== null) return;
    if (this.queue.length >= this.options.flushRecordsMax) this.apply();
    else this.timer ??= setTimeout(() => this.apply(), this.options.flushDelayMs);
  }

  drain(): Promise<void> {
    if (this.queue.length === 0) return Promise.resolve();
    const lsn = (this.queue[this.queue.length - 1] as IndexEntry).lsn;
    if (this.lastFailure === null) this.apply();
    if (this.applied >= lsn) return Promise.resolve();
    if (this.lastFailure !== null) return Promise.reject(unavailable(this.lastFailure));
    return new Promise((resolve, reject) => this.waiters.push({ lsn, resolve, reject }));
  }

  private apply(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.queue.length === 0 || this.closed) return;
    const batch = this.queue;
    try {
      this.index.applyBatch(batch);
    } catch (err) {
      if ((err as Error).message?.startsWith("invariant")) throw err;
      if (this.lastFailure === null)
        this.options.logger.error("index: applying a batch failed; will retry", { err: err as Error, records: batch.length });
      this.lastFailure = err as Error;
      this.timer = setTimeout(() => this.apply(), retryDelayMs);
      // Readers waiting for the index get an answer now, not when the disk recovers.
      for (const w of this.waiters) w.reject(unavailable(this.lastFailure));
      this.waiters = [];
      return;
    }
    if (this.lastFailure !== null) this.options.logger.info("index: recovered", { lsn: this.index.checkpointLsn });
    this.lastFailure = null;
    this.queue = [];
    this.applied = (batch[batch.length - 1] as IndexEntry).lsn;
    this.options.onApplied(this.applied);
    const ready = this.waiters.filter((w) => w.lsn <= this.applied);
    this.waiters = this.waiters.filter((w) => w.lsn > this.applied);
    for (const w of ready) w.resolve();
  }

  /**
   * One last try, then stop: no timer outlives the writer (a failing index must not keep the
   * process from exiting). What is still queued is safe in the log; the next start replays it.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.apply();
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.queue.length > 0) {
      this.options.logger.warn("index: closing with records not yet indexed; the next start re-indexes them from the log", {
        records: this.queue.length,
      });
    }
    const failure = unavailable(this.lastFailure ?? new Error("closed"));
    for (const w of this.waiters) w.reject(failure);
    this.waiters = [];
  }
}
