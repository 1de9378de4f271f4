/**
 * Listing records through the index: filters of docs/API.md#get-v1assertions (subject exact / prefix `a/b/*` /
 * tail `*\/b`, predicate, agent, source, kind, time range) with cursor pagination by LSN.
 */
import { invalid } from "../core/errors.ts";
import type { RecordMatch } from "./match.ts";
import { kindCodes, kindNames } from "./schema.ts";
import { type IndexStore, type LocationRow, type RecordLocation, toLocation } from "./store.ts";

export interface ListFilter {
  subject?: string;
  predicate?: string;
  agent?: Uint8Array;
  source?: string;
  kinds?: Array<keyof typeof kindCodes>;
  /** Inclusive bounds on the record's stated time `ts`, in ms. */
  since?: number;
  until?: number;
  /** Continue after this LSN (exclusive), in the direction of `order`. */
  afterLsn?: number;
  limit: number;
  order?: "asc" | "desc";
}

export interface ListPage {
  items: RecordLocation[];
  /** LSN to continue from, or null when this page is the last. */
  next: number | null;
}

/** A subject filter: exact path, `prefix/*` (descendants) or `*\/tail` (paths ending so). */
export type SubjectMatch = { kind: "exact"; path: string } | { kind: "prefix"; path: string } | { kind: "tail"; path: string };

export function parseSubjectMatch(pattern: string): SubjectMatch {
  if (pattern.endsWith("/*") && !pattern.startsWith("*/"))
    return { kind: "prefix", path: checkPattern(pattern.slice(0, -2), pattern) };
  if (pattern.startsWith("*/") && !pattern.endsWith("/*")) return { kind: "tail", path: checkPattern(pattern.slice(2), pattern) };
  return { kind: "exact", path: checkPattern(pattern, pattern) };
}

function checkPattern(path: string, pattern: string): string {
  if (path.length === 0 || path.includes("*") || path.split("/").some((s) => s.length === 0)) {
    throw invalid("invalid_query", `subject: "${pattern}" is not a path, "prefix/*" or "*/tail"`, { field: "subject" });
  }
  return path;
}

/** SQL for the subject ids a match selects. `/` is 0x2F, so `0` (0x30) bounds a prefix range. */
function subjectClause(match: SubjectMatch): { sql: string; params: string[] } {
  if (match.kind === "exact") return { sql: "r.subject = (SELECT id FROM subjects WHERE path = ?)", params: [match.path] };
  if (match.kind === "prefix")
    return {
      sql: "r.subject IN (SELECT id FROM subjects WHERE path >= ? AND path < ?)",
      params: [`${match.path}/`, `${match.path}0`],
    };
  const rtail = match.path.split("/").reverse().join("/");
  return { sql: "r.subject IN (SELECT id FROM subjects WHERE rpath >= ? AND rpath < ?)", params: [`${rtail}/`, `${rtail}0`] };
}

/** What a filter promises of every record it selects (checked when the record is read). */
function matchOf(filter: ListFilter, subject: SubjectMatch | undefined): RecordMatch {
  const m: RecordMatch = {};
  if (subject !== undefined) m.subject = subject;
  if (filter.predicate !== undefined) m.predicate = filter.predicate;
  if (filter.agent !== undefined) m.agent = filter.agent;
  if (filter.source !== undefined) m.source = filter.source;
  if (filter.kinds !== undefined && filter.kinds.length > 0) m.kinds = filter.kinds.map((k) => kindCodes[k]);
  if (filter.since !== undefined) m.since = filter.since;
  if (filter.until !== undefined) m.until = filter.until;
  return m;
}

/** The WHERE terms of a filter (all but the cursor), with their parameters. */
export function filterClauses(filter: Omit<ListFilter, "limit">): {
  where: string[];
  params: Array<string | number | Uint8Array>;
  match: RecordMatch;
} {
  const where: string[] = [];
  const params: Array<string | number | Uint8Array> = [];
  const subject = filter.subject !== undefined ? parseSubjectMatch(filter.subject) : undefined;
  if (subject !== undefined) {
    const clause = subjectClause(subject);
    where.push(clause.sql);
    params.push(...clause.params);
  }
  if (filter.predicate !== undefined) {
    where.push("r.predicate = (SELECT id FROM predicates WHERE name = ?)");
    params.push(filter.predicate);
  }
  if (filter.agent !== undefined) {
    where.push("r.agent = (SELECT id FROM agents WHERE key = ?)");
    params.push(filter.agent);
  }
  if (filter.source !== undefined) {
    where.push("r.source = (SELECT id FROM sources WHERE name = ?)");
    params.push(filter.source);
  }
  if (filter.kinds !== undefined && filter.kinds.length > 0) {
    where.push(`r.kind IN (${filter.kinds.map((k) => kindCodes[k]).join(",")})`);
  }
  if (filter.since !== undefined) {
    where.push("r.ts >= ?");
    params.push(filter.since);
  }
  if (filter.until !== undefined) {
    where.push("r.ts <= ?");
    params.push(filter.until);
  }
  return { where, params, match: matchOf(filter as ListFilter, subject) };
}

