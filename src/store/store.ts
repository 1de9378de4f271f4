/**
 * The store: one data directory's log and index, kept in step. Opening it recovers the log
 * (cutting a torn tail), brings the index to the log's end (dropping rows the log no longer
 * has, replaying the tail past the index checkpoint) and only then lets anyone read or write.
 */
import fs from "node:fs";
import { invariant, StemeError } from "../core/errors.ts";
import { type Logger, silentLogger } from "../core/logger.ts";
import { recordId } from "../crypto/hash.ts";
import { decodeStoredBody } from "../crypto/signed.ts";
import { damageMarkerPath } from "../index/damage.ts";
import { type IndexEntry, IndexStore, locationOf, type RecordLocation } from "../index/store.ts";
import { InlineIndexWriter, type IndexWriter } from "../index/writer.ts";
import { Log } from "../log/index.ts";
import type { Metrics } from "../metrics/index.ts";
import { type DataDir, initDataDir, isInitialized, openDataDir } from "./datadir.ts";
import { checkedRead, damageAt, type RecordView, type StoredRead, viewOf } from "./checked-read.ts";
import { lockDataDir } from "./lock.ts";

export interface StoreOptions {
  sync?: "batch" | "none";
  /** fdatasyncs of the log in flight at once (LogOptions.syncsInFlight). */
  syncsInFlight?: number;
  segmentBytesMax?: number;
  logger?: Logger;
  metrics?: Metrics;
  /** Initialise the directory when it holds no node yet (the embedded default does). */
  create?: boolean;
  now?: () => number;
  /** Delete the index (under the directory lock) and rebuild it from the log. */
  rebuildIndex?: boolean;
  /** Progress callback for long index replays. */
  onReplayProgress?: (done: number, total: number) => void;
  /** Shards the index files subjects under (a cluster's shard count; src/index/shard.ts). */
  shardCount?: number;
  /** The index's SQLite page cache, KiB (IndexOptions.cacheKiB). */
  indexCacheKiB?: number;
  /**
   * Checkpoint the index's WAL on a thread of its own once the store is open, the applying
   * thread only past this many bytes of WAL (IndexStore.startCheckpointer; the server's
   * `--index-wal-bytes-max`). Unset or 0: SQLite's own checkpoints on the applying thread.
   */
  indexWalBytesMax?: number;
  /** At most one background checkpoint this often, ms (IndexCheckpointer; the server's `--index-checkpoint-ms`). */
  indexCheckpointMs?: number;
  /** The index applies queued records at least this often, ms (default `indexFlushDelayMs`; the server's `--index-flush-ms`). */
  indexFlushMs?: number;
}

/** Records indexed per transaction while replaying the log. */
export const replayBatchRecords = 5000;

export type { RecordView, StoredRead } from "./checked-read.ts";

/**
 * The index applies queued records at least this often, in one transaction. On a filled store
 * a batch's cost is mostly its random pages (one WAL frame each), about the same per record
 * at any batch size this interval gives, so a shorter interval shortens each stall of the event
 * loop at little cost (docs/BENCHMARKS.md, "Single-record ingest (issue 14)": 50 ms → 20 ms).
 */
export const indexFlushDelayMs = 20;
/** …or as soon as this many are queued. */
export const indexFlushRecordsMax = 5000;

export class Store {
  /** Records durable in the log and acknowledged, not yet in the index, in LSN order. */
  private pending: IndexEntry[] = [];
  /** The pending records by id, so a read or a de-duplication right after an ack finds them. */
  private readonly overlay = new Map<string, RecordLocation>();
  private writer: IndexWriter | null = null;
  private readonly ackListeners: Array<(entries: readonly IndexEntry[]) => void> = [];

  private constructor(
    readonly dataDir: DataDir,
    readonly log: Log,
    readonly index: IndexStore,
    private readonly unlock: () => void,
    private readonly logger: Logger,
  ) {}

