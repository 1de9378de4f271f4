/**
 * The index's WAL checkpoints, off the thread that applies batches (docs/STORAGE.md#the-index-wal-and-its-checkpoints).
 *
 * SQLite checkpoints on the committing connection by default: every ~4 MiB of WAL the commit
 * that crosses it copies pages into the database file and fdatasyncs it, and that thread is the
 * event loop. On a filled store each batch of random inserts dirties ~1,000 pages, so nearly
 * every batch paid for a checkpoint (measured: `bun bench/index-apply.ts`, docs/BENCHMARKS.md).
 *
 * Here a worker thread with its own connection (checkpointer-worker.ts) runs a PASSIVE
 * checkpoint right after a committed batch, at most every `intervalMs` (`--index-checkpoint-ms`),
 * in the writer's gap; the writer's next transaction then restarts the WAL from its beginning
 * (and when a batch began while it copied, it copies that batch at once, until one does), so
 * the file stays a few batches long. Durability
 * is unchanged: the index still commits with `synchronous = NORMAL`, and a checkpoint syncs
 * the WAL before it copies and the database file after, whichever connection runs it.
 *
 * The bound that holds whatever the worker does: the writer keeps SQLite's own autocheckpoint,
 * at `walBytesMax` instead of 4 MiB, so a stalled, failed or lagging checkpointer costs stalls
 * on the event loop again, never an unbounded WAL. A failure is logged (once, until a
 * checkpoint succeeds again); damage it meets is reported like any other.
 *
 * A clean stop closes the worker's connection first (`stop`, synchronous: it waits on a shared
 * flag), so the writer's close is the last one and SQLite's final checkpoint removes the WAL,
 * as the id table file's checks expect (id-table-file.ts).
 */
import type { Logger } from "../core/logger.ts";
import { workerUrl } from "../core/worker-url.ts";
import type { Metrics } from "../metrics/index.ts";

export const checkpointerState = { starting: 0, running: 1, stopped: 2 } as const;

export type CheckpointerRequest =
  | { kind: "start"; path: string; state: SharedArrayBuffer; intervalMs: number }
  | { kind: "checkpoint" }
  | { kind: "stop" };

export type CheckpointerReply =
  | { kind: "done"; seconds: number; frames: number; backfilled: number }
  | { kind: "failed"; message: string; damage: boolean };

export interface CheckpointerOptions {
  logger: Logger;
  metrics?: Metrics | undefined;
  /** The checkpointer met damage in the index (reported by the store like any other). */
  onDamage: (found: string) => void;
  /** How long `stop` waits for a checkpoint in progress before it gives up on a clean close. */
  stopWaitMs?: number;
  /**
   * At most one checkpoint this often, ms (0: after every batch). Batches in between share
   * one, so a page several of them rewrote is copied, and the file synced, once.
   */
  intervalMs: number;
}

export class IndexCheckpointer {
  private readonly worker: Worker;
  private readonly state = new Int32Array(new SharedArrayBuffer(4));
  private failing: string | null = null;
  private stopped = false;
  /** Checkpoints run, and the frames the last one found in the WAL (tests and the bench read them). */
  checkpoints = 0;
  lastFrames = 0;

  constructor(
    readonly path: string,
    private readonly options: CheckpointerOptions,
  ) {
    this.worker = new Worker(workerUrl(import.meta.url, "index/checkpointer-worker.ts"));
    this.worker.onmessage = (e: MessageEvent<CheckpointerReply>) => this.handle(e.data);
    this.worker.onerror = (e) => {
      this.fail(`the checkpointer thread failed: ${e.message}`);
      Atomics.store(this.state, 0, checkpointerState.stopped);
    };
    // Ended some other way (terminated, crashed): nothing to wait for at stop.
    this.worker.addEventListener("close", () => {
      if (!this.stopped) this.fail("the checkpointer thread ended");
      Atomics.store(this.state, 0, checkpointerState.stopped);
    });
    this.worker.unref();
    this.worker.postMessage({
      kind: "start",
      path,
      state: this.state.buffer as SharedArrayBuffer,
      intervalMs: options.intervalMs,
    } satisfies CheckpointerRequest);
  }

  /** The last failure while it lasts, or null. */
  get failure(): string | null {
    return this.failing;
  }

  /** A batch committed: checkpoint what the WAL holds (the worker runs them one at a time). */
  notify(): void {
    if (this.stopped) return;
    this.worker.postMessage({ kind: "checkpoint" } satisfies CheckpointerRequest);
  }

  private handle(r: CheckpointerReply): void {
    if (r.kind === "failed") {
      this.options.metrics?.indexCheckpointFailuresTotal.inc();
      if (r.damage) this.options.onDamage(`the background checkpoint: ${r.message}`);
      this.fail(r.message);
      return;
    }
    this.checkpoints++;
    this.lastFrames = r.frames;
    this.options.metrics?.indexOpSeconds.observe({ op: "checkpoint" }, r.seconds);
    if (this.failing !== null) this.options.logger.info("index: background checkpoints recovered", { wal_frames: r.frames });
    this.failing = null;
  }

  private fail(message: string): void {
    if (this.failing === null)
      this.options.logger.error("index: background checkpoint failed; the applying thread checkpoints past the WAL bound", {
        reason: message,
        path: this.path,
      });
    this.failing = message;
  }

  /**
   * Close the worker's connection and end the thread. Synchronous, so the index's close can
   * follow at once: it waits on the shared flag (a checkpoint in progress finishes first).
   */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.worker.postMessage({ kind: "stop" } satisfies CheckpointerRequest);
    const deadline = performance.now() + (this.options.stopWaitMs ?? 30_000);
    for (;;) {
      const s = Atomics.load(this.state, 0);
      if (s === checkpointerState.stopped) break;
      const left = deadline - performance.now();
      if (left <= 0) {
        this.options.logger.warn("index: the checkpointer did not stop in time; its connection may keep the WAL", {
          path: this.path,
        });
        break;
      }
      Atomics.wait(this.state, 0, s, Math.min(left, 100));
    }
    this.worker.terminate();
  }
}
