/**
 * The cluster's wire format: messages, gossip packets and their authentication
 * (docs/CLUSTER-WIRE.md is the format essay; golden bytes in test/fixtures/cluster/).
 *
 * A **message** is the canonical CBOR (src/core/cbor.ts, RFC 8949 §4.2.1) of a two-item array
 * `[type, fields]`: `type` a number from the table below, `fields` a map with text keys. We
 * use the project's own canonical encoder rather than cbor-x: a message then has exactly one
 * encoding, so the golden fixtures can be re-encoded byte for byte and a MAC never depends on
 * an encoder's whims; the strict decoder refuses anything else. Packets are small (≤ 1400
 * bytes) and few (a handful a second per node), so cbor-x's speed buys nothing here.
 *
 * **Type numbers are append-only**: a number, once used, keeps its meaning forever, and a new
 * message takes the next number. A receiver skips a message whose type it does not know (and
 * counts it), and ignores fields it does not know, so a newer node can talk to an older one.
 *
 * A **packet** (UDP) is
 *
 *     version (1 byte, 1) ‖ mac (32 bytes) ‖ body
 *     body = canonical CBOR array of messages (one or more: the packet's purpose — a ping,
 *            an ack … — then piggybacked gossip)
 *     mac  = HMAC-SHA256(key, "stemedb gossip v1" ‖ version ‖ body)
 *
 * under the keyring's primary key; the receiver tries each key of its keyring (keyring.ts).
 * A packet that is too short or too long, of another version, fails its MAC or does not decode
 * is dropped and counted under one of `dropReasons` — the receive loop never throws.
 * Stream sessions (handshake.ts) carry the same messages in frames with their own MACs.
 */
import { decodeCanonical, encodeCanonical, type Value } from "../core/cbor.ts";
import type { Keyring } from "./keyring.ts";
import { macBytes } from "./keyring.ts";

export const packetVersion = 1;
/** One Ethernet frame's payload less IP and UDP headers, with room to spare: no fragmentation. */
export const packetBytesMax = 1400;
export const packetHeaderBytes = 1 + macBytes;
/** The body's array head is at most 3 bytes for fewer than 65,536 messages. */
export const packetOverheadBytes = packetHeaderBytes + 3;
export const nameBytesMax = 128;
export const addressBytesMax = 256;
export const nonceBytes = 32;
/** A push-pull state carries every member; this bounds a hostile one. */
export const membersMax = 10_000;
/**
 * The largest frame a stream carries (the TCP transport's length prefix refuses more): a
 * push-pull of `membersMax` members is ≈ 2.5 MB, a replication batch is what the data plane
 * makes it; 16 MiB bounds what one peer can make us buffer.
 */
export const frameBytesMax = 16 * 1024 * 1024;
/** A channel's payload (`data.payload`) leaves room in a frame for the message head and the frame's MAC. */
export const channelPayloadBytesMax = frameBytesMax - 1024;

const packetLabel = new TextEncoder().encode("stemedb gossip v1");

/** What each field holds; checked on decode. */
type FieldKind = "uint" | "bool" | "name" | "address" | "nonce" | "mac" | "members" | "bytes";
interface KindTypes {
  uint: number;
  bool: boolean;
  name: string;
  address: string;
  nonce: Uint8Array;
  mac: Uint8Array;
  members: MemberRecord[];
  bytes: Uint8Array;
}

/** Where a message may travel. */
type Channel = "packet" | "handshake" | "session";

/** A member as push-pull carries it; `state` 0 alive, 1 suspect, 2 dead, 3 left. */
export interface MemberRecord {
  name: string;
  node_id: string;
  api: string;
  cluster: string;
  gossip: string;
  inc: number;
  state: number;
}

/**
 * The message table. Append-only: never renumber, never reuse a number, never change a
 * field's meaning; add a message at the end and a field as a new key.
 */
