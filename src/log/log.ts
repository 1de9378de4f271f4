/**
 * The record log: append (group commit), read, scan, rotation. The format is described in
 * `format.ts`; recovery in `recovery.ts`.
 */
import * as fs from "node:fs";
import { dirname, resolve } from "node:path";
import { StemeError } from "../core/errors.ts";
import { type Logger, silentLogger } from "../core/logger.ts";
import type { Metrics } from "../metrics/index.ts";
import { type LogDisk, realDisk, syncDir } from "./disk.ts";
import {
  encodeFrame,
  frameBytesFor,
  frameHeaderBytes,
  type LogEntry,
  type LogEntryInput,
  payloadBytesMax,
  payloadPrefixBytes,
  segmentHeaderBytes,
  signatureBytes,
} from "./format.ts";
import { entriesIn, preadEntry } from "./reader.ts";
import { recoverLog } from "./recovery.ts";
import { createSegmentFile, type SegmentFile } from "./segment.ts";
import { GroupCommitQueue, SyncPipeline } from "./writer.ts";

export const segmentBytesMaxDefault = 64 * 1024 * 1024;
/** A batch larger than this is written only when no sync runs (it does not overlap one). */
export const overlapBytesMax = 64 * 1024;
/** fdatasyncs of the log in flight at once (LogOptions.syncsInFlight). */
export const syncsInFlightDefault = 2;
/** A group commit stops taking queued requests past this size, to bound its buffer. */
export const batchBytesMax = 16 * 1024 * 1024;
/** First pread of a record; most records fit, larger ones take a second read. */
const readWindowBytes = 4096;

export interface LogOptions {
  /** Rotate to a new segment before a batch would make the active one larger than this. */
  segmentBytesMax?: number;
  /** "batch": acknowledge only after fdatasync (default). "none": never sync; benchmarks only. */
  sync?: "batch" | "none";
  /**
   * fdatasyncs in flight at once (pipelined group commit, writer.ts): each covers what was
   * written before it began. 1 is the classic one-at-a-time group commit.
   */
  syncsInFlight?: number;
  logger?: Logger;
  metrics?: Metrics;
  now?: () => number;
  /** Fault injection for tests; defaults to the real disk. */
  disk?: Partial<LogDisk>;
  /** Sealed segments this large in all are checked on a worker thread at open (recovery.ts). */
  recoveryWorkerBytesMin?: number;
}

/** A batch written and not yet known durable: what the active segment holds once it is. */
interface Unsynced {
  seq: number;
  segment: Segment;
  bytes: number;
  lastLsn: number;
}

/** Where an appended record landed. */
export interface LogPosition {
  lsn: number;
  segment: number;
  offset: number;
}

interface Segment {
  file: SegmentFile;
  firstLsn: number;
  /** `firstLsn - 1` while empty. */
  lastLsn: number;
  /** Durable size in bytes: written and (with sync=batch) synced. */
  bytes: number;
  sealed: boolean;
  /** A sealed segment's read-only descriptor, opened at its first read and kept. */
  readFd?: number;
}

interface Settings {
  dir: string;
  segmentBytesMax: number;
  sync: "batch" | "none";
  syncsInFlight: number;
  logger: Logger;
  metrics: Metrics | undefined;
  now: () => number;
  disk: LogDisk;
}

export class Log {
  /** The real disk, for wrapping in fault-injection tests. */
  static readonly realDisk: LogDisk = realDisk;

  private readonly queue: GroupCommitQueue<LogEntryInput, LogPosition>;
  private readonly syncs: SyncPipeline;
  /** Where the next batch goes in the active segment: its end and last LSN as written (durable or not). */
  private tail: { bytes: number; lsn: number };
  /** Batches written and not yet durable, in order. */
  private unsynced: Unsynced[] = [];
  /**
   * One descriptor per sync slot: the write descriptor and `syncsInFlight - 1` more of the
   * active segment. Each open file description has its own record of writeback errors, so a
   * sync's failure is reported to every sync that overlaps it — with one shared descriptor
   * Linux reports it once, and an overlapping sync could return success for pages that failed.
   */
  private syncFds: number[];
  private failure: StemeError | null = null;
  private closing: Promise<void> | null = null;
  private commits = 0;
  private readonly syncListeners: Array<(latencyMs: number) => void> = [];
  /** The window every record read lands in first (`read`). */
  private readonly readWindow = new Uint8Array(readWindowBytes);

