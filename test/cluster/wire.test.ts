/**
 * The wire format: golden fixtures for every message type (decode, then re-encode byte for
 * byte), the packet's MAC and keyring, and the drops — every bad packet is a reason, never a throw.
 *
 * Regenerate the fixtures after an intended format change with
 * STEMEDB_UPDATE_FIXTURES=1 bun test test/cluster/wire.test.ts (and say why in the commit).
 */
import { describe, expect, test } from "bun:test";
import fs from "node:fs";
import path from "node:path";
import { encodeCanonical, type Value } from "../../src/core/cbor.ts";
import { SessionSeal } from "../../src/cluster/handshake.ts";
import { Keyring } from "../../src/cluster/keyring.ts";
import {
  decodeMessage,
  encodeMessage,
  type Message,
  type MessageType,
  messageSpecs,
  openPacket,
  packetBytesMax,
  sealPacket,
  WireError,
} from "../../src/cluster/wire.ts";
import { fixtureKey, fixtureSessionKey, samples } from "./samples.ts";

const dir = path.join(import.meta.dir, "../fixtures/cluster");
const update = process.env.STEMEDB_UPDATE_FIXTURES === "1";
const keyring = new Keyring([fixtureKey]);

function fixture(name: string, bytes: Uint8Array): Uint8Array {
  const file = path.join(dir, name);
  if (update) fs.writeFileSync(file, bytes);
  return new Uint8Array(fs.readFileSync(file));
}

const fileOf = (type: MessageType) => `${String(messageSpecs[type].code).padStart(2, "0")}-${type.replaceAll("_", "-")}`;

describe("golden fixtures", () => {
  test("message type numbers are append-only: the table as of this format version", () => {
    const table = Object.fromEntries(Object.entries(messageSpecs).map(([t, s]) => [s.code, t]));
    expect(table).toEqual({
      1: "ping",
      2: "indirect_ping",
      3: "ack",
      4: "nack",
      5: "alive",
      6: "suspect",
      7: "dead",
      8: "hello",
      9: "challenge",
      10: "proof",
      11: "push_pull",
      12: "open",
      13: "data",
    });
  });

  for (const type of Object.keys(messageSpecs) as MessageType[]) {
    test(`${type}: the fixture decodes to the sample and re-encodes to the same bytes`, () => {
      const sample = samples[type] as Message;
      const golden = fixture(`${fileOf(type)}.cbor`, encodeMessage(sample));
      const decoded = decodeMessage(golden);
      expect(decoded).toEqual(sample);
      expect(encodeMessage(decoded)).toEqual(golden);
      if (messageSpecs[type].channel !== "packet") return;
      const packet = fixture(`${fileOf(type)}.packet`, sealPacket(keyring, [golden]));
      const opened = openPacket(keyring, packet);
      expect(opened).toEqual({ ok: true, messages: [sample], skipped: [] });
      expect(sealPacket(keyring, [encodeMessage(sample)])).toEqual(packet);
    });
  }

  test("a compound packet: a ping with gossip piggybacked", () => {
    const messages = [samples.ping, samples.alive, samples.suspect] as Message[];
    const packet = fixture("compound.packet", sealPacket(keyring, messages.map(encodeMessage)));
    const opened = openPacket(keyring, packet);
    expect(opened.ok && opened.messages).toEqual(messages);
    // The body is exactly the canonical encoding of the array of messages.
    expect(packet.subarray(33)).toEqual(encodeCanonical(messages.map((m) => [messageSpecs[m.type].code, fieldsOf(m)])));
  });

  test("a session frame: the first client frame of a session", () => {
    const seal = new SessionSeal(fixtureSessionKey, "client");
    const frame = fixture("session-frame.bin", seal.seal(encodeMessage(samples.push_pull)));
    const open = new SessionSeal(fixtureSessionKey, "server");
    const payload = open.open(frame);
    expect(payload && decodeMessage(payload)).toEqual(samples.push_pull);
  });
});

function fieldsOf(m: Message): { [key: string]: Value } {
  const { type: _type, ...fields } = m;
  return fields as unknown as { [key: string]: Value };
}

describe("packets", () => {
  const packet = sealPacket(keyring, [encodeMessage(samples.ping)]);

  test("any changed byte is refused: the version, the MAC or the body", () => {
    for (let i = 0; i < packet.length; i++) {
      const bad = packet.slice();
      bad[i] = (bad[i] as number) ^ 0x01;
      const opened = openPacket(keyring, bad);
      expect(opened.ok).toBe(false);
      expect(!opened.ok && opened.reason).toBe(i === 0 ? "bad_version" : "bad_mac");
    }
  });

  test("a packet over 1,400 bytes is never sent: sealing one is a bug and throws", () => {
    expect(() => sealPacket(keyring, [new Uint8Array(packetBytesMax)])).toThrow(/at most 1400 bytes/);
  });

  test("too short, too long, unknown key", () => {
    expect(openPacket(keyring, packet.subarray(0, 33))).toMatchObject({ ok: false, reason: "too_short" });
    expect(openPacket(keyring, new Uint8Array(packetBytesMax + 1))).toMatchObject({ ok: false, reason: "too_long" });
    const other = new Keyring([new Uint8Array(32).fill(9)]);
    expect(openPacket(other, packet)).toMatchObject({ ok: false, reason: "bad_mac" });
  });

  test("authentic but broken bodies: bad CBOR drops the packet; a bad message is skipped and counted", () => {
    // A body that is not canonical CBOR (an indefinite-length array).
    const indefinite = sealPacket(keyring, [encodeMessage(samples.ack)]);
    indefinite[33] = 0x9f;
    const resealed = Uint8Array.from(indefinite);
    resealed.set(keyring.sign(new TextEncoder().encode("stemedb gossip v1"), resealed.subarray(0, 1), resealed.subarray(33)), 1);
    expect(openPacket(keyring, resealed)).toMatchObject({ ok: false, reason: "bad_cbor" });
    const unknown = encodeCanonical([99, { x: 1 }]);
    const wrongField = encodeCanonical([1, { seq: -1, target: "n02" }]);
    const opened = openPacket(keyring, sealPacket(keyring, [unknown, encodeMessage(samples.ack), wrongField]));
    expect(opened).toEqual({ ok: true, messages: [samples.ack], skipped: ["unknown_type", "malformed"] });
  });

  test("unknown fields are ignored (a newer node may add some); missing ones are malformed", () => {
    const newer = encodeCanonical([3, { seq: 5, zz_later: "x" }]);
    expect(decodeMessage(newer)).toEqual({ type: "ack", seq: 5 });
    expect(() => decodeMessage(encodeCanonical([1, { seq: 5 }]))).toThrow(WireError);
    expect(() => decodeMessage(encodeCanonical([1, { seq: 5, target: "" }]))).toThrow(/text of 1 to 128 bytes/);
    expect(() => decodeMessage(encodeCanonical([8, { version: 1, nonce: new Uint8Array(31) }]))).toThrow(/32 bytes/);
    expect(() => decodeMessage(encodeCanonical([11, { join: true, members: [{ name: "a" }] }]))).toThrow(/members\[0\]\.node_id/);
    expect(() => decodeMessage(encodeCanonical("ping"))).toThrow(/\[type, fields\]/);
  });
});