export const messageSpecs = {
  /** Are you there? `target` is the name the sender believes it is probing. */
  ping: { code: 1, channel: "packet", fields: { seq: "uint", target: "name" } },
  /** Probe `target` at `target_addr` for me; answer `nack` if it does not answer in time. */
  indirect_ping: { code: 2, channel: "packet", fields: { seq: "uint", target: "name", target_addr: "address", nack: "bool" } },
  /** The answer to ping `seq` (directly, or relayed by the member asked to probe). */
  ack: { code: 3, channel: "packet", fields: { seq: "uint" } },
  /** A relay heard nothing from the target of indirect ping `seq` (Lifeguard: the asker is healthy). */
  nack: { code: 4, channel: "packet", fields: { seq: "uint" } },
  /** `name` is alive at incarnation `inc`, with these addresses. */
  alive: {
    code: 5,
    channel: "packet",
    fields: { name: "name", node_id: "name", api: "address", cluster: "address", gossip: "address", inc: "uint" },
  },
  /** `from` suspects `name` at incarnation `inc`. */
  suspect: { code: 6, channel: "packet", fields: { name: "name", inc: "uint", from: "name" } },
  /** `from` declares `name` dead at `inc`; when `from` is `name` itself, it left. */
  dead: { code: 7, channel: "packet", fields: { name: "name", inc: "uint", from: "name" } },
  /** Stream handshake, client → server: a fresh nonce. */
  hello: { code: 8, channel: "handshake", fields: { version: "uint", nonce: "nonce" } },
  /** Server → client: the server's nonce and its proof of the key over both nonces. */
  challenge: { code: 9, channel: "handshake", fields: { nonce: "nonce", proof: "mac" } },
  /** Client → server: the client's proof of the key over both nonces. */
  proof: { code: 10, channel: "handshake", fields: { proof: "mac" } },
  /** A full membership state, each way; `join` when the sender is joining. */
  push_pull: { code: 11, channel: "session", fields: { join: "bool", members: "members" } },
  /**
   * Client → server, the first message of a channel session: which channel (channels.ts's
   * append-only table) and the opener's node id. Every later frame of the session is `data`.
   */
  open: { code: 12, channel: "session", fields: { channel: "uint", from: "name" } },
  /** One message of a channel's own protocol, opaque here (docs/CLUSTER.md#channels). */
  data: { code: 13, channel: "session", fields: { payload: "bytes" } },
} as const satisfies Record<string, { code: number; channel: Channel; fields: Record<string, FieldKind> }>;

export type MessageType = keyof typeof messageSpecs;
type Specs = typeof messageSpecs;
export type MessageOf<T extends MessageType> = { type: T } & {
  -readonly [F in keyof Specs[T]["fields"]]: KindTypes[Specs[T]["fields"][F] & FieldKind];
};
export type Message = { [T in MessageType]: MessageOf<T> }[MessageType];

const byCode = new Map<number, MessageType>(Object.entries(messageSpecs).map(([type, spec]) => [spec.code, type as MessageType]));

export const dropReasons = [
  "too_short",
  "too_long",
  "bad_version",
  "bad_mac",
  "bad_cbor",
  "unknown_type",
  "malformed",
  "wrong_channel",
] as const;
export type DropReason = (typeof dropReasons)[number];

