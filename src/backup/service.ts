/**
 * The server's side of operations: the periodic archival pass (`--archive-dir`), the Merkle
 * root shown by `/v1/health` (recomputed on a worker thread when the log has moved), and
 * snapshots on request (`POST /v1/admin/snapshot`). The CLI does the same work from timers;
 * both record their outcome in `backup-status.json` for the metrics.
 */
import path from "node:path";
import { StemeError } from "../core/errors.ts";
import { type Logger, silentLogger } from "../core/logger.ts";
import { workerUrl } from "../core/worker-url.ts";
import type { Store } from "../store/store.ts";
import { archiveOnce, parseS3Url, type S3Target } from "./archive.ts";
import type { RootReport } from "./root.ts";
import { recordBackupStatus } from "./status.ts";
import { type BackupResult, takeBackup } from "./take.ts";

export interface OpsOptions {
  backupDir: string;
  archiveDir: string;
  archiveIntervalSecs: number;
  archiveS3: string;
  logger?: Logger;
  now?: () => number;
}

const rootIntervalMs = 30_000;
/**
 * How long a stop waits for a root in progress to give up (it looks at the stop flag every
 * 65,536 ids, well under a second) before the worker is terminated. Terminated mid-read, its
 * index connection was never closed and the index's WAL outlived the server's close.
 */
const rootStopWaitMs = 2_000;
const snapshotNamePattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export class OpsService {
  private archiveTimer: ReturnType<typeof setInterval> | null = null;
  private rootTimer: ReturnType<typeof setInterval> | null = null;
  private archiving = false;
  private snapshotting = false;
  private rootWorker: Worker | null = null;
  private rootInFlight = false;
  /** Set to 1 to ask the root worker to give up the root it is computing (its reads stop, its connection closes). */
  private readonly rootStop = new Int32Array(new SharedArrayBuffer(4));
  /** Resolves when the worker's answer to the root in flight has come in. */
  private rootAnswered: Promise<void> = Promise.resolve();
  root: RootReport | null = null;
  lastArchiveAtMs: number | null = null;
  private readonly logger: Logger;
  private readonly s3: S3Target | undefined;

  constructor(
    private readonly store: Store,
    private readonly options: OpsOptions,
  ) {
    this.logger = options.logger ?? silentLogger;
    this.s3 = options.archiveS3 ? parseS3Url(options.archiveS3) : undefined;
  }

  start(): void {
    if (this.options.archiveDir) {
      this.archiveTimer = setInterval(() => void this.archive(), this.options.archiveIntervalSecs * 1000);
      this.archiveTimer.unref?.();
      void this.archive();
    }
    this.rootTimer = setInterval(() => this.refreshRoot(), rootIntervalMs);
    this.rootTimer.unref?.();
    this.refreshRoot();
  }

  /** Stops the timers; a root in progress gives up and closes its index connection first (bounded wait). */
  async stop(): Promise<void> {
    if (this.archiveTimer) clearInterval(this.archiveTimer);
    if (this.rootTimer) clearInterval(this.rootTimer);
    this.archiveTimer = this.rootTimer = null;
    Atomics.store(this.rootStop, 0, 1);
    const worker = this.rootWorker;
    this.rootWorker = null;
    if (worker === null) return;
    if (this.rootInFlight) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([this.rootAnswered, new Promise<void>((resolve) => (timer = setTimeout(resolve, rootStopWaitMs)))]);
      clearTimeout(timer);
    }
    worker.terminate();
  }

  /** One archival pass; a failure is logged and retried next interval. */
  async archive(): Promise<void> {
    if (this.archiving) return;
    this.archiving = true;
    try {
      const pass = await archiveOnce(this.store.dataDir.dir, this.options.archiveDir, this.s3);
      this.lastArchiveAtMs = (this.options.now ?? Date.now)();
      recordBackupStatus(this.store.dataDir.dir, {
        last_archive: {
          at: new Date(this.lastArchiveAtMs).toISOString(),
          dir: path.resolve(this.options.archiveDir),
          lsn: pass.lsn,
        },
      });
      if (pass.sealed > 0) this.logger.info("archived sealed segments", { segments: pass.sealed, lsn: pass.lsn });
    } catch (err) {
      this.logger.error("archival failed; retrying next interval", { err: err as Error, archive_dir: this.options.archiveDir });
    } finally {
      this.archiving = false;
    }
  }

  /** Recomputes the root on a worker when the log moved past the last one. */
  refreshRoot(): void {
    if (Atomics.load(this.rootStop, 0) === 1) return; // stopped
    if (this.rootInFlight || (this.root && this.root.lsn >= this.store.indexLsn && this.root.lsn >= this.store.log.lastLsn))
      return;
    this.rootInFlight = true;
    let answered = () => {};
    this.rootAnswered = new Promise<void>((resolve) => (answered = resolve));
    this.rootWorker ??= new Worker(workerUrl(import.meta.url, "backup/root-worker.ts"));
    this.rootWorker.onmessage = (event: MessageEvent<{ ok: boolean; report?: RootReport; error?: string; stopped?: true }>) => {
      this.rootInFlight = false;
      answered();
      if (event.data.ok && event.data.report) this.root = event.data.report;
      else if (!event.data.stopped) this.logger.warn("computing the Merkle root failed", { error: event.data.error ?? "" });
    };
    this.rootWorker.onerror = (event) => {
      this.rootInFlight = false;
      answered();
      this.logger.warn("the Merkle root worker failed", { error: String(event.message) });
      this.rootWorker?.terminate();
      this.rootWorker = null;
    };
    this.rootWorker.postMessage({ dataDir: this.store.dataDir.dir, stop: this.rootStop });
  }

  /** `POST /v1/admin/snapshot`: a backup into a new directory under `--backup-dir`. */
  async snapshot(name: string | undefined): Promise<BackupResult & { dir: string }> {
    if (!this.options.backupDir)
      throw new StemeError("no_backup_dir", "this server has no --backup-dir; snapshots need one", {
        hint: "start it with --backup-dir DIR, or run `stemedb backup --data-dir D --out DIR` from the shell",
      });
    const now = (this.options.now ?? Date.now)();
    const dirName = name ?? `stemedb-${new Date(now).toISOString().replace(/[:.]/g, "-")}`;
    if (!snapshotNamePattern.test(dirName))
      throw new StemeError("invalid_request", "name: letters, digits, '.', '_' and '-' only (a directory under --backup-dir)", {
        extra: { field: "name" },
      });
    if (this.snapshotting) throw new StemeError("busy", "a snapshot is already being taken", { extra: { retry_after_s: 5 } });
    this.snapshotting = true;
    try {
      const dir = path.join(this.options.backupDir, dirName);
      const result = await takeBackup({
        dataDir: this.store.dataDir.dir,
        outDir: dir,
        lsn: () => this.store.log.lastLsn,
        now: () => now,
      });
      recordBackupStatus(this.store.dataDir.dir, {
        last_backup: { at: result.manifest.created_at, dir: path.resolve(dir), lsn: result.manifest.lsn },
      });
      this.logger.info("snapshot taken", { dir, lsn: result.manifest.lsn, ms: Math.round(result.ms) });
      return { ...result, dir: path.resolve(dir) };
    } finally {
      this.snapshotting = false;
    }
  }
}