/**
 * One page of the records a filter selects, as locations: each carries the filter
 * (`selectedBy`), and Store.read checks the record it reads from the log against it.
 */
export function listRecords(store: IndexStore, filter: ListFilter): ListPage {
  const { where, params, match } = filterClauses(filter);
  const desc = filter.order === "desc";
  if (filter.afterLsn !== undefined) {
    where.push(desc ? "r.lsn < ?" : "r.lsn > ?");
    params.push(filter.afterLsn);
  }
  const sql = `SELECT r.lsn, r.id, r.kind, r.segment, r.offset, r.recorded_at FROM records r${where.length ? ` WHERE ${where.join(" AND ")}` : ""} ORDER BY r.lsn ${desc ? "DESC" : "ASC"} LIMIT ${filter.limit + 1}`;
  const rows = store.db.query(sql).all(...params) as LocationRow[];
  const more = rows.length > filter.limit;
  const page = more ? rows.slice(0, filter.limit) : rows;
  return {
    items: page.map((row) => toLocation(row, match)),
    next: more ? (page[page.length - 1]?.lsn ?? null) : null,
  };
}

export interface ConceptNode {
  path: string;
  segment: string;
  /** Whether records are filed under exactly this path. */
  is_subject: boolean;
  /** Distinct subjects at or below this path. */
  subjects: number;
}

/** Bounds how many subject rows one browse scans. */
export const conceptScanRowsMax = 200_000;

/** The children of a concept path (the roots when `prefix` is empty). */
export function browseConcepts(
  store: IndexStore,
  prefix: string,
  limit: number,
): { prefix: string; concepts: ConceptNode[]; truncated: boolean } {
  const clean = prefix.replace(/\/+$/, "");
  if (clean !== "" && clean.split("/").some((s) => s.length === 0))
    throw invalid("invalid_query", `prefix: "${prefix}" is not a concept path`, { field: "prefix" });
  const rows = (
    clean === ""
      ? store.db.query(`SELECT path FROM subjects ORDER BY path LIMIT ${conceptScanRowsMax + 1}`).all()
      : store.db
          .query(`SELECT path FROM subjects WHERE path >= ? AND path < ? ORDER BY path LIMIT ${conceptScanRowsMax + 1}`)
          .all(`${clean}/`, `${clean}0`)
  ) as Array<{ path: string }>;
  const truncated = rows.length > conceptScanRowsMax;
  const children = new Map<string, ConceptNode>();
  const base = clean === "" ? 0 : clean.length + 1;
  for (const { path } of rows.slice(0, conceptScanRowsMax)) {
    const rest = path.slice(base);
    const slash = rest.indexOf("/");
    const segment = slash === -1 ? rest : rest.slice(0, slash);
    const childPath = clean === "" ? segment : `${clean}/${segment}`;
    let node = children.get(segment);
    if (!node) {
      node = { path: childPath, segment, is_subject: false, subjects: 0 };
      children.set(segment, node);
    }
    node.subjects++;
    if (slash === -1) node.is_subject = true;
  }
  return { prefix: clean, concepts: [...children.values()].slice(0, limit), truncated: truncated || children.size > limit };
}

/** Bounds how many predicates one subject view resolves. */
export const subjectPredicatesMax = 500;

/** The distinct predicates asserted about exactly `subject`, by name. */
export function predicatesOf(store: IndexStore, subject: string): string[] {
  const rows = store.db
    .query(
      `SELECT DISTINCT p.name FROM records r JOIN predicates p ON p.id = r.predicate
       WHERE r.subject = (SELECT id FROM subjects WHERE path = ?) ORDER BY p.name LIMIT ${subjectPredicatesMax}`,
    )
    .all(subject) as Array<{ name: string }>;
  return rows.map((r) => r.name);
}

/** How many records of each kind an agent signed; null when the index holds none. */
export function agentCounts(store: IndexStore, key: Uint8Array): Record<string, number> | null {
  const rows = store.db
    .query("SELECT kind, count(*) AS n FROM records WHERE agent = (SELECT id FROM agents WHERE key = ?) GROUP BY kind")
    .all(key) as Array<{ kind: number; n: number }>;
  if (rows.length === 0) return null;
  const out: Record<string, number> = {};
  for (const name of kindNames) out[name] = 0;
  for (const r of rows) out[kindNames[r.kind] as string] = r.n;
  return out;
}

/** Every agent key that signed a record, as hex, in key order. */
export function agentKeys(store: IndexStore): string[] {
  const rows = store.db.query("SELECT key FROM agents ORDER BY key").all() as Array<{ key: Uint8Array }>;
  return rows.map((r) => Buffer.from(r.key).toString("hex"));
}