/** A message that cannot be decoded: counted under `reason` and dropped. */
export class WireError extends Error {
  constructor(
    readonly reason: DropReason,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The type of an encoded message from its first bytes, without decoding it: `[type, fields]`
 * is 0x82 then the type as a CBOR unsigned integer (one byte below 24). For counting only.
 */
export function typeOfEncoded(encoded: Uint8Array): MessageType | undefined {
  const code = encoded[1];
  return encoded[0] === 0x82 && code !== undefined && code < 24 ? byCode.get(code) : undefined;
}

export function channelOf(type: MessageType): Channel {
  return messageSpecs[type].channel;
}

/** The canonical bytes of one message. */
export function encodeMessage(message: Message): Uint8Array {
  const spec = messageSpecs[message.type];
  const fields: Record<string, Value> = {};
  for (const name of Object.keys(spec.fields)) fields[name] = (message as unknown as Record<string, Value>)[name] as Value;
  return encodeCanonical([spec.code, fields]);
}

/** One message from its bytes; throws WireError. */
export function decodeMessage(bytes: Uint8Array): Message {
  let value: Value;
  try {
    value = decodeCanonical(bytes);
  } catch (err) {
    throw new WireError("bad_cbor", (err as Error).message);
  }
  return messageFromValue(value);
}

/** One message from its decoded CBOR value; throws WireError. */
export function messageFromValue(value: Value): Message {
  if (!Array.isArray(value) || value.length !== 2) throw new WireError("malformed", "a message is a [type, fields] array");
  const [code, fields] = value;
  const type = typeof code === "number" ? byCode.get(code) : undefined;
  if (type === undefined) throw new WireError("unknown_type", `unknown message type ${String(code)}`);
  if (fields === null || typeof fields !== "object" || Array.isArray(fields) || fields instanceof Uint8Array)
    throw new WireError("malformed", `${type}: fields must be a map`);
  const out: Record<string, unknown> = { type };
  for (const [name, kind] of Object.entries(messageSpecs[type].fields))
    out[name] = checkField(`${type}.${name}`, kind, (fields as Record<string, Value>)[name]);
  return out as Message;
}

function checkField(where: string, kind: FieldKind, v: Value | undefined): unknown {
  const bad = (expected: string) => new WireError("malformed", `${where}: expected ${expected}`);
  switch (kind) {
    case "uint":
      // One below the largest safe integer, so that a refutation's "+ 1" stays exact.
      if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0 || v >= Number.MAX_SAFE_INTEGER)
        throw bad("an unsigned integer below 2^53 − 1");
      return v;
    case "bool":
      if (typeof v !== "boolean") throw bad("a boolean");
      return v;
    case "name":
    case "address": {
      const max = kind === "name" ? nameBytesMax : addressBytesMax;
      if (typeof v !== "string" || v.length === 0 || Buffer.byteLength(v) > max) throw bad(`text of 1 to ${max} bytes`);
      return v;
    }
    case "nonce":
    case "mac":
      if (!(v instanceof Uint8Array) || v.length !== 32) throw bad("32 bytes");
      return v;
    case "bytes":
      if (!(v instanceof Uint8Array) || v.length > channelPayloadBytesMax)
        throw bad(`a byte string of at most ${channelPayloadBytesMax} bytes`);
      return v;
    case "members":
      if (!Array.isArray(v) || v.length > membersMax) throw bad(`an array of at most ${membersMax} members`);
      return v.map((m, i) => checkMember(`${where}[${i}]`, m));
  }
}

const memberFields = {
  name: "name",
  node_id: "name",
  api: "address",
  cluster: "address",
  gossip: "address",
  inc: "uint",
} as const;

function checkMember(where: string, v: Value): MemberRecord {
  if (v === null || typeof v !== "object" || Array.isArray(v) || v instanceof Uint8Array)
    throw new WireError("malformed", `${where}: expected a map`);
  const m = v as Record<string, Value>;
  const out: Record<string, unknown> = {};
  for (const [name, kind] of Object.entries(memberFields)) out[name] = checkField(`${where}.${name}`, kind, m[name]);
  const state = checkField(`${where}.state`, "uint", m.state) as number;
  if (state > 3) throw new WireError("malformed", `${where}.state: expected 0 to 3`);
  out.state = state;
  return out as unknown as MemberRecord;
}

/** The CBOR head of an array of `n` items (major type 4, shortest form). */
function arrayHead(n: number): Uint8Array {
  if (n < 24) return Uint8Array.of(0x80 | n);
  if (n < 0x100) return Uint8Array.of(0x98, n);
  if (n < 0x10000) return Uint8Array.of(0x99, n >> 8, n & 0xff);
  throw new RangeError(`a packet holds fewer than 65,536 messages, got ${n}`);
}

/**
 * A packet of already-encoded messages under the keyring's primary key. The body is built by
 * concatenation, which is exactly the canonical encoding of the array of messages.
 */
export function sealPacket(keyring: Keyring, messages: readonly Uint8Array[]): Uint8Array {
  if (messages.length === 0) throw new RangeError("a packet holds at least one message");
  const head = arrayHead(messages.length);
  let bodyBytes = head.length;
  for (const m of messages) bodyBytes += m.length;
  const packet = new Uint8Array(packetHeaderBytes + bodyBytes);
  packet[0] = packetVersion;
  let at = packetHeaderBytes;
  packet.set(head, at);
  at += head.length;
  for (const m of messages) {
    packet.set(m, at);
    at += m.length;
  }
  packet.set(keyring.sign(packetLabel, packet.subarray(0, 1), packet.subarray(packetHeaderBytes)), 1);
  // Senders budget their packets; one over the limit is a bug here, and every receiver would drop it.
  if (packet.length > packetBytesMax)
    throw new RangeError(`a packet is at most ${packetBytesMax} bytes, this one ${packet.length}`);
  return packet;
}

export type OpenedPacket =
  | { ok: true; messages: Message[]; skipped: DropReason[] }
  | { ok: false; reason: DropReason; detail: string };

/** Checks and decodes a packet; never throws. Messages it cannot read are skipped and named in `skipped`. */
export function openPacket(keyring: Keyring, packet: Uint8Array): OpenedPacket {
  if (packet.length <= packetHeaderBytes) return { ok: false, reason: "too_short", detail: `${packet.length} bytes` };
  if (packet.length > packetBytesMax) return { ok: false, reason: "too_long", detail: `${packet.length} bytes` };
  if (packet[0] !== packetVersion) return { ok: false, reason: "bad_version", detail: `version ${packet[0]}` };
  const body = packet.subarray(packetHeaderBytes);
  if (keyring.verify(packet.subarray(1, packetHeaderBytes), packetLabel, packet.subarray(0, 1), body) === null)
    return { ok: false, reason: "bad_mac", detail: "no key of the keyring authenticates the packet" };
  let value: Value;
  try {
    value = decodeCanonical(body);
  } catch (err) {
    return { ok: false, reason: "bad_cbor", detail: (err as Error).message };
  }
  if (!Array.isArray(value) || value.length === 0)
    return { ok: false, reason: "malformed", detail: "the body is not an array of messages" };
  const messages: Message[] = [];
  const skipped: DropReason[] = [];
  for (const item of value) {
    try {
      messages.push(messageFromValue(item));
    } catch (err) {
      skipped.push(err instanceof WireError ? err.reason : "malformed");
    }
  }
  return { ok: true, messages, skipped };
}

/** Member states in the order of their wire numbers. */
export const memberStateCodes = ["alive", "suspect", "dead", "left"] as const;
