/**
 * The index: SQLite (WAL journal) over the log. One writer (the ingest pipeline) applies
 * batches of records in LSN order, each batch one transaction that also advances the
 * checkpoint LSN, so after a crash start-up replays only the log tail past the checkpoint.
 */
import { Database, type Statement } from "bun:sqlite";
import { invariant, StemeError } from "../core/errors.ts";
import type { Logger } from "../core/logger.ts";
import { silentLogger } from "../core/logger.ts";
import type { StemeRecord } from "../core/record.ts";
import type { Metrics } from "../metrics/index.ts";
import { bytesEqual } from "../core/hex.ts";
import { IdTable } from "./id-table.ts";
import { indexFormatVersion, kindCodes, relCodes, schemaSql } from "./schema.ts";

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
}

/** Where a record lives in the log, and what the index knows of it. */
export interface RecordLocation {
  lsn: number;
  id: Uint8Array;
  kind: number;
  segment: number;
  offset: number;
  recordedAt: number;
}

export interface IndexOptions {
  logger?: Logger;
  metrics?: Metrics;
  /** SQLite page cache, in KiB. */
  cacheKiB?: number;
  readonly?: boolean;
}

/** The first 8 bytes of an id as a signed 64-bit integer: the key of the `refs` table. */
export function id8(id: Uint8Array): bigint {
  return new DataView(id.buffer, id.byteOffset, 8).getBigInt64(0);
}

type InternTable = "agents" | "subjects" | "predicates" | "sources";

export class IndexStore {
  readonly db: Database;
  private readonly logger: Logger;
  private readonly metrics: Metrics | undefined;
  private readonly internCache = new Map<InternTable, Map<string, number>>();
  private readonly insertRecord: Statement;
  private readonly insertRef: Statement;
  private readonly byLsn: Statement;
  private readonly ids: IdTable;
  private readonly setMeta: Statement;
  private checkpoint: number;

