/**
 * What goes into a bundle: the assertions a selection matches, and their provenance closure —
 * everything a reader needs to check where each claim came from and to derive the same
 * lifecycle from the bundle alone (docs/SEMANTICS.md#lifecycle-flags, §5):
 *
 * - the transitive `depends_on` closure of every included assertion (cycle-safe: each record
 *   enters once; bounded at `closureDepthMax` hops);
 * - the records that target an included assertion — votes, retractions, reviews — and the
 *   assertions that supersede it, which are included assertions in turn (their own
 *   retractions decide whether the supersession counts);
 * - the `source` and `source_retraction` records of every source an included assertion cites;
 * - every `epoch` record (few, and any of them may supersede another).
 *
 * Dependants of an included assertion are not pulled in: provenance flows from a claim to what
 * it rests on. The closure is taken at one log position (`lsn`): records indexed after it are
 * left out even if the walk meets them, so the manifest describes one point in the log.
 */
import { StemeError } from "../core/errors.ts";
import { toHex } from "../core/hex.ts";
import { listRecords, type ListFilter } from "../index/list.ts";
import { kindCodes, relCodes } from "../index/schema.ts";
import { id8, type LocationRow, type RecordLocation, toLocation } from "../index/store.ts";
import type { Store } from "../store/store.ts";
import type { BundleSelection } from "./format.ts";

/** How many `depends_on` (and supersession) hops the walk follows from a selected assertion. */
export const closureDepthMax = 64;
/** A bundle holds at most this many records (the closure is kept in memory while it streams). */
export const exportRecordsMax = 2_000_000;

export interface Closure {
  /** Every record of the bundle, in log order. */
  locations: RecordLocation[];
  /** Assertions the selection matched directly. */
  selected: number;
  /** `depends_on` ids that no record at or before `lsn` has. */
  dangling: number;
  /** The log position the closure reflects. */
  lsn: number;
}

const pageRecords = 1000;
const batchIds = 500;
/** Records read between turns of the event loop, so a large export does not stall ingest. */
const yieldEveryRecords = 2000;

class ClosureBuilder {
  readonly byLsn = new Map<number, RecordLocation>();
  /** The ids already in, so a dependency inside the closure costs no index lookup. */
  private readonly ids = new Set<string>();
  readonly dangling = new Set<string>();
  private sinceYield = 0;

  constructor(
    private readonly store: Store,
    readonly lsn: number,
    private readonly recordsMax: number,
  ) {}

  /** Adds a record; true when it is new (and at or before the closure's log position). */
  add(loc: RecordLocation): boolean {
    if (loc.lsn > this.lsn || this.byLsn.has(loc.lsn)) return false;
    if (this.byLsn.size >= this.recordsMax)
      throw new StemeError("export_too_large", `the bundle would hold more than ${this.recordsMax} records`, {
        hint: "narrow the selection (a longer subject_prefix, a predicate, since/until)",
      });
    this.byLsn.set(loc.lsn, loc);
    this.ids.add(idKey(loc.id));
    return true;
  }

  has(id: Uint8Array): boolean {
    return this.ids.has(idKey(id));
  }

  /** Every record a list filter matches, up to the closure's log position. */
  async addAll(filter: Omit<ListFilter, "limit" | "afterLsn">): Promise<RecordLocation[]> {
    const added: RecordLocation[] = [];
    let afterLsn: number | undefined;
    for (;;) {
      const page = listRecords(this.store.index, {
        ...filter,
        limit: pageRecords,
        ...(afterLsn !== undefined ? { afterLsn } : {}),
      });
      for (const loc of page.items) if (this.add(loc)) added.push(loc);
      const last = page.items[page.items.length - 1];
      if (page.next === null || last === undefined || last.lsn > this.lsn) return added;
      afterLsn = page.next;
      await this.breathe(page.items.length);
    }
  }

