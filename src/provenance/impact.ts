/**
 * What falls when a source is withdrawn (docs/PROVENANCE.md#retraction-cascade): every assertion citing it is flagged
 * `source_retracted`, and every assertion whose `depends_on` reaches a flagged one, however
 * many steps away, is flagged `cascade`. The same walk answers the dry run
 * (`GET /v1/sources/:id/impact`) and the report of a retraction.
 *
 * A breadth-first walk over the `depends_on` edges backwards, a level at a time, with one
 * batched index query per 500 assertions of a level; each assertion is visited once, so
 * cycles end. The order of the report is fixed — the citing assertions in log order, then
 * the cascade by depth and log order — so pages are stable.
 */
import { toHex } from "../core/hex.ts";
import { type AssertionRow, citingAssertions, dependantsOf } from "../index/provenance.ts";
import type { IndexStore } from "../index/store.ts";

export interface ImpactItem {
  id: string;
  flag: "source_retracted" | "cascade";
  subject: string;
  predicate: string;
  /** 0 for a citing assertion; n for one n `depends_on` steps from a citing one. */
  depth: number;
}

export interface Impact {
  source_retracted: number;
  cascade: number;
  total: number;
  items: ImpactItem[];
}

export function computeImpact(index: IndexStore, sourceId: string): Impact {
  const seen = new Set<string>();
  const items: ImpactItem[] = [];
  const visit = (rows: readonly AssertionRow[], flag: ImpactItem["flag"], depth: number): AssertionRow[] => {
    const fresh: AssertionRow[] = [];
    for (const row of rows) {
      const id = toHex(row.id);
      if (seen.has(id)) continue;
      seen.add(id);
      fresh.push(row);
      items.push({ id, flag, subject: row.subject, predicate: row.predicate, depth });
    }
    return fresh;
  };
  let level = visit(citingAssertions(index, sourceId), "source_retracted", 0);
  const citing = items.length;
  for (let depth = 1; level.length > 0; depth++) {
    const next = dependantsOf(
      index,
      level.map((r) => r.id),
    ).sort((a, b) => a.lsn - b.lsn);
    level = visit(next, "cascade", depth);
  }
  return { source_retracted: citing, cascade: items.length - citing, total: items.length, items };
}

/** A page of an impact report: `offset` from a cursor, at most `limit` items. */
export function impactPage(impact: Impact, offset: number, limit: number) {
  const items = impact.items.slice(offset, offset + limit);
  const next = offset + items.length < impact.items.length ? String(offset + items.length) : null;
  return {
    source_retracted: impact.source_retracted,
    cascade: impact.cascade,
    total: impact.total,
    items,
    next_cursor: next,
  };
}
