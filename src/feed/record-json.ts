/**
 * A `record` event's data: the record as listings show it (`Store.view`, flags not derived),
 * as JSON — byte for byte what `JSON.stringify(store.view(location))` gives.
 *
 * Building it from the log costs a read, a CRC check and a CBOR decode per record. A record
 * just acknowledged by ingest carries its body and signature (IndexEntry), and its decoded
 * fields are at hand, so the feed builds the same JSON from those: fields in the order the
 * canonical body decodes to (CBOR map keys, shortest first, then bytewise: RFC 8949 §4.2.1 —
 * here ASCII field names). An `object` holding a map anywhere is decoded from the body
 * instead, since its keys came in the submitter's order and the view shows the canonical one.
 */
import { toHex } from "../core/hex.ts";
import { fieldSpecs, type Kind } from "../core/record.ts";
import { type IndexEntry, locationOf } from "../index/store.ts";
import type { Store } from "../store/store.ts";

export function recordJson(store: Store, e: IndexEntry): string {
  if (e.body && e.sig && !holdsMap((e.record as { object?: unknown }).object)) {
    // recordToJson's conversions (bytes to hex, lists of bytes to lists of hex), field by field.
    const fields = e.record as unknown as Record<string, unknown>;
    const view: Record<string, unknown> = { id: toHex(e.id) };
    for (const key of canonicalKeys[e.record.kind]) {
      const v = fields[key];
      if (v === undefined) continue;
      if (v instanceof Uint8Array) view[key] = toHex(v);
      else if (Array.isArray(v) && v[0] instanceof Uint8Array) view[key] = v.map((b: Uint8Array) => toHex(b));
      else view[key] = v;
    }
    view.sig = toHex(e.sig);
    view.body = toHex(e.body);
    view.lsn = e.lsn;
    view.recorded_at = e.recordedAtMs;
    view.flags = [];
    return JSON.stringify(view);
  }
  return JSON.stringify(store.view(locationOf(e)));
}

/** CBOR's deterministic order for text keys: shorter first, then bytewise. */
function canonicalOrder(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

/** Each kind's fields (the field table) in that order. */
const canonicalKeys = Object.fromEntries(
  Object.entries(fieldSpecs).map(([kind, spec]) => [kind, Object.keys(spec).sort(canonicalOrder)]),
) as Record<Kind, string[]>;

function holdsMap(v: unknown): boolean {
  if (v === null || typeof v !== "object") return false;
  if (Array.isArray(v)) return v.some(holdsMap);
  return true;
}