  /** Votes, retractions, reviews and superseders of `targets`: one query per 500 ids. */
  deciders(targets: readonly RecordLocation[]): RecordLocation[] {
    const out: RecordLocation[] = [];
    for (let i = 0; i < targets.length; i += batchIds) {
      const part = targets.slice(i, i + batchIds);
      const wanted = new Set(part.map((t) => toHex(t.id)));
      const keys = [...new Set(part.map((t) => id8(t.id)))];
      const refs = this.store.index.db
        .query(
          `SELECT dst, src, rel FROM refs WHERE rel != ${relCodes.depends_on} AND dst8 IN (${keys.map(() => "?").join(",")})`,
        )
        .all(...keys) as Array<{ dst: Uint8Array; src: number; rel: number }>;
      // dst8 is a prefix of the id: the full id settles a collision.
      const found = refs.filter((r) => wanted.has(toHex(r.dst)) && r.src <= this.lsn);
      // What each referrer was found by, so the record read is checked against it (Store.read).
      const byRef = new Map(found.map((r) => [r.src, { refersTo: { target: r.dst, rel: r.rel } }]));
      const lsns = [...byRef.keys()];
      for (let j = 0; j < lsns.length; j += batchIds) {
        const ls = lsns.slice(j, j + batchIds);
        const rows = this.store.index.db
          .query(`SELECT lsn, id, kind, segment, offset, recorded_at FROM records WHERE lsn IN (${ls.map(() => "?").join(",")})`)
          .all(...ls) as LocationRow[];
        out.push(...rows.map((row) => toLocation(row, byRef.get(row.lsn))));
      }
    }
    return out;
  }

  /** Yield to the event loop now and then. */
  async breathe(records: number): Promise<void> {
    this.sinceYield += records;
    if (this.sinceYield < yieldEveryRecords) return;
    this.sinceYield = 0;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** The records of a bundle for `selection`, at the index's current log position. */
export async function collectClosure(
  store: Store,
  selection: BundleSelection,
  options: { recordsMax?: number; depthMax?: number } = {},
): Promise<Closure> {
  await store.indexCaughtUp();
  const c = new ClosureBuilder(store, store.index.checkpointLsn, options.recordsMax ?? exportRecordsMax);
  const depthMax = options.depthMax ?? closureDepthMax;
  let frontier = await c.addAll({
    ...(selection.subject_prefix !== undefined ? { subject: selection.subject_prefix } : {}),
    ...(selection.predicate !== undefined ? { predicate: selection.predicate } : {}),
    ...(selection.since !== undefined ? { since: selection.since } : {}),
    ...(selection.until !== undefined ? { until: selection.until } : {}),
    kinds: ["assertion"],
  });
  const selected = frontier.length;
  const sources = new Set<string>();
  // Breadth first, so the depth bound counts hops from the nearest selected assertion.
  for (let depth = 0; frontier.length > 0; depth++) {
    const deeper = depth < depthMax;
    const next: RecordLocation[] = [];
    for (const loc of c.deciders(frontier)) if (c.add(loc) && loc.kind === kindCodes.assertion && deeper) next.push(loc);
    for (const loc of frontier) {
      const { record } = store.read(loc); // checked against the index row
      if (record.kind !== "assertion") continue;
      if (record.source !== undefined) sources.add(record.source);
      for (const dep of record.depends_on ?? []) {
        if (!deeper) break;
        if (c.has(dep)) continue;
        const found = store.lookupId(dep);
        if (found === null || found.lsn > c.lsn) c.dangling.add(toHex(dep));
        else if (c.add(found)) next.push(found);
      }
      await c.breathe(1);
    }
    frontier = next; // empty once the depth bound is reached: what lies beyond is left out
  }
  for (const source of sources) await c.addAll({ source, kinds: ["source", "source_retraction"] });
  await c.addAll({ kinds: ["epoch"] });
  const locations = [...c.byLsn.values()].sort((a, b) => a.lsn - b.lsn);
  return { locations, selected, dangling: c.dangling.size, lsn: c.lsn };
}

function idKey(id: Uint8Array): string {
  return Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString("latin1");
}
