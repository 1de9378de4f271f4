/**
 * The query audit trail (SPEC §4): every query answered — who asked, which lens, the
 * parameters, the winner, κ, the log position — kept in its own SQLite file,
 * `<data-dir>/audit.sqlite`, next to (not inside) the index: the index is derived from the log
 * and may be dropped and rebuilt, the audit trail cannot.
 *
 * Entries are buffered and written in one transaction every `flushIntervalMs` (or when the
 * buffer fills), off the request path; a crash can lose at most that interval. Retention is
 * bounded by count and by age, pruned as entries are written.
 */
import { Database, type Statement } from "bun:sqlite";
import { type Logger, silentLogger } from "../core/logger.ts";

export interface QueryAuditEntry {
  /** ms since the epoch. */
  at: number;
  /** Who asked: the API key id once keys exist, else the client's address. */
  caller: string;
  requestId: string | null;
  subject: string;
  predicate: string;
  lens: string;
  /** as_of, valid_at, tolerance, include, layers, fresh — whichever were given. */
  params: Record<string, unknown>;
  winner: string | null;
  value: unknown;
  conflict: number;
  support: number;
  lsn: number;
  fromView: boolean;
}

export interface AuditFilter {
  subject?: string;
  predicate?: string;
  lens?: string;
  caller?: string;
  since?: number;
  until?: number;
  /** Entries older than this sequence number (paging backwards, newest first). */
  beforeSeq?: number;
  limit: number;
}

export interface AuditRetention {
  entriesMax: number;
  ageMaxMs: number;
}

export const auditRetentionDefault: AuditRetention = { entriesMax: 1_000_000, ageMaxMs: 30 * 24 * 3600 * 1000 };
const flushIntervalMs = 250;
const bufferEntriesMax = 10_000;
/** Recorded values longer than this are cut (the winner id leads to the full record). */
const valueCharsMax = 256;

const schema = `
CREATE TABLE IF NOT EXISTS queries (
  seq INTEGER PRIMARY KEY,
  at INTEGER NOT NULL,
  caller TEXT NOT NULL,
  request_id TEXT,
  subject TEXT NOT NULL,
  predicate TEXT NOT NULL,
  lens TEXT NOT NULL,
  params TEXT NOT NULL,
  winner TEXT,
  value TEXT,
  conflict REAL NOT NULL,
  support REAL NOT NULL,
  lsn INTEGER NOT NULL,
  from_view INTEGER NOT NULL
) STRICT;`;

export class QueryAuditLog {
  private buffer: QueryAuditEntry[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  private readonly insert: Statement;
  private readonly logger: Logger;
  private written = 0;

  private constructor(
    private readonly db: Database,
    private readonly retention: AuditRetention,
    private readonly now: () => number,
    logger: Logger,
  ) {
    this.logger = logger;
    this.insert = db.prepare(
      "INSERT INTO queries (at, caller, request_id, subject, predicate, lens, params, winner, value, conflict, support, lsn, from_view) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
    );
  }

  static open(path: string, options: { retention?: AuditRetention; now?: () => number; logger?: Logger } = {}): QueryAuditLog {
    const db = new Database(path, { create: true, strict: true });
    db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;");
    db.exec(schema);
    return new QueryAuditLog(
      db,
      options.retention ?? auditRetentionDefault,
      options.now ?? Date.now,
      options.logger ?? silentLogger,
    );
  }

  /** Buffers one entry; written within `flushIntervalMs`. */
  record(entry: QueryAuditEntry): void {
    this.buffer.push(entry);
    if (this.buffer.length >= bufferEntriesMax) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), flushIntervalMs);
  }

  /** Writes the buffer and prunes past the retention bounds. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.buffer.length === 0) return;
    const batch = this.buffer;
    this.buffer = [];
    try {
      this.db.transaction(() => {
        for (const e of batch) {
          const value = e.value === undefined ? null : JSON.stringify(e.value);
          this.insert.run(
            e.at,
            e.caller,
            e.requestId,
            e.subject,
            e.predicate,
            e.lens,
            JSON.stringify(e.params),
            e.winner,
            value === null ? null : value.slice(0, valueCharsMax),
            e.conflict,
            e.support,
            e.lsn,
            e.fromView ? 1 : 0,
          );
        }
      })();
      this.written += batch.length;
      if (this.written >= Math.max(1000, this.retention.entriesMax / 10)) this.prune();
    } catch (err) {
      // The audit trail must not take queries down; the loss is logged loudly.
      this.logger.error("query audit write failed; entries lost", { entries: batch.length, err: err as Error });
    }
  }

  /** Drops entries past the count bound and older than the age bound. */
  prune(): number {
    this.written = 0;
    const max = this.db.query<{ m: number | null }, []>("SELECT max(seq) AS m FROM queries").get()?.m ?? 0;
    const byCount = this.db.query("DELETE FROM queries WHERE seq <= ?").run(max - this.retention.entriesMax).changes;
    const byAge = this.db.query("DELETE FROM queries WHERE at < ?").run(this.now() - this.retention.ageMaxMs).changes;
    return byCount + byAge;
  }

  /** Newest first; `next` pages further back. */
  list(filter: AuditFilter): { items: Array<Record<string, unknown>>; next: number | null } {
    this.flush();
    const where: string[] = [];
    const args: Array<string | number> = [];
    const eq = (column: string, v: string | undefined) => {
      if (v === undefined) return;
      where.push(`${column} = ?`);
      args.push(v);
    };
    eq("subject", filter.subject);
    eq("predicate", filter.predicate);
    eq("lens", filter.lens);
    eq("caller", filter.caller);
    const bound = (clause: string, v: number | undefined) => {
      if (v === undefined) return;
      where.push(clause);
      args.push(v);
    };
    bound("at >= ?", filter.since);
    bound("at <= ?", filter.until);
    bound("seq < ?", filter.beforeSeq);
    const sql = `SELECT * FROM queries ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY seq DESC LIMIT ?`;
    const rows = this.db.query<Record<string, unknown>, Array<string | number>>(sql).all(...args, filter.limit + 1);
    const more = rows.length > filter.limit;
    const items = rows.slice(0, filter.limit).map(publicEntry);
    return { items, next: more ? (items.at(-1)?.seq as number) : null };
  }

  close(): void {
    this.flush();
    this.db.close();
  }
}

function publicEntry(row: Record<string, unknown>): Record<string, unknown> {
  return {
    seq: row.seq,
    at: new Date(row.at as number).toISOString(),
    caller: row.caller,
    request_id: row.request_id,
    subject: row.subject,
    predicate: row.predicate,
    lens: row.lens,
    params: JSON.parse(row.params as string),
    winner: row.winner,
    value: row.value === null ? null : tryParse(row.value as string),
    conflict: row.conflict,
    support: row.support,
    lsn: row.lsn,
    from_view: row.from_view === 1,
  };
}

function tryParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text; // cut at valueCharsMax
  }
}
