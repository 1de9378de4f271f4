/**
 * The data plane's messages (docs/CLUSTER-WIRE.md#data-channels): replication pushes, Merkle
 * comparisons, fetches, forwarded requests, listings and shard-state news, on channels over an
 * authenticated session (view.ts).
 *
 * A frame is one message: the CBOR of `[type, fields]`, `type` from the table below, `fields` a
 * map with text keys. Unlike the gossip messages (../wire.ts), these carry records by the
 * thousand, so they are encoded with cbor-x (fast, not canonical): nothing here is MACed by its
 * bytes alone (the session MACs the frame) and nothing is hashed but the record bodies, which
 * travel verbatim as byte strings and are checked by the receiver (id and signature) before
 * they are stored.
 *
 * **Type numbers are append-only**, as for gossip: a number keeps its meaning forever; a new
 * message takes the next; a field is added as a new key. A request carries `seq`, and its answer
 * (or an `error`) carries the same `seq`. A frame that does not decode, or a message of a type
 * this node does not know, ends the channel (the session is authenticated, so this is a bug or
 * a newer peer, not an attack) and is counted.
 *
 * Records are `[body, sig]` pairs: the canonical body bytes and the 64-byte signature.
 */
import { Decoder, Encoder } from "cbor-x";

const encoder = new Encoder({ useRecords: false, mapsAsObjects: true, tagUint8Array: false });
const decoder = new Decoder({ useRecords: false, mapsAsObjects: true });

/** A record as the wire carries it. */
export type WireRecord = [body: Uint8Array, sig: Uint8Array];
/** A Merkle summary: [hash, count]. */
export type WireSummary = [hash: Uint8Array, count: number];

/** The pseudo-shard of the global records (every kind but assertion) in `roots` and `merkle`. */
export const globalShard = -1;

export const messageTypes = {
  /** Replicate these records; answered by `push_ack`. */
  push: 1,
  /** How a `push` went: records stored (new or already there) and those refused, by index with the problem code. */
  push_ack: 2,
  /** The Merkle roots of these shards (`globalShard` for the globals); answered by `roots_answer`. */
  roots: 3,
  roots_answer: 4,
  /** One round of a Merkle diff on one shard (../merkle.ts MerkleRequest); answered by `merkle_answer`. */
  merkle: 5,
  merkle_answer: 6,
  /** Send me these records; answered by `records` (those the peer holds). */
  fetch: 7,
  records: 8,
  /** An HTTP request forwarded to the node that can answer it; answered by `response`. */
  forward: 9,
  response: 10,
  /** A page of a cluster-wide listing, from the shards named; answered by `list_page`. */
  list: 11,
  list_page: 12,
  /** Client records for shards the sender does not hold, with the ack level; answered by `write_answer`. */
  write: 13,
  write_answer: 14,
  /** The sender's shard states and whether it drains (one way, no answer). */
  state: 15,
  /** A request failed: the problem's code and message. */
  error: 16,
  /** Do you hold the record with this id, and is it yours to answer for? Answered by `has_answer`. */
  has: 17,
  has_answer: 18,
} as const;

export type MessageType = keyof typeof messageTypes;
const typeByCode = new Map<number, MessageType>(Object.entries(messageTypes).map(([k, v]) => [v, k as MessageType]));

/** The items of a `write_answer`: a write result, or the problem that refused the item. */
export type WireWriteResult =
  | { id: string; lsn: number; status: "accepted" | "quarantined"; duplicate: boolean; replicas_acked: number }
  | { error: { code: string; message: string; status: number; extra?: Record<string, unknown> } };

export interface WireListFilter {
  subject?: string;
  predicate?: string;
  agent?: Uint8Array;
  source?: string;
  kinds?: string[];
  since?: number;
  until?: number;
  order?: "asc" | "desc";
}