  static async open(dir: string, options: StoreOptions = {}): Promise<Store> {
    const logger = options.logger ?? silentLogger;
    if (!isInitialized(dir)) {
      if (!options.create)
        throw new StemeError("not_initialized", `${dir} is not a StemeDB data directory`, {
          hint: `run \`stemedb init --data-dir ${dir}\``,
        });
      initDataDir(dir, options.now);
      logger.info("data directory initialised", { data_dir: dir });
    }
    const dataDir = openDataDir(dir);
    const unlock = lockDataDir(dir);
    let log: Log | undefined;
    let index: IndexStore | undefined;
    try {
      const started = performance.now();
      // The log's sealed segments are checked on a worker thread (recovery.ts) while this one
      // opens the index and checks its pages: at 10M records each takes seconds.
      const opening = Log.open(dataDir.logDir, {
        sync: options.sync ?? "batch",
        logger,
        ...(options.segmentBytesMax ? { segmentBytesMax: options.segmentBytesMax } : {}),
        ...(options.syncsInFlight ? { syncsInFlight: options.syncsInFlight } : {}),
        ...(options.metrics ? { metrics: options.metrics } : {}),
        ...(options.now ? { now: options.now } : {}),
      });
      opening.catch(() => {}); // awaited below; an index failure first must not leave it unhandled
      try {
        if (options.rebuildIndex) removeIndexFiles(dataDir.indexPath);
        index = openIndex(dataDir.indexPath, logger, options.metrics, options.shardCount, options.indexCacheKiB);
      } catch (err) {
        log = await opening.catch(() => undefined);
        throw err;
      }
      const indexOpened = performance.now();
      log = await opening;
      const recovered = performance.now();
      const store = new Store(dataDir, log, index, unlock, logger);
      store.catchUpIndex(options.onReplayProgress);
      if (options.indexWalBytesMax) index.startCheckpointer(options.indexWalBytesMax, options.indexCheckpointMs ?? 0);
      store.startIndexWriter(options.indexFlushMs ?? indexFlushDelayMs);
      logger.info("store: opened", {
        lsn: log.lastLsn,
        ms: Math.round(performance.now() - started),
        index_ms: Math.round(indexOpened - started), // every index page checked, the id table
        log_wait_ms: Math.round(recovered - indexOpened), // recovery (every segment's frames checked) past the index's open
        catch_up_ms: Math.round(performance.now() - recovered),
      });
      return store;
    } catch (err) {
      index?.close();
      await log?.close();
      unlock();
      throw err;
    }
  }

  /** Bring the index to the end of the log. */
  catchUpIndex(onProgress?: (done: number, total: number) => void): number {
    const logEnd = this.log.lastLsn;
    if (this.index.checkpointLsn > logEnd) this.index.truncateAfter(logEnd);
    const from = this.index.checkpointLsn + 1;
    const total = logEnd - from + 1;
    if (total <= 0) return 0;
    const started = performance.now();
    let batch: IndexEntry[] = [];
    let done = 0;
    for (const entry of this.log.scan(from)) {
      batch.push({
        lsn: entry.lsn,
        id: recordId(entry.body),
        record: decodeStoredBody(entry.body),
        segment: entry.segment,
        offset: entry.offset,
        recordedAtMs: entry.recordedAtMs,
      });
      if (batch.length >= replayBatchRecords) {
        this.index.applyBatch(batch);
        done += batch.length;
        batch = [];
        onProgress?.(done, total);
      }
    }
    this.index.applyBatch(batch);
    done += batch.length;
    onProgress?.(done, total);
    this.logger.info("index: replayed log tail", { from_lsn: from, records: done, ms: Math.round(performance.now() - started) });
    return done;
  }

  /** After catch-up: from here on, acknowledged records reach the index through the writer. */
  private startIndexWriter(flushDelayMs: number): void {
    this.writer = new InlineIndexWriter(this.index, {
      logger: this.logger,
      flushDelayMs,
      flushRecordsMax: indexFlushRecordsMax,
      onApplied: (lsn) => this.indexed(lsn),
    });
  }

  /**
   * Queue records that are durable in the log for the index. The index is derived, so it may
   * trail the log: reads by id consult the queue, list queries wait for it (`indexCaughtUp`),
   * and a crash loses nothing (start-up replays the log past the index checkpoint). Batching
   * turns many small transactions, each rewriting the same B-tree pages, into few large ones.
   */
  enqueueIndex(entries: readonly IndexEntry[]): void {
    invariant(this.writer !== null, "the store is open");
    for (const e of entries) {
      this.pending.push(e);
      this.overlay.set(idKey(e.id), locationOf(e));
    }
    this.writer.enqueue(entries);
    for (const listener of this.ackListeners) listener(entries);
  }

  /**
   * Calls `listener` with every batch of records as it is acknowledged, before the index has
   * them (materialized views drop what the records change). Synchronous, on the write path:
   * keep it cheap.
   */
  onAcknowledged(listener: (entries: readonly IndexEntry[]) => void): void {
    this.ackListeners.push(listener);
  }

  /** Acknowledged records past `lsn` that the index does not hold yet. */
  pendingAfter(lsn: number): readonly IndexEntry[] {
    return this.pending.filter((e) => e.lsn > lsn);
  }

  /** The index committed everything up to `lsn`. */
  private indexed(lsn: number): void {
    let n = 0;
    while (n < this.pending.length && (this.pending[n] as IndexEntry).lsn <= lsn) n++;
    const done = this.pending.slice(0, n);
    this.pending = this.pending.slice(n);
    for (const e of done) this.overlay.delete(idKey(e.id));
  }

