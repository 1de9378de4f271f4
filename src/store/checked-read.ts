/**
 * What a record read through the index must be (docs/STORAGE.md#index-integrity):
 * the log frame at the row's place holds the row's LSN, BLAKE3 of its body is the row's id,
 * its kind is the row's kind, and it fits the filter that selected it. Shared by the store and
 * the query workers (src/query/resolver-worker.ts), which read the same log through their own
 * file handles.
 */
import type { StemeError } from "../core/errors.ts";
import { bytesEqual, toHex } from "../core/hex.ts";
import { recordToJson, type StemeRecord } from "../core/record.ts";
import { recordId } from "../crypto/hash.ts";
import { decodeStoredBody } from "../crypto/signed.ts";
import { mismatchOf } from "../index/match.ts";
import { kindCodes } from "../index/schema.ts";
import type { IndexStore, RecordLocation } from "../index/store.ts";
import type { LogEntry } from "../log/index.ts";

export interface StoredRead {
  record: StemeRecord;
  body: Uint8Array;
  sig: Uint8Array;
  id: Uint8Array;
  lsn: number;
  /** When this node received the record (ms), from its log frame. */
  recordedAt: number;
}

/** A stored record as the API shows it: the record's fields, its id, signature, body and place. */
export interface RecordView {
  id: string;
  kind: string;
  sig: string;
  body: string;
  lsn: number;
  recorded_at: number;
  flags: string[];
  [field: string]: unknown;
}

/**
 * The record in `entry`, read at `loc`, checked against the row; `damaged` makes the error
 * for a row the log contradicts (the caller decides how the damage is reported).
 */
export function checkedRead(loc: RecordLocation, entry: LogEntry, damaged: (what: string) => StemeError): StoredRead {
  if (entry.lsn !== loc.lsn) throw damaged(`points at LSN ${entry.lsn} in the log`);
  const id = recordId(entry.body);
  if (!bytesEqual(id, loc.id)) throw damaged(`says id ${toHex(loc.id)}; the body there hashes to ${toHex(id)}`);
  const record = decodeStoredBody(entry.body);
  if (kindCodes[record.kind] !== loc.kind) throw damaged(`says kind ${loc.kind}; the record is a ${record.kind}`);
  const mismatch = loc.selectedBy ? mismatchOf(record, loc.selectedBy) : null;
  if (mismatch !== null) throw damaged(`was selected by a filter the record does not fit: ${mismatch}`);
  return { record, body: entry.body, sig: entry.sig, id, lsn: loc.lsn, recordedAt: entry.recordedAtMs };
}

export function damageAt(loc: RecordLocation, what: string): string {
  return `the row for LSN ${loc.lsn} (segment ${loc.segment} offset ${loc.offset}) ${what}`;
}

export function viewOf(r: StoredRead): RecordView {
  return {
    id: toHex(r.id),
    ...recordToJson(r.record),
    sig: toHex(r.sig),
    body: toHex(r.body),
    lsn: r.lsn,
    recorded_at: r.recordedAt,
    flags: [],
  } as unknown as RecordView;
}

/**
 * What answering a query reads from a store: the index, records through it (checked), and ids.
 * The Store is one; a query worker's read-only view of the same data directory is the other.
 */
export interface ReadStore {
  readonly index: IndexStore;
  readonly dataDir: { readonly authorities: readonly string[] };
  read(loc: RecordLocation): StoredRead;
  view(loc: RecordLocation): RecordView;
  lookupId(id: Uint8Array): RecordLocation | null;
}
