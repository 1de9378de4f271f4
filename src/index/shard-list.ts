/**
 * The index by shard (docs/CLUSTER.md#shard-aware-storage): the ids a cluster node holds in
 * one shard or among its global records (what its Merkle trees are built from), and listings
 * restricted to a set of shards in the one order every replica shares.
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

export interface ShardListFilter extends Omit<ListFilter, "afterLsn" | "order"> {
  /** Assertions filed under these shards… */
  shards: readonly number[];
  /** …and, when true, records of the global kinds (every kind but assertion). */
  globals: boolean;
  after?: TsIdPosition;
  order?: "asc" | "desc";
}

/** A listed record's location with its place in `(ts, id)` order. */
export type ShardListItem = RecordLocation & { ts: number };

export interface ShardListPage {
  items: ShardListItem[];
  /** More records follow the last item. */
  more: boolean;
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

/** The SQL term selecting assertions of `shards` and, optionally, global records; null when it selects nothing. */
function placeClause(filter: ShardListFilter): string | null {
  const terms: string[] = [];
  if (filter.shards.length > 0) {
    for (const s of filter.shards)
      if (!(Number.isSafeInteger(s) && s >= 0)) throw new RangeError(`a shard is an integer ≥ 0, got ${s}`);
    terms.push(
      `(r.kind = ${kindCodes.assertion} AND r.subject IN (SELECT id FROM subjects WHERE shard IN (${filter.shards.join(",")})))`,
    );
  }
  if (filter.globals) terms.push(`r.kind != ${kindCodes.assertion}`);
  if (terms.length === 0) return null;
  return terms.length === 1 ? (terms[0] as string) : `(${terms.join(" OR ")})`;
}

/** One page of what `filter` selects among the given shards (and globals), in `(ts, id)` order. */
export function listByShards(index: IndexStore, filter: ShardListFilter): ShardListPage {
  const place = placeClause(filter);
  if (place === null) return { items: [], more: false };
  const { where, params, match } = filterClauses(filter);
  where.push(place);
  const desc = filter.order === "desc";
  if (filter.after !== undefined) {
    where.push(desc ? "(r.ts, r.id) < (?, ?)" : "(r.ts, r.id) > (?, ?)");
    params.push(filter.after.ts, filter.after.id);
  }
  const dir = desc ? "DESC" : "ASC";
  const sql = `SELECT r.lsn, r.id, r.kind, r.segment, r.offset, r.recorded_at, r.ts FROM records r WHERE ${where.join(" AND ")} ORDER BY r.ts ${dir}, r.id ${dir} LIMIT ${filter.limit + 1}`;
  const rows = index.db.query(sql).all(...params) as Array<LocationRow & { ts: number }>;
  const more = rows.length > filter.limit;
  const page = more ? rows.slice(0, filter.limit) : rows;
  return { items: page.map((row) => ({ ...toLocation(row, match), ts: row.ts })), more };
}