  private constructor(
    private readonly settings: Settings,
    private readonly segments: Segment[],
    private fd: number,
  ) {
    this.queue = new GroupCommitQueue(
      (items, bytes) => this.commit(items, bytes),
      batchBytesMax,
      // A large batch waits for every running sync: overlapping pays for small syncs (a lone
      // one waits for the host), not for large ones (they share the disk's bandwidth).
      (bytes) => (settings.sync === "none" ? null : this.syncs.whenSlotFree(bytes > overlapBytesMax ? 1 : Infinity)),
    );
    this.syncs = new SyncPipeline((slot) => this.syncSlot(slot), settings.syncsInFlight, {
      synced: (ms) => this.synced(ms),
      durable: (seq) => this.durable(seq),
    });
    this.tail = { bytes: this.active.bytes, lsn: this.active.lastLsn };
    this.syncFds = this.openSyncFds(fd, this.active);
    this.updateGauges();
  }

  /** Opens (creating if missing) the log directory `dir` (normally `<dataDir>/log`) and recovers it. */
  static async open(dir: string, options: LogOptions = {}): Promise<Log> {
    const settings: Settings = {
      dir: resolve(dir),
      segmentBytesMax: options.segmentBytesMax ?? segmentBytesMaxDefault,
      sync: options.sync ?? "batch",
      syncsInFlight: options.syncsInFlight ?? syncsInFlightDefault,
      logger: options.logger ?? silentLogger,
      metrics: options.metrics,
      now: options.now ?? Date.now,
      disk: { ...realDisk, ...options.disk },
    };
    if (!(settings.segmentBytesMax > 0)) throw new RangeError(`segmentBytesMax must be > 0, got ${settings.segmentBytesMax}`);
    if (!(Number.isInteger(settings.syncsInFlight) && settings.syncsInFlight >= 1))
      throw new RangeError(`syncsInFlight must be an integer ≥ 1, got ${settings.syncsInFlight}`);
    if (settings.sync === "none")
      settings.logger.warn("sync=none: acknowledged writes can be lost on power failure; use only for benchmarks", {
        dir: settings.dir,
      });
    if (!fs.existsSync(settings.dir)) {
      fs.mkdirSync(settings.dir, { recursive: true });
      syncDir(dirname(settings.dir));
    }
    const recovery = await recoverLog(
      settings.dir,
      settings.logger,
      settings.metrics,
      options.recoveryWorkerBytesMin === undefined ? {} : { workerBytesMin: options.recoveryWorkerBytesMin },
    );
    const segments: Segment[] = recovery.segments.map((s, i) => ({ ...s, sealed: i < recovery.segments.length - 1 }));
    const last = segments[segments.length - 1];
    if (last) return new Log(settings, segments, fs.openSync(last.file.path, "r+"));
    const { file, fd } = await createSegmentFile(
      settings.dir,
      { segment: 1, firstLsn: 1, createdAtMs: settings.now() },
      settings.disk,
    );
    return new Log(settings, [{ file, firstLsn: 1, lastLsn: 0, bytes: fs.fstatSync(fd).size, sealed: false }], fd);
  }

  /** LSN of the last durable record; 0 for an empty log. */
  get lastLsn(): number {
    return this.active.lastLsn;
  }

  get segmentCount(): number {
    return this.segments.length;
  }

  get diskBytes(): number {
    return this.segments.reduce((sum, s) => sum + s.bytes, 0);
  }

  /** True once a write or sync failed: the log refuses appends until the node restarts. */
  get failed(): boolean {
    return this.failure !== null;
  }

  /** Group commits performed (each is one write and, with sync=batch, one fdatasync). */
  get commitCount(): number {
    return this.commits;
  }

  private get active(): Segment {
    const s = this.segments[this.segments.length - 1];
    if (!s) throw new Error("invariant violated: log has no segment");
    return s;
  }

