/**
 * Signature checks on worker threads. Ed25519 verification is the largest cost of ingest
 * (≈ 54 µs a record on this class of machine); running it on its own threads keeps the event
 * loop free for parsing, the log and the index, and keeps it off the runtime's shared I/O pool
 * — where thousands of queued verifications would delay the log's fdatasync.
 *
 * Requests made in the same turn of the event loop are packed into one message per worker
 * (128 bytes an item), so a thousand single-record requests cost a handful of messages.
 */
import { StemeError } from "../core/errors.ts";
import type { Logger } from "../core/logger.ts";
import { workerUrl } from "../core/worker-url.ts";
import { verifyIdAsync } from "./verify.ts";

interface Pending {
  sig: Uint8Array;
  id: Uint8Array;
  agent: Uint8Array;
  resolve: (ok: boolean) => void;
  reject: (err: unknown) => void;
}

const itemBytes = 128;

export interface VerifyPoolOptions {
  logger?: Logger;
  /**
   * How long a request may wait for others to share its message (0: until the end of this
   * turn of the event loop). Each message costs a cross-thread wake-up on both sides.
   */
  flushDelayMs?: number;
  /** Send at once when this many are queued. */
  flushItemsMax?: number;
  /**
   * Below this many queued, check on the runtime's pool instead of the workers (default 0:
   * always the workers). Measured under 64 concurrent single-record writes
   * (docs/BENCHMARKS.md#single-record-ingest-issue-14): a check on the runtime's pool costs the
   * event loop ≈ 11 µs against ≈ 1 µs in a packed message, and it queues ahead of the log's
   * fdatasync on that pool.
   */
  directItemsMax?: number;
}

export class VerifyPool {
  private readonly workers: Worker[] = [];
  private readonly waiting = new Map<number, Pending[]>();
  private queue: Pending[] = [];
  private scheduled = false;
  private seq = 0;
  private next = 0;

  private readonly flushDelayMs: number;
  private readonly flushItemsMax: number;
  private readonly directItemsMax: number;

  /** @param threads worker threads (0: use the runtime's pool instead) */
  constructor(threads: number, options: VerifyPoolOptions = {}) {
    this.flushDelayMs = options.flushDelayMs ?? 0;
    this.flushItemsMax = options.flushItemsMax ?? 256;
    this.directItemsMax = options.directItemsMax ?? 0;
    for (let i = 0; i < threads; i++) {
      const worker = new Worker(workerUrl(import.meta.url, "crypto/verify-worker.ts"));
      worker.onmessage = (event: MessageEvent<{ seq: number; ok: Uint8Array }>) => this.settle(event.data.seq, event.data.ok);
      worker.onerror = (event) => {
        const message = `signature worker failed: ${event.message}`;
        options.logger?.error("verify: worker thread failed; checking signatures on the runtime's pool from now on", { message });
        this.abandon(new StemeError("internal", message), true);
      };
      worker.unref();
      this.workers.push(worker);
    }
  }

  verify(sig: Uint8Array, id: Uint8Array, agent: Uint8Array): Promise<boolean> {
    if (this.workers.length === 0) return verifyIdAsync(sig, id, agent);
    if (sig.length !== 64 || id.length !== 32 || agent.length !== 32) return Promise.resolve(false);
    return new Promise((resolve, reject) => {
      this.queue.push({ sig, id, agent, resolve, reject });
      if (this.queue.length >= this.flushItemsMax) this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        if (this.flushDelayMs > 0) setTimeout(() => this.flush(), this.flushDelayMs);
        else setImmediate(() => this.flush());
      }
    });
  }

  /** Split what this turn queued across the workers, one packed message each. */
  private flush(): void {
    this.scheduled = false;
    if (this.queue.length === 0) return;
    const queue = this.queue;
    this.queue = [];
    // Only when asked for (directItemsMax): a few checks on the runtime's pool.
    if (queue.length < this.directItemsMax) {
      for (const p of queue) verifyIdAsync(p.sig, p.id, p.agent).then(p.resolve, p.reject);
      return;
    }
    const per = Math.ceil(queue.length / this.workers.length);
    for (let start = 0; start < queue.length; start += per) {
      const part = queue.slice(start, start + per);
      const packed = new Uint8Array(part.length * itemBytes);
      part.forEach((p, i) => {
        packed.set(p.sig, i * itemBytes);
        packed.set(p.id, i * itemBytes + 64);
        packed.set(p.agent, i * itemBytes + 96);
      });
      const seq = this.seq++;
      this.waiting.set(seq, part);
      const worker = this.workers[this.next++ % this.workers.length] as Worker;
      worker.postMessage({ seq, packed }, [packed.buffer]);
    }
  }

  private settle(seq: number, ok: Uint8Array): void {
    const part = this.waiting.get(seq);
    if (!part) return;
    this.waiting.delete(seq);
    part.forEach((p, i) => {
      p.resolve(ok[i] === 1);
    });
  }

  /** Stop the threads; what was in flight fails (never "invalid": that would be a lie). */
  close(): void {
    this.abandon(new StemeError("unavailable", "the server is shutting down"));
  }

  /**
   * Stop the workers. On shutdown what is in flight fails; after a worker crash it is checked
   * again on the runtime's own pool, which also serves every later check.
   */
  private abandon(err: StemeError, retry = false): void {
    for (const w of this.workers) w.terminate();
    this.workers.length = 0;
    const inFlight = [...[...this.waiting.values()].flat(), ...this.queue];
    this.waiting.clear();
    this.queue = [];
    for (const p of inFlight) {
      if (retry) verifyIdAsync(p.sig, p.id, p.agent).then(p.resolve, p.reject);
      else p.reject(err);
    }
  }
}
