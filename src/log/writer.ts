/**
 * Pipelined group commit: many concurrent appends share one write, and writes never wait for
 * a sync.
 *
 * Two parts, each with one job:
 * - `GroupCommitQueue` takes everything queued (up to `batchBytesMax`) as one batch and hands
 *   it to `commit`, one batch at a time, so batches are written in order. `commit` writes the
 *   batch and returns at once with a promise that settles once the batch is durable; the queue
 *   settles the batch's callers then. The next batch is written while earlier ones sync.
 * - `SyncPipeline` keeps up to `slots` fdatasyncs in flight. Whenever something written is not
 *   covered by a sync already started and a slot is free, it starts one, which covers every
 *   batch written before it began. When a sync returns, every batch it covers is durable and is
 *   released, in order (a later sync may return first: it covers the earlier batches too).
 *
 * Why more than one sync in flight: on the virtual disks this runs on, a lone fdatasync often
 * waits ≈ 4 ms for the host, while two overlapping ones each return in ≈ 0.2 ms
 * (docs/BENCHMARKS.md#single-record-ingest-issue-14). One sync at a time also makes a request that
 * arrives just after a sync started wait for that sync and then its own. With `slots` = 1 this
 * is the classic group commit: the next batch accumulates while the previous one syncs.
 *
 * Never an acknowledgement before the sync that covers it: a batch is released only by a sync
 * that *started* after the batch's write returned. A failed sync releases nothing again: it
 * rejects every batch not yet released, and every later one (the log then refuses writes;
 * see `Log`).
 */

interface Request<T, R> {
  items: T[];
  bytes: number;
  resolve: (results: R[]) => void;
  reject: (err: unknown) => void;
}

/**
 * Write `items` (all of them, in order, before any later batch is written) and return with
 * `durable`: one result per item once they are on stable storage. Throwing (or rejecting
 * before it returns) fails the batch without writing it.
 */
export type Commit<T, R> = (items: T[], bytes: number) => Promise<{ durable: Promise<R[]> }>;