  /**
   * Appends records durably. Resolves, in order, with each record's position once its batch
   * is written and synced; concurrent calls share one write and one sync.
   */
  append(entries: LogEntryInput[]): Promise<LogPosition[]> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closing) return Promise.reject(new StemeError("log_closed", "the log is closed"));
    let bytes = 0;
    try {
      for (const e of entries) bytes += checkEntry(e);
    } catch (err) {
      return Promise.reject(err);
    }
    if (entries.length === 0) return Promise.resolve([]);
    return this.queue.submit(entries, bytes);
  }

  /**
   * One batch: rotate if needed, then one write, in order with every other batch. Returns once
   * it is written, with `durable`: the positions once a sync that began after the write has
   * returned. Runs only inside the queue's loop (one at a time).
   */
  private async commit(items: LogEntryInput[], bytes: number): Promise<{ durable: Promise<LogPosition[]> }> {
    if (this.failure) throw this.failure;
    await this.rotateIfFull(bytes);
    const segment = this.active;
    const buffer = new Uint8Array(bytes);
    const positions: LogPosition[] = [];
    let at = 0;
    let lsn = this.tail.lsn;
    for (const item of items) {
      lsn++;
      positions.push({ lsn, segment: segment.file.segment, offset: this.tail.bytes + at });
      at = encodeFrame(buffer, at, lsn, item);
    }
    this.write(buffer, segment);
    this.tail = { bytes: this.tail.bytes + bytes, lsn };
    this.commits++;
    this.recordCommit(items.length, bytes);
    if (this.settings.sync === "none") {
      segment.bytes = this.tail.bytes;
      segment.lastLsn = lsn;
      this.updateGauges();
      return { durable: Promise.resolve(positions) };
    }
    const { seq, durable } = this.syncs.wrote();
    this.unsynced.push({ seq, segment, bytes: this.tail.bytes, lastLsn: lsn });
    return { durable: durable.then(() => positions) };
  }

  /** Writes a batch at the tail of the active segment (into the page cache; the sync is separate). */
  private write(buffer: Uint8Array, segment: Segment): void {
    try {
      this.settings.disk.write(this.fd, buffer, this.tail.bytes);
    } catch (err) {
      if (!isNoSpace(err)) throw this.fail("write", segment, err);
      // A full disk is an operating condition, not damage: cut what part of the batch landed
      // (nothing of it was acknowledged; earlier batches before it stay) and refuse this batch;
      // the next one tries again. Only if the cut itself fails is the file's state unknown.
      try {
        fs.ftruncateSync(this.fd, this.tail.bytes);
      } catch (cutErr) {
        throw this.fail("write", segment, cutErr);
      }
      throw diskFull(segment.file.path, err);
    }
  }

  /** One fdatasync of the active segment, in its slot's descriptor. */
  private async syncSlot(slot: number): Promise<void> {
    const segment = this.active;
    try {
      await this.settings.disk.datasync(this.syncFds[slot] as number);
    } catch (err) {
      // Never acknowledge after a failed fsync, and never retry it: Linux may already have
      // dropped the dirty pages and cleared the error, so a retry "succeeds" without the data
      // ever reaching the disk (PostgreSQL "fsyncgate", 2018). Only a restart, which re-reads
      // the file through recovery, can tell what is really on disk.
      throw this.fail("fdatasync", segment, err);
    }
  }

  private synced(latencyMs: number): void {
    this.settings.metrics?.walFsyncSeconds.observe(latencyMs / 1000);
    for (const listener of this.syncListeners) listener(latencyMs);
  }

  /** Batches up to `seq` are durable: the active segment's durable size and last LSN move on. */
  private durable(seq: number): void {
    let n = 0;
    while (n < this.unsynced.length && (this.unsynced[n] as Unsynced).seq <= seq) n++;
    const last = this.unsynced[n - 1];
    this.unsynced = this.unsynced.slice(n);
    if (!last) return;
    last.segment.bytes = last.bytes;
    last.segment.lastLsn = last.lastLsn;
    this.updateGauges();
  }

  /** The descriptors the sync slots use for `segment` (slot 0: the write descriptor). */
  private openSyncFds(writeFd: number, segment: Segment): number[] {
    const fds = [writeFd];
    for (let i = 1; i < this.settings.syncsInFlight; i++) fds.push(fs.openSync(segment.file.path, "r"));
    return fds;
  }

  private closeSyncFds(): void {
    for (const fd of this.syncFds.slice(1)) fs.closeSync(fd);
    this.syncFds = [];
  }

  /** Calls `listener` with each group commit's fdatasync time, ms (the global breaker watches it). */
  onSync(listener: (latencyMs: number) => void): void {
    this.syncListeners.push(listener);
  }

  /** Puts the log into the failed state: this batch and every later append get this error. */
  private fail(operation: string, segment: Segment, cause: unknown): StemeError {
    if (this.failure) return this.failure; // an overlapping sync failing too: already reported
    const reason = cause instanceof Error ? cause.message : String(cause);
    this.failure = new StemeError(
      "log_write_failed",
      `log ${operation} failed on ${segment.file.path}: ${reason}; the log refuses writes until the node restarts`,
      {
        hint: "Check the disk (space, I/O errors in the kernel log), then restart the node; recovery re-reads the log from disk.",
        cause,
      },
    );
    this.settings.logger.error("log: write path failed, refusing further writes", {
      operation,
      segment: segment.file.name,
      error: reason,
    });
    return this.failure;
  }

  private recordCommit(records: number, bytes: number): void {
    const m = this.settings.metrics;
    if (!m) return;
    m.walWritesTotal.inc();
    m.walRecordsTotal.inc(records);
    m.walBytesTotal.inc(bytes);
    m.walBatchRecords.observe(records);
    this.updateGauges();
  }

  private updateGauges(): void {
    const m = this.settings.metrics;
    if (!m) return;
    m.walSegments.set(this.segments.length);
    m.walDiskBytes.set(this.diskBytes);
    m.walLastLsn.set(this.lastLsn);
  }

  /**
   * Seals the active segment and starts the next one when `incomingBytes` would take it past
   * `segmentBytesMax`. An empty segment is never sealed, so one oversized batch still fits.
   */
  private async rotateIfFull(incomingBytes: number): Promise<void> {
    const old = this.active;
    if (this.tail.lsn < old.firstLsn || this.tail.bytes + incomingBytes <= this.settings.segmentBytesMax) return;
    const { dir, disk, now, metrics } = this.settings;
    // Everything written to the old segment becomes durable (and its syncs finish) before the
    // new one starts: acknowledgements stay in log order and no sync runs on a closed file.
    await this.syncs.drain();
    // The new segment is made before the old one is closed, so a full disk leaves the old
    // segment active and the log usable once space returns.
    let created: { file: SegmentFile; fd: number };
    try {
      await disk.datasync(this.fd);
      const header = { segment: old.file.segment + 1, firstLsn: old.lastLsn + 1, createdAtMs: now() };
      created = await createSegmentFile(dir, header, disk);
    } catch (err) {
      if (isNoSpace(err)) throw diskFull(old.file.path, err);
      throw this.fail("rotation", old, err);
    }
    try {
      this.closeSyncFds();
      fs.closeSync(this.fd);
    } catch (err) {
      throw this.fail("rotation", old, err);
    }
    old.sealed = true;
    this.fd = created.fd;
    this.segments.push({
      file: created.file,
      firstLsn: old.lastLsn + 1,
      lastLsn: old.lastLsn,
      bytes: fs.fstatSync(created.fd).size,
      sealed: false,
    });
    this.tail = { bytes: this.active.bytes, lsn: this.active.lastLsn };
    this.syncFds = this.openSyncFds(created.fd, this.active);
    metrics?.walRotationsTotal.inc();
    this.updateGauges();
  }

  /**
   * The record at a position returned by `append`. Re-checks its CRC. Read with pread, sealed
   * segments too: a segment kept mapped puts every page a read touches into the process's
   * resident set for good (Bun unmaps only when the mapping is collected), so cold queries
   * over a 1M-record store grew the server's RSS by the size of its log (docs/BENCHMARKS.md);
   * the kernel's page cache keeps the pages either way.
   */
  read(segment: number, offset: number): LogEntry {
    const s = this.segmentAt(segment);
    if (!(Number.isInteger(offset) && offset >= segmentHeaderBytes && offset + frameHeaderBytes <= s.bytes)) {
      throw new RangeError(`offset ${offset} is not a frame position in segment ${segment} (${s.bytes} bytes)`);
    }
    if (s.sealed) s.readFd ??= fs.openSync(s.file.path, "r");
    const fd = s.readFd ?? this.fd;
    return preadEntry(fd, this.readWindow, offset, segment, s.file.path, s.bytes);
  }

  /**
   * Every durable record from `fromLsn` on, in LSN order, across segments. Sealed segments are
   * read through a mapping made for the scan (unmapped once the scan and what it handed out are
   * collected), the active one with one read; records appended after the scan began are not
   * included.
   */
  *scan(fromLsn = 1): Generator<LogEntry> {
    const snapshot = this.segments.map((s) => ({ s, bytes: s.bytes, lastLsn: s.lastLsn }));
    for (const { s, bytes, lastLsn } of snapshot) {
      if (lastLsn < fromLsn) continue;
      yield* entriesIn(this.segmentBytes(s, bytes), s.file, s.firstLsn, Math.min(fromLsn, lastLsn + 1), lastLsn);
    }
  }

  /** Waits for queued and in-flight batches, then closes the active segment. Idempotent. */
  close(): Promise<void> {
    // After a failed rotation the fd may already be closed; closing it twice is harmless here.
    this.closing ??= this.queue.idle().then(async () => {
      await this.syncs.drain().catch(() => {}); // a failed sync already failed its callers
      try {
        this.closeSyncFds();
        fs.closeSync(this.fd);
      } catch {
        // Already closed by a failed rotation.
      }
      for (const s of this.segments) {
        if (s.readFd === undefined) continue;
        fs.closeSync(s.readFd);
        s.readFd = undefined;
      }
    });
    return this.closing;
  }

  private segmentAt(segment: number): Segment {
    const first = this.segments[0];
    const s = first ? this.segments[segment - first.file.segment] : undefined;
    if (!s) throw new RangeError(`no segment ${segment} in the log`);
    return s;
  }

  private segmentBytes(s: Segment, bytes: number): Uint8Array {
    if (s.sealed) return Bun.mmap(s.file.path).subarray(0, bytes);
    const buffer = new Uint8Array(bytes);
    fs.readSync(this.fd, buffer, 0, bytes, 0);
    return buffer;
  }
}

