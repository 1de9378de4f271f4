/** The cluster keyring: HMAC-SHA256 (checked against @noble/hashes on RFC 4231's vectors), rotation, the key file. */
import { expect, test } from "bun:test";
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { hmacSha256, Keyring, keyringKeysMax, parseKeyring } from "../../src/cluster/keyring.ts";

const hex = (s: string) => new Uint8Array(Buffer.from(s, "hex"));
const text = (s: string) => new TextEncoder().encode(s);

// RFC 4231 §4.2, §4.3, §4.4 (test cases 1, 2, 3), HMAC-SHA-256.
const vectors = [
  { key: hex("0b".repeat(20)), data: text("Hi There"), mac: "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7" },
  {
    key: text("Jefe"),
    data: text("what do ya want for nothing?"),
    mac: "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
  },
  {
    key: hex("aa".repeat(20)),
    data: hex("dd".repeat(50)),
    mac: "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
  },
];

test("hmacSha256 matches RFC 4231 and @noble/hashes, also when the input comes in parts", () => {
  for (const v of vectors) {
    expect(Buffer.from(hmacSha256(v.key, v.data)).toString("hex")).toBe(v.mac);
    expect(Buffer.from(hmac(sha256, v.key, v.data)).toString("hex")).toBe(v.mac);
    expect(Buffer.from(hmacSha256(v.key, v.data.subarray(0, 3), v.data.subarray(3))).toString("hex")).toBe(v.mac);
  }
});

const k1 = new Uint8Array(32).fill(1);
const k2 = new Uint8Array(32).fill(2);
const k3 = new Uint8Array(32).fill(3);

test("the primary signs; every key of the ring verifies; an unknown key does not", () => {
  const ring = new Keyring([k2, k1]);
  const data = text("packet");
  const mac = ring.sign(data);
  expect(mac).toEqual(hmacSha256(k2, data));
  expect(ring.verify(mac, data)).toEqual(k2);
  expect(ring.verify(hmacSha256(k1, data), data)).toEqual(k1);
  expect(ring.verify(hmacSha256(k3, data), data)).toBeNull();
  expect(ring.verify(mac, text("packer"))).toBeNull();
});

test("rotation in three steps: add, make primary, remove the old", () => {
  const start = new Keyring([k1]);
  const added = start.withKey(k2);
  expect(added.primary).toEqual(k1);
  expect(added.keys).toHaveLength(2);
  const switched = added.withPrimary(k2);
  expect(switched.primary).toEqual(k2);
  expect(switched.keys).toEqual([k2, k1]);
  const done = switched.without(k1);
  expect(done.keys).toEqual([k2]);
  expect(() => done.without(k2)).toThrow(/primary key cannot be removed/);
  expect(start.withKey(k1)).toBe(start);
});

test("bad keyrings are refused with what was expected", () => {
  expect(() => new Keyring([])).toThrow(RangeError);
  expect(() => new Keyring([new Uint8Array(16)])).toThrow(/32 bytes, got 16/);
  expect(() => new Keyring(Array.from({ length: keyringKeysMax + 1 }, (_, i) => new Uint8Array(32).fill(i)))).toThrow(RangeError);
});

test("the key file: one 64-hex-digit key a line, the primary first, comments and blank lines ignored", () => {
  const ring = parseKeyring(`# rotated 2025-01-01\n${"02".repeat(32)}\n\n${"01".repeat(32)}  # old\n`);
  expect(ring.keys).toEqual([k2, k1]);
  expect(() => parseKeyring("")).toThrow(/holds no key/);
  expect(() => parseKeyring("abcd\n")).toThrow(/line 1: expected 64 hex digits/);
  expect(() => parseKeyring(`${"01".repeat(32)}\n${"zz".repeat(32)}`)).toThrow(/line 2/);
});