  /**
   * Resolves once every record acknowledged so far is in the index (list queries wait on it);
   * rejects with `index_damaged` once the index is known damaged.
   */
  indexCaughtUp(): Promise<void> {
    if (this.index.damaged) return Promise.reject(this.index.damaged);
    return this.writer?.drain() ?? Promise.resolve();
  }

  /** Null when the index keeps up; the damage found, or the writer's last failure, otherwise. */
  get indexFailure(): Error | null {
    return this.index.damaged ?? this.writer?.failure ?? null;
  }

  /** Acknowledged records not yet in the index. */
  get indexBacklog(): number {
    return this.writer?.backlog ?? 0;
  }

  /** The log position the index has reached. */
  get indexLsn(): number {
    return this.index.checkpointLsn;
  }

  lookupId(id: Uint8Array): RecordLocation | null {
    return this.overlay.get(idKey(id)) ?? this.index.lookupId(id);
  }

  /**
   * Read a record from the log through its index location, and check it is what the index
   * says: the LSN at that place, BLAKE3 of the body equal to the id in the row, the kind, and
   * every field of the filter that selected it (`selectedBy`). Anything else is damage in the
   * index: it is reported (and every later read refused), never served.
   */
  read(loc: RecordLocation): StoredRead {
    this.index.assertSound();
    return checkedRead(loc, this.readFrame(loc), (what) => this.index.reportDamage(damageAt(loc, what)));
  }

  /**
   * The log frame at an index location. A location the log cannot read is the index's fault
   * when the log still holds that LSN elsewhere (or never had it); if the log cannot produce
   * the LSN either, the log is damaged and its own error goes up.
   */
  private readFrame(loc: RecordLocation): ReturnType<Log["read"]> {
    try {
      return this.log.read(loc.segment, loc.offset);
    } catch (err) {
      if (this.logHoldsLsn(loc.lsn) || !(loc.lsn >= 1 && loc.lsn <= this.log.lastLsn))
        throw this.index.reportDamage(
          `the row for LSN ${loc.lsn} points at segment ${loc.segment} offset ${loc.offset}, which the log cannot read (${(err as Error).message})`,
        );
      throw err;
    }
  }

  private logHoldsLsn(lsn: number): boolean {
    if (!(lsn >= 1 && lsn <= this.log.lastLsn)) return false;
    try {
      const first = this.log.scan(lsn).next();
      return !first.done && first.value.lsn === lsn;
    } catch {
      return false;
    }
  }

  view(loc: RecordLocation): RecordView {
    return viewOf(this.read(loc));
  }

  getById(id: Uint8Array): RecordView | null {
    const loc = this.lookupId(id);
    return loc ? this.view(loc) : null;
  }

  async close(): Promise<void> {
    await this.log.close();
    await this.writer?.close();
    this.writer = null;
    this.index.close();
    this.unlock();
  }
}

function idKey(id: Uint8Array): string {
  return Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString("latin1");
}

/**
 * Open the index. One written by another index format, or found damaged (page checksums, the
 * records table, a marker left by a run that found damage), is derived data: it is rebuilt from
 * the log, which is CRC-framed and is the truth.
 */
function openIndex(
  indexPath: string,
  logger: Logger,
  metrics: Metrics | undefined,
  shardCount?: number,
  cacheKiB?: number,
): IndexStore {
  const options = {
    logger,
    ...(metrics ? { metrics } : {}),
    ...(shardCount !== undefined ? { shardCount } : {}),
    ...(cacheKiB !== undefined ? { cacheKiB } : {}),
  };
  try {
    return IndexStore.open(indexPath, options);
  } catch (err) {
    if (!(err instanceof StemeError) || (err.code !== "index_version" && err.code !== "index_damaged")) throw err;
    if (err.code === "index_version")
      logger.warn("index: format changed; rebuilding it from the log", { path: indexPath, reason: err.message });
    else {
      logger.error("index: damaged; rebuilding it from the log (the log is intact and is the truth)", {
        path: indexPath,
        found: err.message,
      });
      metrics?.indexDamageDetectedTotal.inc();
    }
    removeIndexFiles(indexPath);
    return IndexStore.open(indexPath, options);
  }
}

function removeIndexFiles(indexPath: string): void {
  for (const suffix of ["", "-wal", "-shm", ".ids", ".ids.tmp"]) fs.rmSync(indexPath + suffix, { force: true });
  fs.rmSync(damageMarkerPath(indexPath), { force: true }); // last: a crash before it rebuilds again
}
