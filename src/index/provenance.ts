/**
 * Index queries for provenance: who cites a source, who depends on whom — batched, because a
 * retraction cascade may walk a hundred thousand dependants and one SQLite round trip per
 * assertion would cost seconds.
 */
import { toHex } from "../core/hex.ts";
import { kindCodes, relCodes } from "./schema.ts";
import { id8, type IndexStore } from "./store.ts";

/** An assertion as a provenance walk needs it: where it is and what it is about. */
export interface AssertionRow {
  lsn: number;
  id: Uint8Array;
  subject: string;
  predicate: string;
}

const chunk = 500;

function assertionRows(store: IndexStore, where: string, args: Array<number | string>): AssertionRow[] {
  return store.db
    .query(
      `SELECT r.lsn AS lsn, r.id AS id, s.path AS subject, p.name AS predicate
       FROM records r JOIN subjects s ON s.id = r.subject JOIN predicates p ON p.id = r.predicate
       WHERE ${where} ORDER BY r.lsn`,
    )
    .all(...args) as AssertionRow[];
}

/** Every assertion citing `source`, in log order. */
export function citingAssertions(store: IndexStore, source: string): AssertionRow[] {
  return assertionRows(store, `r.source = (SELECT id FROM sources WHERE name = ?) AND r.kind = ${kindCodes.assertion}`, [source]);
}

/** How many assertions cite `source`. */
export function citingCount(store: IndexStore, source: string): number {
  const row = store.db
    .query(
      `SELECT count(*) AS n FROM records WHERE source = (SELECT id FROM sources WHERE name = ?) AND kind = ${kindCodes.assertion}`,
    )
    .get(source) as { n: number };
  return row.n;
}

/** The assertions whose `depends_on` names any of `targets` (one batched query per 500 targets). */
export function dependantsOf(store: IndexStore, targets: readonly Uint8Array[]): AssertionRow[] {
  const out: AssertionRow[] = [];
  for (let i = 0; i < targets.length; i += chunk) {
    const part = targets.slice(i, i + chunk);
    const wanted = new Set(part.map(toHex));
    const keys = [...new Set(part.map(id8))];
    const refs = store.db
      .query(`SELECT dst, src FROM refs WHERE rel = ${relCodes.depends_on} AND dst8 IN (${keys.map(() => "?").join(",")})`)
      .all(...keys) as Array<{ dst: Uint8Array; src: number }>;
    // dst8 is a prefix: the full id settles a collision.
    const lsns = refs.filter((r) => wanted.has(toHex(r.dst))).map((r) => r.src);
    for (let j = 0; j < lsns.length; j += chunk) {
      const ls = lsns.slice(j, j + chunk);
      out.push(...assertionRows(store, `r.lsn IN (${ls.map(() => "?").join(",")})`, ls));
    }
  }
  return out;
}

/** Every source id the index has seen (registered or only cited), by name. */
export function sourceNames(store: IndexStore, after: string | undefined, limit: number): string[] {
  const rows = (
    after === undefined
      ? store.db.query("SELECT name FROM sources ORDER BY name LIMIT ?").all(limit)
      : store.db.query("SELECT name FROM sources WHERE name > ? ORDER BY name LIMIT ?").all(after, limit)
  ) as Array<{ name: string }>;
  return rows.map((r) => r.name);
}
