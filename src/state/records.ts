/**
 * Shared plumbing for derived state: the stored-record shape, the canonical (ts, id) order,
 * and preparation of an input set (asOf filter, de-duplication, sorting) so every later step
 * sees the same sequence whatever order the caller supplied.
 */
import { invariant } from "../core/errors.ts";
import { toHex } from "../core/hex.ts";
import type { Assertion, StemeRecord } from "../core/record.ts";

export interface StoredRecord {
  /** The record id, lowercase hex. */
  id: string;
  record: StemeRecord;
  /** When this node received it (ms; node-local, from the index): needed for `knownAt`. */
  recordedAt?: number;
}

/**
 * Which records count (docs/SEMANTICS.md#the-record-set): `asOf` keeps those the agents date at
 * or before it (`ts`), `knownAt` those this node had received by then (`recordedAt`).
 */
export interface Cut {
  asOf?: number;
  knownAt?: number;
}

/** Whether a record counts under a cut. */
export function withinCut(r: StoredRecord, cut: Cut): boolean {
  if (cut.asOf !== undefined && r.record.ts > cut.asOf) return false;
  if (cut.knownAt !== undefined) {
    invariant(r.recordedAt !== undefined, `record ${r.id} has no recordedAt under a knownAt cut`);
    if (r.recordedAt > cut.knownAt) return false;
  }
  return true;
}

/** A record together with its id and its signer's key as hex (computed once). */
export interface Entry<R extends StemeRecord = StemeRecord> {
  id: string;
  agent: string;
  record: R;
}

/** The canonical order of records: by `ts`, then by id. */
export function byTsThenId(a: { id: string; record: { ts: number } }, b: { id: string; record: { ts: number } }): number {
  if (a.record.ts !== b.record.ts) return a.record.ts - b.record.ts;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** A short, readable form of an id or key for notes. */
export function short(hex: string): string {
  return `${hex.slice(0, 8)}…`;
}

export interface Prepared {
  /** Every counted record, in (ts, id) order. */
  entries: Entry[];
  /** Assertions by id. */
  assertions: Map<string, Entry<Assertion>>;
}

/**
 * Drops records outside the cut, collapses duplicate ids (an id is the hash of the body, so two
 * entries with one id are the same record) and sorts by (ts, id).
 */
export function prepare(records: readonly StoredRecord[], cut: Cut = {}): Prepared {
  const unique = new Map<string, StoredRecord>();
  for (const r of records) {
    if (!withinCut(r, cut)) continue;
    if (!unique.has(r.id)) unique.set(r.id, r);
  }
  const entries: Entry[] = [...unique.values()]
    .sort(byTsThenId)
    .map((r) => ({ id: r.id, agent: toHex(r.record.agent), record: r.record }));
  const assertions = new Map<string, Entry<Assertion>>();
  for (const e of entries) if (e.record.kind === "assertion") assertions.set(e.id, e as Entry<Assertion>);
  return { entries, assertions };
}

/** Entries of one kind, still in (ts, id) order. */
export function ofKind<K extends StemeRecord["kind"]>(
  entries: readonly Entry[],
  kind: K,
): Entry<Extract<StemeRecord, { kind: K }>>[] {
  return entries.filter((e) => e.record.kind === kind) as Entry<Extract<StemeRecord, { kind: K }>>[];
}

/** Readable notes per assertion id; de-duplicated and sorted on read, so order never leaks in. */
export class Notes {
  private readonly byId = new Map<string, Set<string>>();

  add(id: string, text: string): void {
    let set = this.byId.get(id);
    if (!set) {
      set = new Set();
      this.byId.set(id, set);
    }
    set.add(text);
  }

  get(id: string): string[] {
    return [...(this.byId.get(id) ?? [])].sort();
  }
}

/** Appends to the list at `key`, creating it (linear, unlike copying the list each time). */
export function pushTo<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}
