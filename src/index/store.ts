/**
 * The index: SQLite (WAL journal) over the log. One writer (the ingest pipeline) applies
 * batches of records in LSN order, each batch one transaction that also advances the
 * checkpoint LSN, so after a crash start-up replays only the log tail past the checkpoint.
 */
import type { Database, Statement } from "bun:sqlite";
import fs from "node:fs";
import { invariant, StemeError } from "../core/errors.ts";
import { bytesEqual } from "../core/hex.ts";
import type { Logger } from "../core/logger.ts";
import { silentLogger } from "../core/logger.ts";
import type { StemeRecord } from "../core/record.ts";
import type { Metrics } from "../metrics/index.ts";
import { IndexCheckpointer } from "./checkpointer.ts";
import { openChecksummed, scanPages } from "./checksum-vfs.ts";
import { indexDamaged, isSqliteDamage, readDamageMarker, writeDamageMarker } from "./damage.ts";
import { type DamageGuard, GuardedDb } from "./guarded-db.ts";
import { checkGenerationMax, InternCache, internGenerationMaxDefault } from "./intern-cache.ts";
import { IdTable } from "./id-table.ts";
import {
  type FileIdentity,
  fileIdentity,
  idTableFilePath,
  readIdTableFile,
  sameIdentity,
  writeIdTableFile,
} from "./id-table-file.ts";
import type { RecordMatch } from "./match.ts";
import { checkHeader } from "./page-checksum.ts";
import { indexFormatVersion, kindCodes, relCodes, schemaSql } from "./schema.ts";
import { checkShardCount, shardCountDefault, shardOf } from "./shard.ts";

/** What the index needs of one logged record. */
export interface IndexEntry {
  lsn: number;
  id: Uint8Array;
  record: StemeRecord;
  segment: number;
  offset: number;
  recordedAtMs: number;
  /** The canonical body and signature, when the writer has them at hand (ingest does): a reader that needs them (the change feed) then does not read the log. */
  body?: Uint8Array;
  sig?: Uint8Array;
  /** A cluster peer sent it (replication, repair): the data plane does not push it on (src/cluster/data). */
  replicated?: boolean;
}

/** Where a record lives in the log, and what the index knows of it. */
export interface RecordLocation {
  lsn: number;
  id: Uint8Array;
  kind: number;
  segment: number;
  offset: number;
  recordedAt: number;
  /** What selected this location, for the check of the record read from the log (match.ts). */
  selectedBy?: RecordMatch;
}

/** The location of a record the index is about to hold (or holds). */
export function locationOf(e: IndexEntry): RecordLocation {
  return {
    lsn: e.lsn,
    id: e.id,
    kind: kindCodes[e.record.kind],
    segment: e.segment,
    offset: e.offset,
    recordedAt: e.recordedAtMs,
  };
}

export interface IndexOptions {
  logger?: Logger;
  metrics?: Metrics;
  /** SQLite page cache, in KiB. */
  cacheKiB?: number;
  /** Open without writing anything (`verify --index`): no checkpoint, no page scan, no schema. */
  readonly?: boolean;
  /** Build the id table (default): `lookupId` works. Off for a reader that never looks ids up (a query worker). */
  ids?: boolean;
  now?: () => number;
  /** Shards subjects are filed under (src/index/shard.ts); a different count than the file's rewrites the column. */
  shardCount?: number;
  /** The intern caches' generation size (intern-cache.ts; default 131,072 strings). */
  internGenerationMax?: number;
}

/** Targets per query of `referrerLocationsOf` (SQLite's default limit on variables is 32,766). */
const referrersChunk = 512;

/** The first 8 bytes of an id as a signed 64-bit integer: the key of the `refs` table. */
export function id8(id: Uint8Array): bigint {
  return new DataView(id.buffer, id.byteOffset, 8).getBigInt64(0);
}

type InternTable = "agents" | "subjects" | "predicates" | "sources";

/** The index connection's SQLite page cache, KiB, unless told (the server's `--index-cache-bytes` default). */
export const indexCacheKiBDefault = 32 * 1024;

/** SQLite's default autocheckpoint: 1,000 pages (~4 MiB of WAL). */
const defaultAutocheckpointPages = 1000;

