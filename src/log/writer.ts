/**
 * Group commit: many concurrent appends share one write and one fdatasync.
 *
 * Callers are queued. A single flush loop takes everything queued (up to `batchBytesMax`),
 * hands it to `commit` (which writes and syncs), and settles every caller of that batch
 * together. While one batch's fdatasync is in flight the event loop keeps running, so the next
 * batch accumulates behind it: the busier the node, the larger the batches, and the sync cost
 * per record falls (the classic design of database WALs, e.g. PostgreSQL's commit_delay-free
 * group commit and etcd's batched raft log writes).
 *
 * A failed commit rejects every caller of that batch; whether later batches may proceed is
 * the committer's decision (the log refuses them: see `Log`).
 */

interface Request<T, R> {
  items: T[];
  bytes: number;
  resolve: (results: R[]) => void;
  reject: (err: unknown) => void;
}

/** Write `items` (all of them, in order) durably; return one result per item. */
export type Commit<T, R> = (items: T[], bytes: number) => Promise<R[]>;

export class GroupCommitQueue<T, R> {
  private readonly queue: Request<T, R>[] = [];
  private running = false;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly commit: Commit<T, R>,
    /** A batch stops growing past this many bytes (one request is never split). */
    private readonly batchBytesMax: number,
  ) {}

  /** Queues `items` (`bytes` is their encoded size) and resolves once they are committed. */
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

  /** Resolves when nothing is queued or in flight. */
  idle(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private async run(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.takeBatch();
      const items = batch.flatMap((r) => r.items);
      const bytes = batch.reduce((sum, r) => sum + r.bytes, 0);
      try {
        const results = await this.commit(items, bytes);
        let at = 0;
        for (const r of batch) {
          r.resolve(results.slice(at, at + r.items.length));
          at += r.items.length;
        }
      } catch (err) {
        for (const r of batch) r.reject(err);
      }
    }
    this.running = false;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
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
