/**
 * The index by shard (docs/CLUSTER.md#shard-aware-storage): the ids a cluster node holds in
 * one shard or among its global records (what its Merkle trees are built from), and listings in
 * the one order every replica shares.
 *
 * A log position (LSN) is node-local: two replicas hold the same records at different LSNs.
 * So a listing gathered from several nodes cannot page by LSN; it pages by `(ts, id)` — the
 * record's stated time, then its id — which every node computes alike from the record alone.
 * `records_ts` gives the order by `ts`; SQLite sorts the ties by id ("USE TEMP B-TREE FOR RIGHT
 * PART OF ORDER BY"), which costs only where many records share one `ts`.
 */
import { kindCodes, relCodes } from "./schema.ts";
import { filterClauses, type ListFilter } from "./list.ts";
import type { IndexStore, LocationRow, RecordLocation } from "./store.ts";
import { toLocation } from "./store.ts";

/** A position in `(ts, id)` order: continue strictly after it. */
export interface TsIdPosition {
  ts: number;
  id: Uint8Array;
}

export interface PositionListFilter extends Omit<ListFilter, "afterLsn" | "order"> {
  after?: TsIdPosition;
  order?: "asc" | "desc";
}

/** A listed record's location with its place in `(ts, id)` order. */
export type PositionListItem = RecordLocation & { ts: number };

export interface PositionListPage {
  items: PositionListItem[];
  /** More records follow the last item. */
  more: boolean;
}

/** The shards this index files subjects under (a subject is interned only with a record about it). */
export function shardsOnDisk(index: IndexStore): number[] {
  const rows = index.db.query("SELECT DISTINCT shard FROM subjects ORDER BY shard").all() as Array<{ shard: number }>;
  return rows.map((r) => r.shard);
}

/** The ids of the assertions filed under `shard` (indexed ones: the caller adds what is pending). */
export function shardIds(index: IndexStore, shard: number): Uint8Array[] {
  const rows = index.db
    .query("SELECT r.id FROM records r WHERE r.subject IN (SELECT id FROM subjects WHERE shard = ?)")
    .all(shard) as Array<{ id: Uint8Array }>;
  return rows.map((r) => r.id);
}

/**
 * The ids of every indexed record a cluster keeps on every node: the global kinds, assertions
 * that supersede another, and assertions on the given (subject, predicate) pairs (src/cluster/data/references.ts).
 */
export function globalIds(index: IndexStore, pairs: ReadonlyArray<readonly [string, string]> = []): Uint8Array[] {
  const rows = index.db
    .query(
      `SELECT id FROM records WHERE kind != ${kindCodes.assertion}
       UNION SELECT r.id FROM records r WHERE r.lsn IN (SELECT src FROM refs WHERE rel = ${relCodes.supersedes})`,
    )
    .all() as Array<{ id: Uint8Array }>;
  const pair = index.db.query(
    `SELECT id FROM records WHERE subject = (SELECT id FROM subjects WHERE path = ?)
       AND predicate = (SELECT id FROM predicates WHERE name = ?) AND kind = ${kindCodes.assertion}`,
  );
  for (const [subject, predicate] of pairs) rows.push(...(pair.all(subject, predicate) as Array<{ id: Uint8Array }>));
  return rows.map((r) => r.id);
}

/**
 * One page of what `filter` selects among every record this node holds, in `(ts, id)` order. A
 * cluster listing asks each of a set of nodes that together hold every shard in sync for its
 * first records and merges them (src/cluster/data/gather.ts): what a node holds beyond its
 * shards is genuine too, so no shard clause is needed — which spares a listing the subjects of
 * every shard it touches.
 */
export function listByPosition(index: IndexStore, filter: PositionListFilter): PositionListPage {
  const { where, params, match } = filterClauses(filter);
  const desc = filter.order === "desc";
  if (filter.after !== undefined) {
    where.push(desc ? "(r.ts, r.id) < (?, ?)" : "(r.ts, r.id) > (?, ?)");
    params.push(filter.after.ts, filter.after.id);
  }
  const dir = desc ? "DESC" : "ASC";
  const sql = `SELECT r.lsn, r.id, r.kind, r.segment, r.offset, r.recorded_at, r.ts FROM records r${where.length > 0 ? ` WHERE ${where.join(" AND ")}` : ""} ORDER BY r.ts ${dir}, r.id ${dir} LIMIT ${filter.limit + 1}`;
  const rows = index.db.query(sql).all(...params) as Array<LocationRow & { ts: number }>;
  const more = rows.length > filter.limit;
  const page = more ? rows.slice(0, filter.limit) : rows;
  return { items: page.map((row) => ({ ...toLocation(row, match), ts: row.ts })), more };
}
