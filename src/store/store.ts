/**
 * The store: one data directory's log and index, kept in step. Opening it recovers the log
 * (cutting a torn tail), brings the index to the log's end (dropping rows the log no longer
 * has, replaying the tail past the index checkpoint) and only then lets anyone read or write.
 */
import fs from "node:fs";
import { StemeError } from "../core/errors.ts";
import { toHex } from "../core/hex.ts";
import { type Logger, silentLogger } from "../core/logger.ts";
import { recordToJson, type StemeRecord } from "../core/record.ts";
import { recordId } from "../crypto/hash.ts";
import { decodeStoredBody } from "../crypto/signed.ts";
import { type IndexEntry, IndexStore, type RecordLocation } from "../index/store.ts";
import { Log } from "../log/index.ts";
import type { Metrics } from "../metrics/index.ts";
import { type DataDir, initDataDir, isInitialized, lockDataDir, openDataDir } from "./datadir.ts";

export interface StoreOptions {
  sync?: "batch" | "none";
  segmentBytesMax?: number;
  logger?: Logger;
  metrics?: Metrics;
  /** Initialise the directory when it holds no node yet (the embedded default does). */
  create?: boolean;
  now?: () => number;
  /** Progress callback for long index replays. */
  onReplayProgress?: (done: number, total: number) => void;
}

/** Records indexed per transaction while replaying the log. */
export const replayBatchRecords = 5000;

/** A stored record as the API shows it (SPEC §8). */
export interface RecordView {
  id: string;
  kind: string;
  sig: string;
  body: string;
  lsn: number;
  recorded_at: number;
  flags: string[];
  [field: string]: unknown;
}

export class Store {
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
        throw new StemeError("not_initialized", 500, `${dir} is not a StemeDB data directory`, {
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
      log = await Log.open(dataDir.logDir, {
        sync: options.sync ?? "batch",
        logger,
        ...(options.segmentBytesMax ? { segmentBytesMax: options.segmentBytesMax } : {}),
        ...(options.metrics ? { metrics: options.metrics } : {}),
        ...(options.now ? { now: options.now } : {}),
      });
      index = IndexStore.open(dataDir.indexPath, { logger, ...(options.metrics ? { metrics: options.metrics } : {}) });
      const store = new Store(dataDir, log, index, unlock, logger);
      store.catchUpIndex(options.onReplayProgress);
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

  /** Read a record from the log through its index location. */
  read(loc: RecordLocation): {
    record: StemeRecord;
    body: Uint8Array;
    sig: Uint8Array;
    id: Uint8Array;
    lsn: number;
    recordedAt: number;
  } {
    const entry = this.log.read(loc.segment, loc.offset);
    if (entry.lsn !== loc.lsn) {
      throw new StemeError(
        "index_mismatch",
        500,
        `index says LSN ${loc.lsn} is at segment ${loc.segment} offset ${loc.offset}, the log has LSN ${entry.lsn} there`,
        {
          hint: "run `stemedb reindex`",
        },
      );
    }
    return {
      record: decodeStoredBody(entry.body),
      body: entry.body,
      sig: entry.sig,
      id: loc.id,
      lsn: loc.lsn,
      recordedAt: entry.recordedAtMs,
    };
  }

  view(loc: RecordLocation): RecordView {
    const r = this.read(loc);
    return {
      id: toHex(r.id),
      ...recordToJson(r.record),
      sig: toHex(r.sig),
      body: toHex(r.body),
      lsn: r.lsn,
      recorded_at: r.recordedAt,
      flags: [],
    } as unknown as RecordView;
  }

  getById(id: Uint8Array): RecordView | null {
    const loc = this.index.lookupId(id);
    return loc ? this.view(loc) : null;
  }

  diskBytes(): number {
    let total = this.log.diskBytes;
    for (const suffix of ["", "-wal", "-shm"]) {
      try {
        total += fs.statSync(this.dataDir.indexPath + suffix).size;
      } catch {
        // not there
      }
    }
    return total;
  }

  async close(): Promise<void> {
    await this.log.close();
    this.index.close();
    this.unlock();
  }
}