export class IndexStore implements DamageGuard {
  /**
   * The handle readers query through: refused once damage is known, and SQLite's damage
   * errors become `index_damaged` (guarded-db.ts). The writer uses `sqlite` directly.
   */
  readonly db: GuardedDb;
  private readonly sqlite: Database;
  private readonly logger: Logger;
  private readonly metrics: Metrics | undefined;
  private readonly now: () => number;
  private readonly internCache = new Map<InternTable, InternCache>();
  private readonly internGenerationMax: number;
  private readonly insertRecord: Statement;
  private readonly insertRef: Statement;
  private readonly byLsn: Statement;
  private readonly ids: IdTable;
  private readonly setMeta: Statement;
  private checkpoint: number;
  private damage: StemeError | null = null;
  private readonly readonly: boolean;
  private closed = false;
  private checkpointer: IndexCheckpointer | null = null;
  /** The shard count subjects are filed under. */
  readonly shardCount: number;

  private constructor(
    db: Database,
    readonly path: string,
    options: IndexOptions,
    /** The index file as found before SQLite opened it (id-table-file.ts), when there was no WAL. */
    found: FileIdentity | null,
  ) {
    this.sqlite = db;
    this.db = new GuardedDb(db, this);
    this.logger = options.logger ?? silentLogger;
    this.metrics = options.metrics;
    this.now = options.now ?? Date.now;
    this.insertRecord = db.prepare(
      "INSERT INTO records (lsn, id, kind, agent, ts, subject, predicate, source, segment, offset, recorded_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
    );
    this.insertRef = db.prepare("INSERT OR IGNORE INTO refs (dst8, src, rel, dst) VALUES (?,?,?,?)");
    this.byLsn = db.prepare("SELECT lsn, id, kind, segment, offset, recorded_at FROM records WHERE lsn = ?");
    this.setMeta = db.prepare(
      "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    );
    this.checkpoint = this.readMeta("checkpoint_lsn") ?? 0;
    this.readonly = options.readonly === true;
    this.shardCount = options.shardCount ?? shardCountDefault;
    this.internGenerationMax = options.internGenerationMax ?? internGenerationMaxDefault;
    checkGenerationMax(this.internGenerationMax);
    checkShardCount(this.shardCount);
    if (!options.readonly) this.fileShards();
    this.ids = options.ids === false ? new IdTable() : this.loadIds(found);
  }

  /**
   * Subjects are filed under `shardCount` shards; an index written for another count (a cluster
   * made with other settings) has its shard column rewritten, in one transaction.
   */
  private fileShards(): void {
    const filed = this.readMeta("shard_count");
    if (filed === this.shardCount) return;
    const started = performance.now();
    const rows = this.sqlite.query("SELECT id, path FROM subjects").all() as Array<{ id: number; path: string }>;
    const update = this.sqlite.prepare("UPDATE subjects SET shard = ? WHERE id = ?");
    this.sqlite.transaction(() => {
      for (const r of rows) update.run(shardOf(r.path, this.shardCount), r.id);
      this.setMeta.run("shard_count", this.shardCount);
    })();
    update.finalize();
    if (rows.length > 0)
      this.logger.info("index: subjects filed under a new shard count", {
        from: filed ?? null,
        to: this.shardCount,
        subjects: rows.length,
        ms: Math.round(performance.now() - started),
      });
  }

  /**
   * The id table: read back from the file a clean stop left, when it is this index's as of its
   * checkpoint (id-table-file.ts says what is checked), else built from the records table. The
   * file is removed either way (a read-only open leaves it).
   */
  private loadIds(found: FileIdentity | null): IdTable {
    const started = performance.now();
    if (!this.readonly) {
      const file = idTableFilePath(this.path);
      const read = fs.existsSync(file) ? readIdTableFile(file) : null;
      fs.rmSync(file, { force: true });
      let why = read === null ? "no file" : "error" in read ? read.error : null;
      if (read !== null && !("error" in read)) {
        if (found === null || !sameIdentity(found, read.index)) why = "the index changed since the file was written";
        else if (read.checkpointLsn !== this.checkpoint)
          why = `written at LSN ${read.checkpointLsn}, the index is at ${this.checkpoint}`;
        else {
          this.logger.info("index: id table read back", {
            records: read.table.size,
            ms: Math.round(performance.now() - started),
            bytes: read.table.bytes,
          });
          return read.table;
        }
      }
      if (this.checkpoint > 0) this.logger.info("index: id table file not used; building the table", { reason: why });
    }
    return this.buildIds(started);
  }

  /**
   * Build the id table from the records table (reads every page of it), a page of rows at a
   * time as arrays: no object per row, and memory bounded by the page.
   */
  private buildIds(started: number): IdTable {
    const last = (this.sqlite.query("SELECT max(lsn) AS n FROM records").get() as { n: number | null }).n ?? 0;
    const table = new IdTable(last);
    const page = this.sqlite.prepare("SELECT lsn, id FROM records WHERE lsn > ? ORDER BY lsn LIMIT 16384");
    for (let after = 0; ; ) {
      const rows = page.values(after) as Array<[number, Uint8Array]>;
      for (const [lsn, id] of rows) table.add(id, lsn);
      if (rows.length < 16384) break;
      after = (rows[rows.length - 1] as [number, Uint8Array])[0];
    }
    page.finalize();
    if (table.size > 0)
      this.logger.info("index: id table built", {
        records: table.size,
        ms: Math.round(performance.now() - started),
        bytes: table.bytes,
      });
    return table;
  }

  /**
   * Open (or create) the index through the page-checksum shim. Throws `index_damaged` when the
   * file is damaged (page 1's header, any page's checksum, the records table, or a marker left
   * by a run that found damage) and `index_version` when it was written by another index
   * format: either way the caller rebuilds it from the log (Store does).
   */
  static open(path: string, options: IndexOptions = {}): IndexStore {
    const marker = options.readonly ? null : readDamageMarker(path);
    if (marker !== null) throw indexDamaged(`an earlier run found damage: ${marker}`);
    checkExistingHeader(path);
    const found = options.readonly ? null : fileIdentity(path);
    let db: Database;
    try {
      db = openChecksummed(path, { readonly: options.readonly === true });
    } catch (cause) {
      if (cause instanceof StemeError) throw cause;
      throw openFailed(path, cause);
    }
    try {
      return IndexStore.prepare(db, path, options, found);
    } catch (err) {
      db.close();
      if (isSqliteDamage(err)) throw indexDamaged(`${err.code} while opening ${path}: ${err.message}`, err);
      if (err instanceof StemeError) throw err;
      throw openFailed(path, err);
    }
  }

  private static prepare(db: Database, path: string, options: IndexOptions, found: FileIdentity | null): IndexStore {
    db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA temp_store = MEMORY; PRAGMA busy_timeout = 5000;");
    db.exec(`PRAGMA cache_size = -${options.cacheKiB ?? indexCacheKiBDefault};`);
    // SQLite's own WAL checkpoint interval (~4 MiB), on the committing connection: until a
    // background checkpointer takes over (`startCheckpointer`; the server does after start-up's
    // catch-up). A 40 MiB interval on this connection was measured too: no clear throughput
    // gain, and each checkpoint stalled the event loop long enough to double single-record p99
    // latency (docs/BENCHMARKS.md).
    db.exec(`PRAGMA wal_autocheckpoint = ${defaultAutocheckpointPages};`);
    if (!options.readonly) {
      // Everything into the main file (where the shim checksums it), then every page checked:
      // damage anywhere in the file is found now, before anything is served from it.
      db.exec("PRAGMA wal_checkpoint(TRUNCATE);");
      const scan = scanPages(db);
      if (scan.bad > 0)
        throw indexDamaged(`${scan.bad} of ${scan.pages} pages fail their checksum (the first is page ${scan.firstBad})`);
    }
    // The version first: another format's tables may not take this format's schema statements.
    const hasMeta = db.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").get() !== null;
    const version = hasMeta
      ? (db.query("SELECT value FROM meta WHERE key = 'format_version'").get() as { value: number } | null)?.value
      : undefined;
    if (version !== undefined && version !== indexFormatVersion)
      throw new StemeError("index_version", `index ${path} has format ${version}, this build expects ${indexFormatVersion}`, {
        hint: "run `stemedb reindex` to rebuild it from the log",
      });
    if (!options.readonly) db.exec(schemaSql);
    const store = new IndexStore(db, path, options, found);
    if (version === undefined && !options.readonly) store.setMeta.run("format_version", indexFormatVersion);
    return store;
  }

  /**
   * Checkpoint the WAL on a thread of its own from now on (checkpointer.ts): after each batch
   * this connection commits, a worker's connection copies the WAL into the file, off the event
   * loop. This connection checkpoints itself only past `walBytesMax` of WAL (the bound that holds
   * if the worker stalls or fails), and a WAL file grown past it is cut back to it.
   */
  startCheckpointer(walBytesMax: number, intervalMs = 0): void {
    invariant(!this.readonly && this.checkpointer === null && !this.closed, "one checkpointer, on an open writable index");
    const pageSize = (this.sqlite.query("PRAGMA page_size").get() as { page_size: number }).page_size;
    const pages = Math.max(defaultAutocheckpointPages, Math.ceil(walBytesMax / pageSize));
    this.sqlite.exec(`PRAGMA wal_autocheckpoint = ${pages}; PRAGMA journal_size_limit = ${pages * pageSize};`);
    this.checkpointer = new IndexCheckpointer(this.path, {
      logger: this.logger,
      metrics: this.metrics,
      onDamage: (found) => this.reportDamage(found),
      intervalMs,
    });
  }

  /** The background checkpointer, when one runs (tests and benchmarks look at it). */
  get backgroundCheckpointer(): IndexCheckpointer | null {
    return this.checkpointer;
  }

  /** The damage found so far, or null while the index is sound. */
  get damaged(): StemeError | null {
    return this.damage;
  }

  assertSound(): void {
    if (this.damage !== null) throw this.damage;
  }

  /**
   * Damage was found (by SQLite, the page-checksum shim, or a record read from the log that
   * does not fit its row): from now on every read from the index is refused. Logged and
   * counted once; a marker makes the next start rebuild the index. Returns the error to throw.
   */
  reportDamage(found: string, cause?: unknown): StemeError {
    if (this.damage !== null) return this.damage;
    this.damage = indexDamaged(found, cause);
    const markerFailed = writeDamageMarker(this.path, found, this.now());
    this.logger.error("index: damage detected; reads from the index are refused until it is rebuilt", {
      found,
      path: this.path,
      remedy: "restart the server (it rebuilds a damaged index from the log at start) or stop it and run `stemedb reindex`",
      ...(markerFailed ? { marker_failed: markerFailed } : {}),
    });
    this.metrics?.indexDamageDetectedTotal.inc();
    this.metrics?.indexDamaged.set(1);
    return this.damage;
  }

  translate(err: unknown, doing: string): unknown {
    if (!isSqliteDamage(err)) return err;
    return this.reportDamage(`${err.code} (${err.message}) in: ${doing.replace(/\s+/g, " ").slice(0, 120)}`, err);
  }

  private readMeta(key: string): number | undefined {
    const row = this.sqlite.query("SELECT value FROM meta WHERE key = ?").get(key) as { value: number } | null;
    return row?.value;
  }

  /** Every record with an LSN at or below this is indexed. */
  get checkpointLsn(): number {
    return this.checkpoint;
  }

  /**
   * `fn` inside one read transaction, with `checkpointLsn` read again first: a reader that
   * another connection writes for (a query worker) sees one consistent cut of the index.
   */
  readAt<T>(fn: () => T): T {
    this.assertSound();
    this.sqlite.exec("BEGIN");
    try {
      this.checkpoint = this.readMeta("checkpoint_lsn") ?? 0;
      return fn();
    } finally {
      // An I/O error (a page failing its checksum) ends the transaction itself: its error is the one to see.
      if (this.sqlite.inTransaction) this.sqlite.exec("COMMIT");
    }
  }

  /**
   * `fn` of each item, in order, inside one read transaction (`readAt`): items that arrived
   * together (a query worker's queries of one turn) share one cut and one BEGIN/COMMIT. When
   * one ends the transaction (an I/O error does), the rest go on in a new one. `fn` handles its
   * own errors; one that escapes ends the call.
   */
  readAtEach<I, T>(items: readonly I[], fn: (item: I) => T): T[] {
    const out: T[] = [];
    while (out.length < items.length)
      this.readAt(() => {
        do out.push(fn(items[out.length] as I));
        while (out.length < items.length && this.sqlite.inTransaction);
      });
    return out;
  }

  private intern(table: InternTable, value: string, insertSql: string, selectSql: string, param: string | Uint8Array): number {
    let cache = this.internCache.get(table);
    if (!cache) {
      cache = new InternCache(this.internGenerationMax);
      this.internCache.set(table, cache);
    }
    const hit = cache.get(value);
    if (hit !== undefined) return hit;
    const values =
      table === "subjects" ? [param, reversePath(param as string), shardOf(param as string, this.shardCount)] : [param];
    // A new string's id is the row just inserted (`id` is the rowid); one interned before, and
    // since dropped from the bounded cache, is looked up.
    const inserted = this.sqlite.query(insertSql).run(...values);
    const id =
      inserted.changes === 1 ? Number(inserted.lastInsertRowid) : (this.sqlite.query(selectSql).get(param) as { id: number }).id;
    cache.set(value, id);
    return id;
  }

  /** Strings held by the intern caches, every table together (for tests and memory accounting). */
  get internedHeld(): number {
    let n = 0;
    for (const cache of this.internCache.values()) n += cache.size;
    return n;
  }

  private agentId(key: Uint8Array): number {
    return this.intern(
      "agents",
      Buffer.from(key).toString("latin1"),
      "INSERT OR IGNORE INTO agents (key) VALUES (?)",
      "SELECT id FROM agents WHERE key = ?",
      key,
    );
  }
  private subjectId(path: string): number {
    return this.intern(
      "subjects",
      path,
      "INSERT OR IGNORE INTO subjects (path, rpath, shard) VALUES (?, ?, ?)",
      "SELECT id FROM subjects WHERE path = ?",
      path,
    );
  }
  private predicateId(name: string): number {
    return this.intern(
      "predicates",
      name,
      "INSERT OR IGNORE INTO predicates (name) VALUES (?)",
      "SELECT id FROM predicates WHERE name = ?",
      name,
    );
  }
  private sourceId(name: string): number {
    return this.intern(
      "sources",
      name,
      "INSERT OR IGNORE INTO sources (name) VALUES (?)",
      "SELECT id FROM sources WHERE name = ?",
      name,
    );
  }

  /**
   * Index a batch in one transaction. Entries must continue the checkpoint without gaps: the
   * checkpoint promises that everything at or below it is indexed.
   */
  applyBatch(entries: readonly IndexEntry[]): void {
    if (entries.length === 0) return;
    this.assertSound(); // a damaged index is rebuilt, not added to
    const started = performance.now();
    for (let i = 0; i < entries.length; i++) {
      invariant(
        (entries[i] as IndexEntry).lsn === this.checkpoint + 1 + i,
        `index batch must continue at LSN ${this.checkpoint + 1 + i}`,
      );
    }
    const last = (entries[entries.length - 1] as IndexEntry).lsn;
    try {
      this.sqlite.transaction(() => {
        for (const e of entries) this.insertOne(e);
        this.setMeta.run("checkpoint_lsn", last);
      })();
    } catch (err) {
      // The rollback took back any rows interned in this batch; their cached ids would now
      // point at nothing (or, reused, at the wrong string). Forget them all.
      this.internCache.clear();
      throw this.translate(err, "indexing a batch");
    }
    // Only a committed batch enters the id table.
    for (const e of entries) this.ids.add(e.id, e.lsn);
    this.checkpoint = last;
    this.checkpointer?.notify();
    this.metrics?.indexOpSeconds.observe({ op: "apply_batch" }, (performance.now() - started) / 1000);
    this.metrics?.indexLsn.set(last);
  }

  private insertOne(e: IndexEntry): void {
    const r = e.record;
    let subject: number | null = null;
    let predicate: number | null = null;
    let source: number | null = null;
    if (r.kind === "assertion") {
      subject = this.subjectId(r.subject);
      predicate = this.predicateId(r.predicate);
      if (r.source !== undefined) source = this.sourceId(r.source);
    } else if (r.kind === "source" || r.kind === "source_retraction") {
      source = this.sourceId(r.source_id);
    }
    this.insertRecord.run(
      e.lsn,
      e.id,
      kindCodes[r.kind],
      this.agentId(r.agent),
      r.ts,
      subject,
      predicate,
      source,
      e.segment,
      e.offset,
      e.recordedAtMs,
    );
    if (r.kind === "assertion") {
      for (const dep of r.depends_on ?? []) this.insertRef.run(id8(dep), e.lsn, relCodes.depends_on, dep);
      if (r.supersedes) this.insertRef.run(id8(r.supersedes), e.lsn, relCodes.supersedes, r.supersedes);
    } else if (r.kind === "vote" || r.kind === "retraction" || r.kind === "review") {
      this.insertRef.run(id8(r.target), e.lsn, relCodes[r.kind], r.target);
    }
  }

  /**
   * Drop index rows past `lsn`: only when the log ends before the index (the log lost a tail
   * the index had seen). Returns how many rows went.
   */
  truncateAfter(lsn: number): number {
    let removed = 0;
    try {
      this.sqlite.transaction(() => {
        removed = this.sqlite.query("DELETE FROM records WHERE lsn > ?").run(lsn).changes;
        this.sqlite.query("DELETE FROM refs WHERE src > ?").run(lsn);
        this.setMeta.run("checkpoint_lsn", lsn);
      })();
    } catch (err) {
      throw this.translate(err, "dropping rows past the end of the log");
    }
    this.checkpoint = lsn;
    this.ids.dropAfter(lsn);
    if (removed > 0) this.logger.warn("index: dropped rows past the end of the log", { after_lsn: lsn, rows: removed });
    return removed;
  }

  /**
   * Where the record with this id is. The full id in the row settles the id table's prefix
   * match; the reader then checks BLAKE3 of the body it reads against it (Store.read).
   */
  lookupId(id: Uint8Array): RecordLocation | null {
    this.assertSound();
    for (const lsn of this.ids.candidates(id)) {
      const loc = this.locationByLsn(lsn);
      if (loc && bytesEqual(loc.id, id)) return loc;
    }
    return null;
  }

  /** Ids of records that reference `target` (votes, retractions, reviews, dependants). */
  referrers(target: Uint8Array, rel?: number): Array<{ lsn: number; rel: number }> {
    const rows = this.db
      .query("SELECT src, rel FROM refs WHERE dst8 = ? AND dst = ? ORDER BY src")
      .all(id8(target), target) as Array<{ src: number; rel: number }>;
    return rows.filter((r) => rel === undefined || r.rel === rel).map((r) => ({ lsn: r.src, rel: r.rel }));
  }

  /**
   * Where the records that reference any of `targets` are, with the relation and the target, in
   * a query per 512 targets (refs joined to records): what a query's gathering asks for every
   * assertion it reads. Each location says it was selected by that reference, so the record read
   * is checked against it (match.ts). IN lists are padded to a power of two, so a handful of
   * statements serve every size.
   */
  referrerLocationsOf(targets: readonly Uint8Array[]): Array<RecordLocation & { rel: number; target: Uint8Array }> {
    const out: Array<RecordLocation & { rel: number; target: Uint8Array }> = [];
    for (let i = 0; i < targets.length; i += referrersChunk) {
      const part = targets.slice(i, i + referrersChunk);
      const byKey = new Map<bigint, Uint8Array[]>();
      for (const t of part) {
        const k = id8(t);
        const list = byKey.get(k);
        if (list) list.push(t);
        else byKey.set(k, [t]);
      }
      const keys = [...byKey.keys()];
      let size = 1;
      while (size < keys.length) size *= 2;
      const padded = [...keys, ...Array<bigint>(size - keys.length).fill(keys[0] as bigint)];
      const rows = this.db
        .query(
          `SELECT f.dst, f.rel, r.lsn, r.id, r.kind, r.segment, r.offset, r.recorded_at FROM refs f JOIN records r ON r.lsn = f.src WHERE f.dst8 IN (${padded.map(() => "?").join(",")}) ORDER BY f.src`,
        )
        .all(...padded) as Array<LocationRow & { rel: number; dst: Uint8Array }>;
      for (const row of rows) {
        // dst8 is a prefix: the full id settles a collision.
        const target = byKey.get(id8(row.dst))?.find((t) => bytesEqual(t, row.dst));
        if (target === undefined) continue;
        out.push({ ...toLocation(row, { refersTo: { target, rel: row.rel } }), rel: row.rel, target });
      }
    }
    return out;
  }

  /** The row at `lsn`; `selectedBy` says what led to it (checked against the record read). */
  locationByLsn(lsn: number, selectedBy?: RecordMatch): RecordLocation | null {
    this.assertSound();
    let row: LocationRow | null;
    try {
      row = this.byLsn.get(lsn) as LocationRow | null;
    } catch (err) {
      throw this.translate(err, "reading a record row");
    }
    return row ? toLocation(row, selectedBy) : null;
  }

  countsByKind(): Record<string, number> {
    const rows = this.db.query("SELECT kind, count(*) AS n FROM records GROUP BY kind").all() as Array<{
      kind: number;
      n: number;
    }>;
    const out: Record<string, number> = {};
    for (const [name, code] of Object.entries(kindCodes)) out[name] = rows.find((r) => r.kind === code)?.n ?? 0;
    return out;
  }

  /**
   * Keep the id table for the next start (id-table-file.ts), once SQLite has closed the index:
   * the file records the index file as that left it. Not from a damaged index or a read-only
   * one; a failure costs the next start a build, nothing else.
   */
  private saveIds(): void {
    if (this.readonly || this.damage !== null || this.ids.size === 0) return;
    const started = performance.now();
    try {
      const identity = fileIdentity(this.path);
      if (identity === null) throw new Error("the index file is missing");
      writeIdTableFile(idTableFilePath(this.path), this.ids, this.checkpoint, identity);
      this.logger.info("index: id table kept for the next start", {
        records: this.ids.size,
        ms: Math.round(performance.now() - started),
      });
    } catch (err) {
      this.logger.warn("index: id table not kept; the next start builds it", { reason: (err as Error).message });
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    // Its connection closes first, so this one is the last: SQLite's final checkpoint then
    // empties and removes the WAL, as a clean stop always has.
    this.checkpointer?.stop();
    try {
      // Prepared statements left open would defer the close, and with it SQLite's final
      // checkpoint: the WAL would outlive a clean stop.
      for (const s of [this.insertRecord, this.insertRef, this.byLsn, this.setMeta]) s.finalize();
      this.sqlite.close();
    } catch {
      return; // closing twice is harmless
    }
    this.saveIds();
  }
}

/** A `records` row as the location queries select it. */
export interface LocationRow {
  lsn: number;
  id: Uint8Array;
  kind: number;
  segment: number;
  offset: number;
  recorded_at: number;
}

export function toLocation(row: LocationRow, selectedBy?: RecordMatch): RecordLocation {
  const loc: RecordLocation = {
    lsn: row.lsn,
    id: row.id,
    kind: row.kind,
    segment: row.segment,
    offset: row.offset,
    recordedAt: row.recorded_at,
  };
  if (selectedBy !== undefined) loc.selectedBy = selectedBy;
  return loc;
}

/** Refuses to open a file whose page 1 is damaged or written by a build without page checksums. */
function checkExistingHeader(path: string): void {
  let page1: Uint8Array;
  try {
    const fd = fs.openSync(path, "r");
    try {
      page1 = new Uint8Array(65536);
      page1 = page1.subarray(0, fs.readSync(fd, page1, 0, page1.length, 0));
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return; // absent (created on open) or unreadable (the open says why)
  }
  if (page1.length === 0) return;
  const verdict = checkHeader(page1);
  if (verdict.kind === "damaged") throw indexDamaged(`${path}: ${verdict.found}`);
  if (verdict.kind === "unchecksummed")
    throw new StemeError("index_version", `index ${path} was written without page checksums (an older index format)`, {
      hint: "run `stemedb reindex` to rebuild it from the log",
    });
}

function openFailed(path: string, cause: unknown): StemeError {
  return new StemeError("index_open_failed", `open index ${path}: ${(cause as Error).message}`, {
    hint: "the index is derived from the log: move the file aside and run `stemedb reindex`",
    cause,
  });
}

export function reversePath(path: string): string {
  return path.split("/").reverse().join("/");
}