  private constructor(db: Database, options: IndexOptions) {
    this.db = db;
    this.logger = options.logger ?? silentLogger;
    this.metrics = options.metrics;
    this.insertRecord = db.prepare(
      "INSERT INTO records (lsn, id, kind, agent, ts, subject, predicate, source, segment, offset, recorded_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
    );
    this.insertRef = db.prepare("INSERT OR IGNORE INTO refs (dst8, src, rel, dst) VALUES (?,?,?,?)");
    this.byLsn = db.prepare("SELECT lsn, id, kind, segment, offset, recorded_at FROM records WHERE lsn = ?");
    this.setMeta = db.prepare(
      "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    );
    this.checkpoint = this.readMeta("checkpoint_lsn") ?? 0;
    this.ids = this.loadIds();
  }

  /** Build the id table from the records table: ≈ 1–2 M rows a second. */
  private loadIds(): IdTable {
    const started = performance.now();
    const count = (this.db.query("SELECT count(*) AS n FROM records").get() as { n: number }).n;
    const table = new IdTable(count);
    for (const row of this.db.query("SELECT lsn, id FROM records").iterate() as IterableIterator<{
      lsn: number;
      id: Uint8Array;
    }>) {
      table.add(row.id, row.lsn);
    }
    if (count > 0)
      this.logger.info("index: id table loaded", {
        records: count,
        ms: Math.round(performance.now() - started),
        bytes: table.bytes,
      });
    return table;
  }

  static open(path: string, options: IndexOptions = {}): IndexStore {
    let db: Database;
    try {
      db = new Database(path, options.readonly ? { readonly: true } : { create: true, readwrite: true });
      db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA temp_store = MEMORY; PRAGMA busy_timeout = 5000;");
      db.exec(`PRAGMA cache_size = -${options.cacheKiB ?? 65536};`);
      // SQLite's own WAL checkpoint interval (~4 MiB). A 40 MiB interval was measured too: no
      // clear throughput gain, and each checkpoint stalled the event loop long enough to double
      // single-record p99 latency (docs/BENCHMARKS.md).
      db.exec("PRAGMA wal_autocheckpoint = 1000;");
      if (!options.readonly) db.exec(schemaSql);
    } catch (cause) {
      throw new StemeError("index_open_failed", `open index ${path}: ${(cause as Error).message}`, {
        hint: "the index is derived from the log: move the file aside and run `stemedb reindex`",
        cause,
      });
    }
    const store = new IndexStore(db, options);
    const version = store.readMeta("format_version");
    if (version === undefined && !options.readonly) store.setMeta.run("format_version", indexFormatVersion);
    else if (version !== undefined && version !== indexFormatVersion) {
      db.close();
      throw new StemeError("index_version", `index ${path} has format ${version}, this build expects ${indexFormatVersion}`, {
        hint: "run `stemedb reindex` to rebuild it from the log",
      });
    }
    return store;
  }

  private readMeta(key: string): number | undefined {
    const row = this.db.query("SELECT value FROM meta WHERE key = ?").get(key) as { value: number } | null;
    return row?.value;
  }

  /** Every record with an LSN at or below this is indexed. */
  get checkpointLsn(): number {
    return this.checkpoint;
  }

  private intern(table: InternTable, value: string, insertSql: string, selectSql: string, param: string | Uint8Array): number {
    let cache = this.internCache.get(table);
    if (!cache) {
      cache = new Map();
      this.internCache.set(table, cache);
    }
    const hit = cache.get(value);
    if (hit !== undefined) return hit;
    this.db.query(insertSql).run(...(table === "subjects" ? [param, reversePath(param as string)] : [param]));
    const row = this.db.query(selectSql).get(param) as { id: number };
    cache.set(value, row.id);
    return row.id;
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
      "INSERT OR IGNORE INTO subjects (path, rpath) VALUES (?, ?)",
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
    const started = performance.now();
    for (let i = 0; i < entries.length; i++) {
      invariant(
        (entries[i] as IndexEntry).lsn === this.checkpoint + 1 + i,
        `index batch must continue at LSN ${this.checkpoint + 1 + i}`,
      );
    }
    const last = (entries[entries.length - 1] as IndexEntry).lsn;
    try {
      this.db.transaction(() => {
        for (const e of entries) this.insertOne(e);
        this.setMeta.run("checkpoint_lsn", last);
      })();
    } catch (err) {
      // The rollback took back any rows interned in this batch; their cached ids would now
      // point at nothing (or, reused, at the wrong string). Forget them all.
      this.internCache.clear();
      throw err;
    }
    // Only a committed batch enters the id table.
    for (const e of entries) this.ids.add(e.id, e.lsn);
    this.checkpoint = last;
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
    this.db.transaction(() => {
      removed = this.db.query("DELETE FROM records WHERE lsn > ?").run(lsn).changes;
      this.db.query("DELETE FROM refs WHERE src > ?").run(lsn);
      this.setMeta.run("checkpoint_lsn", lsn);
    })();
    this.checkpoint = lsn;
    this.ids.dropAfter(lsn);
    if (removed > 0) this.logger.warn("index: dropped rows past the end of the log", { after_lsn: lsn, rows: removed });
    return removed;
  }

  lookupId(id: Uint8Array): RecordLocation | null {
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

  locationByLsn(lsn: number): RecordLocation | null {
    const row = this.byLsn.get(lsn) as LocationRow | null;
    return row ? toLocation(row) : null;
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

  close(): void {
    try {
      this.db.close();
    } catch {
      // closing twice is harmless
    }
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

export function toLocation(row: LocationRow): RecordLocation {
  return { lsn: row.lsn, id: row.id, kind: row.kind, segment: row.segment, offset: row.offset, recordedAt: row.recorded_at };
}

export function reversePath(path: string): string {
  return path.split("/").reverse().join("/");
}