/** Validates one entry at the public boundary; returns its frame size in bytes. */
function checkEntry(e: LogEntryInput): number {
  if (!(e.body instanceof Uint8Array) || !(e.sig instanceof Uint8Array))
    throw new TypeError("log entry: body and sig must be Uint8Array");
  if (e.sig.length !== signatureBytes)
    throw new RangeError(`log entry: sig must be ${signatureBytes} bytes, got ${e.sig.length}`);
  const payloadBytes = payloadPrefixBytes + e.body.length;
  if (e.body.length < 1 || payloadBytes > payloadBytesMax) {
    throw new RangeError(`log entry: body must be 1..${payloadBytesMax - payloadPrefixBytes} bytes, got ${e.body.length}`);
  }
  if (!Number.isSafeInteger(e.recordedAtMs) || e.recordedAtMs < 0)
    throw new RangeError(`log entry: recordedAtMs must be a non-negative integer, got ${e.recordedAtMs}`);
  return frameBytesFor(e.body.length);
}

function isNoSpace(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code;
  return code === "ENOSPC" || code === "EDQUOT";
}

/** `503 disk_full`: this batch was not stored; the log stays usable and the next write retries. */
function diskFull(path: string, cause: unknown): StemeError {
  return new StemeError("disk_full", `no space left for the log (${path}); this write was not stored`, {
    hint: "free space on the data directory's filesystem; writes resume by themselves",
    extra: { retry_after_s: 5 },
    cause,
  });
}
