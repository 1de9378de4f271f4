/**
 * The query audit trail (docs/SEMANTICS.md#the-query-audit-trail): every query answered — who asked, which lens, the
 * parameters, the winner, κ, the log position — kept in its own SQLite file,
 * `<data-dir>/audit.sqlite`, next to (not inside) the index: the index is derived from the log
 * and may be dropped and rebuilt, the audit trail cannot.
 *
 * Hot reads answer 40,000 queries a second, and an SQLite insert costs about 10 µs: a row per
 * query would take a third of the loop. So the request path appends to a buffer, and every
 * `flushIntervalMs` (or when the buffer fills) the buffer is written as **one row**: a JSON
 * array of entries with the batch's time range and count. Reads decode batches newest first
 * and filter; the time range lets `since`/`until` skip whole batches. A crash loses at most
 * the last interval. Retention is bounded by entry count and by age, pruned a batch at a time.
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
  /** as_of, valid_at, tolerance, include, layers, fresh, escalate — whichever were given. */
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
  /** Continue after this cursor (paging backwards, newest first). */
  cursor?: string;
  limit: number;
}

export interface AuditRetention {
  entriesMax: number;
  ageMaxMs: number;
}

export interface AuditPage {
  items: Array<Record<string, unknown>>;
  /** Opaque; null on the last page. */
  next: string | null;
}

export const auditRetentionDefault: AuditRetention = { entriesMax: 1_000_000, ageMaxMs: 30 * 24 * 3600 * 1000 };
const flushIntervalMs = 250;
const bufferEntriesMax = 10_000;
/** Recorded values longer than this (as JSON) are cut; the winner id leads to the full record. */
export const auditValueCharsMax = 256;

const schema = `
CREATE TABLE IF NOT EXISTS query_batches (
  seq INTEGER PRIMARY KEY,
  at_min INTEGER NOT NULL,
  at_max INTEGER NOT NULL,
  n INTEGER NOT NULL,
  entries TEXT NOT NULL
) STRICT;`;

/**
 * One stored entry, as a tuple (JSON arrays encode and decode faster than objects with keys):
 * at, caller, request_id, subject, predicate, lens, params, winner, value, conflict, support,
 * lsn, from_view (1 or 0).
 */
type StoredEntry = [
  number,
  string,
  string | null,
  string,
  string,
  string,
  Record<string, unknown>,
  string | null,
  unknown,
  number,
  number,
  number,
  0 | 1,
];

function publicEntry(seq: string, e: StoredEntry): Record<string, unknown> {
  return {
    seq,
    at: new Date(e[0]).toISOString(),
    caller: e[1],
    request_id: e[2],
    subject: e[3],
    predicate: e[4],
    lens: e[5],
    params: e[6],
    winner: e[7],
    value: e[8],
    conflict: e[9],
    support: e[10],
    lsn: e[11],
    from_view: e[12] === 1,
  };
}

/** A value as recorded: small scalars as they are, anything whose JSON is too long cut to text. */
function recordedValue(v: unknown): unknown {
  if (v === undefined) return null;
  if (v === null || typeof v === "number" || typeof v === "boolean") return v;
  if (typeof v === "string" && v.length < auditValueCharsMax / 2) return v;
  const text = JSON.stringify(v);
  return text.length > auditValueCharsMax ? text.slice(0, auditValueCharsMax) : v;
}

export class QueryAuditLog {
  private buffer: StoredEntry[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  private readonly insert: Statement;
  private entries: number;

  private constructor(
    private readonly db: Database,
    private readonly retention: AuditRetention,
    private readonly now: () => number,
    private readonly logger: Logger,
  ) {
    this.insert = db.prepare("INSERT INTO query_batches (at_min, at_max, n, entries) VALUES (?, ?, ?, ?)");
    this.entries = (db.query("SELECT coalesce(sum(n), 0) AS n FROM query_batches").get() as { n: number }).n;
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

  /** Buffers one entry; it is written within `flushIntervalMs`. */
  record(e: QueryAuditEntry): void {
    this.buffer.push([
      e.at,
      e.caller,
      e.requestId,
      e.subject,
      e.predicate,
      e.lens,
      e.params,
      e.winner,
      recordedValue(e.value),
      e.conflict,
      e.support,
      e.lsn,
      e.fromView ? 1 : 0,
    ]);
    if (this.buffer.length >= bufferEntriesMax) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), flushIntervalMs);
  }