/** The fields of each message type. */
export interface Fields {
  push: { seq: number; records: WireRecord[] };
  push_ack: { seq: number; stored: number; failed: Array<[index: number, code: string]> };
  roots: { seq: number; shards: number[] };
  roots_answer: { seq: number; roots: WireSummary[] };
  merkle: { seq: number; shard: number; summaries: string[]; children: string[]; ids: string[] };
  merkle_answer: { seq: number; summaries: WireSummary[]; children: WireSummary[][]; ids: Uint8Array[][] };
  fetch: { seq: number; ids: Uint8Array[] };
  records: { seq: number; records: WireRecord[] };
  forward: { seq: number; method: string; path: string; headers: Array<[string, string]>; body: Uint8Array | null };
  response: { seq: number; status: number; headers: Array<[string, string]>; body: Uint8Array };
  list: {
    seq: number;
    filter: WireListFilter;
    shards: number[];
    globals: boolean;
    after: [ts: number, id: Uint8Array] | null;
    limit: number;
  };
  list_page: { seq: number; items: Array<{ ts: number; id: Uint8Array; view: string }>; more: boolean };
  write: { seq: number; records: WireRecord[]; ack: "one" | "quorum"; kinds: string[] | null };
  write_answer: { seq: number; results: WireWriteResult[] };
  state: { version: number; shards: Uint8Array; global: number; draining: boolean };
  error: { seq: number; code: string; message: string; status: number; retry_after_s: number | null };
  has: { seq: number; id: Uint8Array };
  has_answer: { seq: number; found: boolean; shard: number | null };
}

export type DataMessage = { [T in MessageType]: { type: T } & Fields[T] }[MessageType];
export type MessageOf<T extends MessageType> = { type: T } & Fields[T];

/** A frame that cannot be read: the channel ends. */
export class DataWireError extends Error {}

export function encodeData(message: DataMessage): Uint8Array {
  const { type, ...fields } = message;
  return encoder.encode([messageTypes[type], fields]);
}

/** A frame's message; throws DataWireError when it is not one. Fields are checked by their users. */
export function decodeData(frame: Uint8Array): DataMessage {
  let value: unknown;
  try {
    value = decoder.decode(frame);
  } catch (err) {
    throw new DataWireError(`not CBOR: ${(err as Error).message}`);
  }
  if (!Array.isArray(value) || value.length !== 2) throw new DataWireError("a message is a [type, fields] array");
  const [code, fields] = value as [unknown, unknown];
  const type = typeof code === "number" ? typeByCode.get(code) : undefined;
  if (type === undefined) throw new DataWireError(`unknown message type ${String(code)}`);
  if (fields === null || typeof fields !== "object" || Array.isArray(fields))
    throw new DataWireError(`${type}: fields must be a map`);
  return { type, ...(fields as object) } as DataMessage;
}

/** Checks that `value` is a list of `[body, sig]` byte-string pairs (what pushes and fetch answers carry). */
export function checkWireRecords(value: unknown, recordsMax: number): WireRecord[] {
  if (!Array.isArray(value) || value.length > recordsMax)
    throw new DataWireError(`records: expected an array of at most ${recordsMax} [body, sig] pairs`);
  for (const r of value)
    if (!Array.isArray(r) || r.length !== 2 || !(r[0] instanceof Uint8Array) || !(r[1] instanceof Uint8Array))
      throw new DataWireError("records: each item is a [body, sig] pair of byte strings");
  return value as WireRecord[];
}

/** Shard states packed two bits a shard (shards.ts `stateCodes`), for `state` messages. */
export function packStates(codes: readonly number[]): Uint8Array {
  const out = new Uint8Array(Math.ceil(codes.length / 4));
  codes.forEach((c, i) => {
    out[i >> 2] = (out[i >> 2] as number) | ((c & 3) << ((i & 3) * 2));
  });
  return out;
}

export function unpackStates(bytes: Uint8Array, shardCount: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < shardCount; i++) out.push(((bytes[i >> 2] ?? 0) >> ((i & 3) * 2)) & 3);
  return out;
}