export class GroupCommitQueue<T, R> {
  private readonly queue: Request<T, R>[] = [];
  private running = false;
  /** Batches written and not yet durable (or failed). */
  private unsettled = 0;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly commit: Commit<T, R>,
    /** A batch stops growing past this many bytes (one request is never split). */
    private readonly batchBytesMax: number,
    /**
     * Before each batch is taken, with the bytes it would hold: null to take it now, or a
     * promise to wait for, then ask again (the log's: until a sync may start, so a batch that
     * could not be synced yet keeps growing).
     */
    private readonly ready: (bytes: number) => Promise<void> | null = () => null,
  ) {}

  /** Queues `items` (`bytes` is their encoded size) and resolves once they are durable. */
  submit(items: T[], bytes: number): Promise<R[]> {
    return new Promise((resolve, reject) => {
      this.queue.push({ items, bytes, resolve, reject });
      if (!this.running) {
        this.running = true;
        // Start on a microtask so appends issued in the same tick land in the first batch.
        queueMicrotask(() => void this.run());
      }
    });
  }

  /** Resolves when nothing is queued, being written or waiting for its sync. */
  idle(): Promise<void> {
    if (!this.running && this.unsettled === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private async run(): Promise<void> {
    while (this.queue.length > 0) {
      for (let wait = this.ready(this.nextBatchBytes()); wait; wait = this.ready(this.nextBatchBytes())) await wait;
      const batch = this.takeBatch();
      const items = batch.flatMap((r) => r.items);
      const bytes = batch.reduce((sum, r) => sum + r.bytes, 0);
      let durable: Promise<R[]>;
      try {
        ({ durable } = await this.commit(items, bytes));
      } catch (err) {
        for (const r of batch) r.reject(err);
        continue;
      }
      this.unsettled++;
      durable.then(
        (results) => {
          let at = 0;
          for (const r of batch) {
            r.resolve(results.slice(at, at + r.items.length));
            at += r.items.length;
          }
          this.settled();
        },
        (err) => {
          for (const r of batch) r.reject(err);
          this.settled();
        },
      );
    }
    this.running = false;
    this.wakeIfIdle();
  }

  private settled(): void {
    this.unsettled--;
    this.wakeIfIdle();
  }

  private wakeIfIdle(): void {
    if (this.running || this.unsettled > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  /** The bytes `takeBatch` would take now. */
  private nextBatchBytes(): number {
    let bytes = 0;
    for (const r of this.queue) {
      if (bytes > 0 && bytes + r.bytes > this.batchBytesMax) break;
      bytes += r.bytes;
    }
    return bytes;
  }

  private takeBatch(): Request<T, R>[] {
    let bytes = 0;
    let count = 0;
    for (const r of this.queue) {
      if (count > 0 && bytes + r.bytes > this.batchBytesMax) break;
      bytes += r.bytes;
      count++;
    }
    return this.queue.splice(0, count);
  }
}

/** One sync of the file, in `slot` (0 … slots − 1; no two in flight share a slot). */
export type Sync = (slot: number) => Promise<void>;

export interface SyncHooks {
  /** After each sync that returned, with its time in ms (wall time from start to return). */
  synced?: (ms: number) => void;
  /** When a returned sync made batches up to `seq` durable, before their waiters are released. */
  durable?: (seq: number) => void;
}

interface Waiter {
  seq: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class SyncPipeline {
  /** Batches written so far (a batch is known by its 1-based sequence number). */
  private written = 0;
  /** The highest batch a started sync covers. */
  private covered = 0;
  /** The highest batch known durable. */
  private durable = 0;
  private readonly free: number[];
  private readonly waiters: Waiter[] = [];
  private quietWaiters: Array<{ resolve: () => void; reject: (err: unknown) => void }> = [];
  private slotWaiters: Array<() => void> = [];
  private failure: unknown = null;

  constructor(
    private readonly sync: Sync,
    private readonly slots: number,
    private readonly hooks: SyncHooks = {},
  ) {
    if (!(Number.isInteger(slots) && slots >= 1)) throw new RangeError(`sync slots must be an integer ≥ 1, got ${slots}`);
    this.free = Array.from({ length: slots }, (_, i) => slots - 1 - i);
  }

  /** Syncs running now. */
  get inFlight(): number {
    return this.slots - this.free.length;
  }

  /**
   * A batch was written (its write returned): its number, and a promise that resolves once a
   * sync started after this call has returned (or rejects with the first sync failure).
   */
  wrote(): { seq: number; durable: Promise<void> } {
    const seq = ++this.written;
    if (this.failure !== null) return { seq, durable: Promise.reject(this.failure) };
    const durable = new Promise<void>((resolve, reject) => this.waiters.push({ seq, resolve, reject }));
    this.start();
    return { seq, durable };
  }

  /**
   * Null when fewer than `limit` syncs run (or none ever will: failed); else resolves when one
   * returns (ask again then).
   */
  whenSlotFree(limit = this.slots): Promise<void> | null {
    if (this.inFlight < Math.min(limit, this.slots) || this.failure !== null) return null;
    return new Promise((resolve) => this.slotWaiters.push(resolve));
  }

  private wakeSlotWaiters(): void {
    if (this.slotWaiters.length === 0 || (this.free.length === 0 && this.failure === null)) return;
    const waiters = this.slotWaiters;
    this.slotWaiters = [];
    for (const w of waiters) w();
  }

  /**
   * Resolves once every batch written so far is durable and no sync is running (the file may
   * then be closed); rejects once a sync failed (when none is running any more).
   */
  drain(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.quietWaiters.push({ resolve, reject });
      this.wakeIfQuiet();
    });
  }

  private wakeIfQuiet(): void {
    if (this.inFlight > 0 || (this.failure === null && this.durable < this.written)) return;
    const waiters = this.quietWaiters;
    this.quietWaiters = [];
    for (const w of waiters) {
      if (this.failure !== null) w.reject(this.failure);
      else w.resolve();
    }
  }

  private start(): void {
    while (this.failure === null && this.covered < this.written && this.free.length > 0) {
      const slot = this.free.pop() as number;
      const covers = this.written;
      this.covered = covers;
      const started = performance.now();
      let syncing: Promise<void>;
      try {
        syncing = this.sync(slot);
      } catch (err) {
        syncing = Promise.reject(err);
      }
      syncing.then(
        () => this.returned(slot, covers, performance.now() - started),
        (err) => this.failed(slot, err),
      );
    }
  }

  private returned(slot: number, covers: number, syncMs: number): void {
    this.free.push(slot);
    if (this.failure !== null) {
      this.wakeSlotWaiters();
      this.wakeIfQuiet();
      return;
    }
    this.hooks.synced?.(syncMs);
    if (covers > this.durable) {
      this.durable = covers;
      this.hooks.durable?.(covers);
      // Waiters are in sequence order: release the covered prefix, in order.
      let n = 0;
      while (n < this.waiters.length && (this.waiters[n] as Waiter).seq <= covers) n++;
      for (const w of this.waiters.splice(0, n)) w.resolve();
    }
    this.start();
    this.wakeSlotWaiters();
    this.wakeIfQuiet();
  }

  private failed(slot: number, err: unknown): void {
    this.free.push(slot);
    if (this.failure === null) {
      this.failure = err;
      for (const w of this.waiters.splice(0)) w.reject(err);
    }
    this.wakeSlotWaiters();
    this.wakeIfQuiet();
  }
}