  /** Writes the buffer as one batch and prunes past the retention bounds. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.buffer.length === 0) return;
    const batch = this.buffer;
    this.buffer = [];
    let atMin = Number.POSITIVE_INFINITY;
    let atMax = Number.NEGATIVE_INFINITY;
    for (const e of batch) {
      if (e[0] < atMin) atMin = e[0];
      if (e[0] > atMax) atMax = e[0];
    }
    try {
      this.insert.run(atMin, atMax, batch.length, JSON.stringify(batch));
      this.entries += batch.length;
      if (this.entries > this.retention.entriesMax) this.prune();
    } catch (err) {
      // The audit trail must not take queries down; the loss is logged loudly.
      this.logger.error("query audit write failed; entries lost", { entries: batch.length, err: err as Error });
    }
  }

  /**
   * Drops whole batches, oldest first, while the rest still hold `entriesMax` entries, and
   * every batch whose newest entry is past the age bound.
   */
  prune(): number {
    const cutoff = this.now() - this.retention.ageMaxMs;
    let dropped = this.db.query("DELETE FROM query_batches WHERE at_max < ?").run(cutoff).changes;
    const rows = this.db.query("SELECT seq, n FROM query_batches ORDER BY seq").all() as Array<{ seq: number; n: number }>;
    let total = rows.reduce((s, r) => s + r.n, 0);
    let upTo = 0;
    for (const r of rows) {
      if (total - r.n < this.retention.entriesMax) break;
      total -= r.n;
      upTo = r.seq;
    }
    if (upTo > 0) dropped += this.db.query("DELETE FROM query_batches WHERE seq <= ?").run(upTo).changes;
    this.entries = total;
    return dropped;
  }

  /** Newest first; sees every entry recorded before the call. */
  list(filter: AuditFilter): AuditPage {
    this.flush();
    const from = parseCursor(filter.cursor);
    const where: string[] = [];
    const args: number[] = [];
    const bound = (clause: string, v: number | undefined) => {
      if (v === undefined) return;
      where.push(clause);
      args.push(v);
    };
    bound("seq <= ?", from?.batch);
    bound("at_max >= ?", filter.since);
    bound("at_min <= ?", filter.until);
    const stmt = this.db.query(
      `SELECT seq, entries FROM query_batches ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY seq DESC`,
    );
    const items: Array<Record<string, unknown>> = [];
    for (const row of stmt.iterate(...args) as IterableIterator<{ seq: number; entries: string }>) {
      const entries = JSON.parse(row.entries) as StoredEntry[];
      let i = from && row.seq === from.batch ? from.index - 1 : entries.length - 1;
      for (; i >= 0; i--) {
        const e = entries[i] as StoredEntry;
        if (!matches(e, filter)) continue;
        if (items.length === filter.limit) return { items, next: `${row.seq}.${i + 1}` };
        items.push(publicEntry(`${row.seq}.${i}`, e));
      }
    }
    return { items, next: null };
  }

  close(): void {
    this.flush();
    this.db.close();
  }
}

function matches(e: StoredEntry, f: AuditFilter): boolean {
  return (
    (f.subject === undefined || e[3] === f.subject) &&
    (f.predicate === undefined || e[4] === f.predicate) &&
    (f.lens === undefined || e[5] === f.lens) &&
    (f.caller === undefined || e[1] === f.caller) &&
    (f.since === undefined || e[0] >= f.since) &&
    (f.until === undefined || e[0] <= f.until)
  );
}

/** `batch.index`: continue with entries of `batch` before `index`, then older batches. */
function parseCursor(raw: string | undefined): { batch: number; index: number } | null {
  if (raw === undefined) return null;
  const m = /^(\d{1,15})\.(\d{1,6})$/.exec(raw);
  if (!m) return null;
  return { batch: Number(m[1]), index: Number(m[2]) };
}

/** Whether `raw` is a cursor `list` issued. */
export function isAuditCursor(raw: string): boolean {
  return /^\d{1,15}\.\d{1,6}$/.test(raw);
}
