/**
 * Generators for the hostile-input suite (test/integration/hostile.test.ts): a seeded random
 * source, hostile strings and numbers, JSON records mutated at the text level (so duplicate
 * keys, raw numbers like `1e309`, lone-surrogate escapes and bad UTF-8 bytes can be written),
 * CBOR envelopes mutated at the byte level, junk path ids and junk query strings.
 *
 * Every case is generated from its own PRNG, seeded from (suite seed, phase, index), so one
 * case can be regenerated alone from the numbers a failure report prints.
 */
import { prng } from "./prng.ts";
import * as cb from "./cbor-builder.ts";

/** Flip one to four random bits of `bytes` in place. */
export function flipBits(rng: Rng, bytes: Uint8Array): Uint8Array {
  for (let n = 1 + rng.int(4); n > 0 && bytes.length > 0; n--) {
    const at = rng.int(bytes.length);
    bytes[at] = (bytes[at] as number) ^ (1 << rng.int(8));
  }
  return bytes;
}

export class Rng {
  constructor(readonly next: () => number) {}

  static forCase(seed: number, phase: number, index: number): Rng {
    let h = (seed ^ 0x9e3779b9) >>> 0;
    h = Math.imul(h ^ (phase + 0x85ebca6b), 0xc2b2ae35) >>> 0;
    h = Math.imul(h ^ (index + 0x27d4eb2f), 0x165667b1) >>> 0;
    return new Rng(prng(h ^ (h >>> 15)));
  }

  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }

  /** A length that is usually small and sometimes not: 0–8 mostly, up to `max` rarely. */
  length(max: number): number {
    const r = this.next();
    if (r < 0.7) return this.int(9);
    if (r < 0.95) return this.int(200);
    return this.int(max + 1);
  }

  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [items[i], items[j]] = [items[j] as T, items[i] as T];
    }
    return items;
  }
}

const enc = new TextEncoder();
export const utf8 = (s: string): Uint8Array => enc.encode(s);

// ---- hostile values ------------------------------------------------------------------------

/** Text that breaks naive code: traversal, control characters, lone surrogates, injection, huge. */
export const hostileStrings: readonly string[] = [
  "",
  " ",
  "../../etc/passwd",
  "..\\..\\windows\\win.ini",
  "/",
  "a//b",
  "a/",
  "/a",
  "*",
  "pharma/*",
  "*/x",
  "a\u0000b",
  "\u0000",
  "\u0007bell",
  "tab\there",
  "line\nbreak",
  "\u007f",
  "\u0085",
  "\u009f",
  "\u2028\u2029",
  "\u202eevil",
  "\ufeff",
  "\ud800",
  "\udfff",
  "a\ud800b",
  "\udc00\ud800",
  "😀",
  "e\u0301",
  "'; DROP TABLE records; --",
  "%s%n%x",
  "%00",
  "%2e%2e%2f",
  "$" + "{7*7}",
  "<script>alert(1)</script>",
  "__proto__",
  "constructor",
  "toString",
  "hasOwnProperty",
  "NaN",
  "Infinity",
  "-Infinity",
  "nan",
  "1e309",
  "-0",
  "0x1f",
  "null",
  "undefined",
  "true",
  "ab".repeat(32),
  "AB".repeat(32),
];

/** Number spellings as raw JSON text: beyond float range, beyond 2^53, negative zero, tiny. */
export const rawNumbers: readonly string[] = [
  "1e309",
  "-1e309",
  "1e400",
  "-1e-400",
  "-0",
  "-0.0",
  "0.0",
  "1.0",
  "1e0",
  "5e-1",
  "0.50",
  "123456789012345678901234567890",
  "-123456789012345678901234567890",
  "9007199254740991",
  "9007199254740992",
  "9007199254740993",
  "-9007199254740993",
  "18446744073709551615",
  "1.7976931348623157e308",
  "5e-324",
  "2.2250738585072014e-308",
  "0.1",
  "1.5",
  "2",
  "-1",
  "1E2",
  "3.0000000000000001",
];

/** Text that is not JSON, as a value: NaN literals, hex, comments, single quotes, trailing commas. */
export const notJsonValues: readonly string[] = [
  "NaN",
  "Infinity",
  "-Infinity",
  "undefined",
  "0x10",
  "01",
  "+1",
  ".5",
  "1.",
  "'text'",
  "/* c */ 1",
  "[1,]",
  '{"a":1,}',
  "tru",
  '"unterminated',
  '"\\x41"',
  '"\\u12"',
  '"\\ud800"',
  '"a\\ud800\\ud800"',
  '"\\u0000"',
  '"raw\u0001control"',
  '"raw\nnewline"',
  '"\\uDFFF\\uD800"',
];

export function randomJsonValue(rng: Rng, depth = 0): unknown {
  const r = rng.int(depth > 3 ? 6 : 9);
  switch (r) {
    case 0:
      return null;
    case 1:
      return rng.chance(0.5);
    case 2:
      return rng.pick([0, -1, 1, 0.5, 1e308, -1e-308, 2 ** 53, 2 ** 53 + 2, 1.5, 255, 65536, 4294967296]);
    case 3:
      return rng.pick(hostileStrings);
    case 4:
      return Buffer.from(rng.bytes(rng.pick([0, 1, 31, 32, 33, 64, 65]))).toString("hex");
    case 5:
      return "x".repeat(rng.length(5000));
    case 6:
      return Array.from({ length: rng.int(5) }, () => randomJsonValue(rng, depth + 1));
    default: {
      const out: Record<string, unknown> = {};
      for (let i = rng.int(5); i > 0; i--)
        out[rng.pick(["a", "kind", "sig", "body", "records", "", "__proto__", "v"])] = randomJsonValue(rng, depth + 1);
      return out;
    }
  }
}

/** A raw JSON value's text: usually JSON.stringify of a random value, sometimes not JSON at all. */
export function junkValueText(rng: Rng): string {
  const r = rng.next();
  if (r < 0.25) return rng.pick(rawNumbers);
  if (r < 0.35) return rng.pick(notJsonValues);
  if (r < 0.45) return JSON.stringify(rng.pick(hostileStrings));
  return JSON.stringify(randomJsonValue(rng)) ?? "null";
}

export function nestedText(depth: number, kind: "array" | "object"): string {
  return kind === "array" ? "[".repeat(depth) + "]".repeat(depth) : '{"a":'.repeat(depth) + "1" + "}".repeat(depth);
}

// ---- JSON records mutated as text ------------------------------------------------------------

/** A JSON object as (key text, value text) pairs, so duplicate keys and raw numbers can be written. */
export type RawEntries = Array<[string, string]>;

export function entriesOf(obj: Record<string, unknown>): RawEntries {
  return Object.entries(obj).map(([k, v]) => [JSON.stringify(k), JSON.stringify(v)]);
}

export function renderEntries(entries: RawEntries, sep = ","): string {
  return `{${entries.map(([k, v]) => `${k}:${v}`).join(sep)}}`;
}

const hexFields = new Set(["agent", "sig", "target", "supersedes"]);

/** A raw value's text as a string, or "" when an earlier mutation left it something else. */
function stringOf(valueText: string): string {
  try {
    const v = JSON.parse(valueText) as unknown;
    return typeof v === "string" ? v : "";
  } catch {
    return "";
  }
}
const listFields = ["evidence", "tags", "depends_on"];

function badHex(rng: Rng, original: string): string {
  const variants = [
    () => original.slice(1),
    () => `${original}0`,
    () => original.slice(2),
    () => `${original}00`,
    () => original.toUpperCase(),
    () => `0x${original}`,
    () => `${original.slice(0, 10)}zz${original.slice(12)}`,
    () => `${original.slice(0, 10)} ${original.slice(11)}`,
    () => "",
    () => "0".repeat(rng.pick([62, 66, 128, 130, 10_000])),
    () => original.replace(/[0-9]/, "\u0660"),
    () => original.replace(/[0-9]/, "\uff10"),
    () => `${original.slice(0, 8)}\u0000${original.slice(9)}`,
  ];
  return JSON.stringify(rng.pick(variants)());
}

/** One mutation of a record's entries; returns its name for the failure report. */
export function mutateEntries(rng: Rng, entries: RawEntries, kinds: readonly string[]): string {
  const i = rng.int(entries.length);
  const entry = entries[i];
  const key = entry ? (JSON.parse(entry[0]) as string) : "";
  switch (rng.int(16)) {
    case 0:
      entries.splice(i, 1);
      return `remove ${key}`;
    case 1: {
      const name = rng.pick([
        "colour",
        "__proto__",
        "constructor",
        "toString",
        "",
        "sig2",
        "Kind",
        "x".repeat(10_000),
        "\ud800",
        "a\u0000",
      ]);
      entries.splice(rng.int(entries.length + 1), 0, [JSON.stringify(name), junkValueText(rng)]);
      return `add ${name.slice(0, 20)}`;
    }
    case 2:
    case 3:
      if (entry) entry[1] = junkValueText(rng);
      return `retype ${key}`;
    case 4:
      if (entry) entry[1] = rng.pick(rawNumbers);
      return `number ${key}`;
    case 5:
      if (entry) entry[1] = JSON.stringify(rng.pick(hostileStrings));
      return `string ${key}`;
    case 6: {
      const hexEntry = entries.find(([k]) => hexFields.has(JSON.parse(k) as string));
      if (hexEntry) hexEntry[1] = badHex(rng, stringOf(hexEntry[1]));
      return `hex ${hexEntry?.[0] ?? "-"}`;
    }
    case 7: {
      const field = rng.pick(listFields);
      const n = rng.pick([0, 17, 65, 1000]);
      const item = field === "depends_on" ? "ab".repeat(32) : "t";
      entries.push([JSON.stringify(field), JSON.stringify(Array.from({ length: n }, () => item))]);
      return `list ${field}×${n}`;
    }
    case 8: {
      const depth = rng.pick([33, 40, 100, 1000, 10_000]);
      if (entry) entry[1] = nestedText(depth, rng.chance(0.5) ? "array" : "object");
      return `nest ${key} ${depth}`;
    }
    case 9:
      if (entry)
        entries.splice(rng.chance(0.5) ? 0 : entries.length, 0, [entry[0], rng.chance(0.3) ? entry[1] : junkValueText(rng)]);
      return `duplicate ${key}`;
    case 10:
      rng.shuffle(entries);
      return "reorder";
    case 11: {
      const k = entries.find(([name]) => name === '"kind"');
      if (k) k[1] = JSON.stringify(rng.pick([...kinds, "ASSERTION", "nope", "", "vote ", "\u0000"]));
      return "kind";
    }
    case 12: {
      const v = entries.find(([name]) => name === '"v"');
      if (v) v[1] = rng.pick(["0", "2", '"1"', "1.0", "1e0", "true", "-1", "1e309", "null"]);
      return "version";
    }
    case 13:
      if (entry) entry[1] = JSON.stringify("y".repeat(rng.pick([257, 4097, 70_000])));
      return `long ${key}`;
    case 14: {
      const sig = entries.find(([name]) => name === '"sig"');
      if (sig) {
        const hex = stringOf(sig[1]) || "00";
        const at = rng.int(hex.length);
        sig[1] = JSON.stringify(hex.slice(0, at) + ((parseInt(hex[at] as string, 16) + 1) % 16).toString(16) + hex.slice(at + 1));
      }
      return "sig bit";
    }
    default:
      if (entry) entry[1] = JSON.stringify(randomJsonValue(rng));
      return `random ${key}`;
  }
}

/** Byte-level damage to an encoded body: bad UTF-8, flips, truncation, trailing junk, a BOM. */
export function mutateBytes(rng: Rng, bytes: Uint8Array): { bytes: Uint8Array; label: string } {
  const at = rng.int(bytes.length + 1);
  const splice = (insert: Uint8Array, cut = 0) => cb.concat(bytes.subarray(0, at), insert, bytes.subarray(at + cut));
  switch (rng.int(9)) {
    case 0: {
      const bad = rng.pick([
        [0xff],
        [0xfe, 0xff],
        [0xc0, 0xaf],
        [0xed, 0xa0, 0x80],
        [0xe2, 0x82],
        [0xf8, 0x88, 0x80, 0x80, 0x80],
        [0x80],
      ]);
      return { bytes: splice(Uint8Array.from(bad)), label: `bad utf-8 @${at}` };
    }
    case 1: {
      return { bytes: flipBits(rng, new Uint8Array(bytes)), label: "bit flips" };
    }
    case 2:
      return { bytes: bytes.subarray(0, at), label: `truncate @${at}` };
    case 3:
      return { bytes: cb.concat(bytes, utf8(rng.pick(["x", "}", "\u0000", "{}", " ", "\n", "]"]))), label: "trailing" };
    case 4:
      return { bytes: cb.concat(utf8("\ufeff"), bytes), label: "bom" };
    case 5:
      return { bytes: splice(Uint8Array.of(0)), label: `nul @${at}` };
    case 6:
      return { bytes: splice(Uint8Array.of(rng.int(32))), label: `control @${at}` };
    case 7:
      return { bytes: cb.concat(utf8(" \t\r\n"), bytes, utf8("\n ")), label: "whitespace" };
    default:
      return { bytes: splice(new Uint8Array(0), 1 + rng.int(3)), label: `cut @${at}` };
  }
}

// ---- CBOR envelopes mutated as bytes ---------------------------------------------------------

/** A CBOR `{body, sig}` envelope, damaged in one of many ways; the label names the damage. */
export function cborEnvelope(
  rng: Rng,
  body: Uint8Array,
  sig: Uint8Array,
  reEncoded: () => Uint8Array,
): { bytes: Uint8Array; label: string } {
  const k = (s: string) => cb.tstr(s);
  const plain = (b: Uint8Array, s: Uint8Array) =>
    cb.map([
      [k("body"), cb.bstr(b)],
      [k("sig"), cb.bstr(s)],
    ]);
  const huge = () => rng.pick([0xffffffffn, 2n ** 53n, 2n ** 64n - 1n, 0x7fffffffn, 1n << 40n]);
  switch (rng.int(24)) {
    case 0:
      return { bytes: plain(body, sig), label: "valid" };
    case 1:
      return {
        bytes: cb.map([
          [k("body"), cb.tag(64, cb.bstr(body))],
          [k("sig"), cb.tag(64, cb.bstr(sig))],
        ]),
        label: "typed-array tags",
      };
    case 2:
      return { bytes: plain(reEncoded(), sig), label: "non-canonical body" };
    case 3:
      return { bytes: plain(flipBits(rng, new Uint8Array(body)), sig), label: "body bit flips" };
    case 4:
      return { bytes: plain(body.subarray(0, rng.int(body.length)), sig), label: "body truncated" };
    case 5:
      return { bytes: plain(cb.concat(body, rng.bytes(1 + rng.int(8))), sig), label: "body extended" };
    case 6:
      return { bytes: plain(body, sig.subarray(0, rng.pick([0, 32, 63]))), label: "short sig" };
    case 7:
      return { bytes: plain(body, cb.concat(sig, Uint8Array.of(0))), label: "long sig" };
    case 8:
      return { bytes: flipBits(rng, plain(body, sig)), label: "envelope bit flips" };
    case 9: {
      const b = plain(body, sig);
      return { bytes: b.subarray(0, rng.int(b.length)), label: "envelope truncated" };
    }
    case 10:
      return { bytes: cb.concat(plain(body, sig), rng.bytes(1 + rng.int(8))), label: "envelope extended" };
    case 11:
      return { bytes: cb.concat(cb.head(5, 2), k("body"), cb.head(2, huge()), body), label: "huge bstr length" };
    case 12:
      return { bytes: cb.concat(cb.head(rng.pick([4, 5, 3]), huge()), cb.tstr("body")), label: "huge container length" };
    case 13:
      return { bytes: cb.indefinite(5, [k("body"), cb.bstr(body), k("sig"), cb.bstr(sig)]), label: "indefinite envelope" };
    case 14:
      return {
        bytes: cb.map([
          [k("body"), cb.indefinite(2, [cb.bstr(body.subarray(0, 3)), cb.bstr(body.subarray(3))])],
          [k("sig"), cb.bstr(sig)],
        ]),
        label: "indefinite body bstr",
      };
    case 15: {
      const t = rng.pick([
        0, 1, 2, 3, 21, 24, 27, 28, 29, 32, 35, 40, 64, 65, 68, 72, 77, 81, 85, 86, 105, 256, 258, 259, 55799, 57344, 0xffffffff,
      ]);
      const where = rng.int(3);
      const bodyItem = where === 1 ? cb.tag(t, cb.bstr(body)) : cb.bstr(body);
      const env = cb.map([
        [k("body"), bodyItem],
        [k("sig"), where === 2 ? cb.tag(t, cb.bstr(sig)) : cb.bstr(sig)],
      ]);
      return { bytes: where === 0 ? cb.tag(t, env) : env, label: `tag ${t} on ${["envelope", "body", "sig"][where]}` };
    }
    case 16:
      return {
        bytes: cb.map([
          [k("body"), cb.tstrRaw(body)],
          [k("sig"), cb.bstr(sig)],
        ]),
        label: "body as text",
      };
    case 17:
      return { bytes: cb.arr([cb.bstr(body), cb.bstr(sig)]), label: "envelope as array" };
    case 18:
      return {
        bytes: cb.map([
          [k("body"), cb.bstr(body)],
          [k("sig"), cb.bstr(sig)],
          [k(rng.pick(["extra", "__proto__", "records"])), cb.encode(null)],
        ]),
        label: "extra key",
      };
    case 19:
      return {
        bytes: cb.map([
          [k("sig"), cb.bstr(sig)],
          [k("body"), cb.bstr(body)],
          [k("body"), cb.bstr(rng.bytes(8))],
        ]),
        label: "duplicate key",
      };
    case 20: {
      const depth = rng.pick([33, 100, 10_000, 100_000]);
      return { bytes: cb.concat(new Uint8Array(depth).fill(0x81), cb.encode(null)), label: `nested ${depth}` };
    }
    case 21:
      return { bytes: rng.bytes(rng.length(2000)), label: "random bytes" };
    case 22:
      return {
        bytes: cb.map([
          [k("body"), cb.bstr(body, 8)],
          [k("sig"), cb.bstr(sig, 4)],
        ]),
        label: "long heads in envelope",
      };
    default:
      return {
        bytes: cb.map([
          [k("body"), cb.encode(rng.pick([null, 1, "x", [], {}, -1, 1.5] as cb.Value[]))],
          [k("sig"), cb.bstr(sig)],
        ]),
        label: "body retyped",
      };
  }
}

/** Knobs that break the canonical form of a body; `reEncode` applies one set of them. */
export function breakingKnobs(rng: Rng): cb.Knobs {
  const all = ["long", "unsorted", "indefinite", "wideFloat", "intAsFloat", "tag", "dupKey"] as const;
  return { rand: rng.next, p: rng.pick([0.05, 0.2, 0.5]), use: new Set(rng.shuffle([...all]).slice(0, 1 + rng.int(3))) };
}

// ---- paths and query strings -----------------------------------------------------------------

/** Ids for path segments, already in the form they go on the wire (percent-encoded or not). */
export function junkPathId(rng: Rng): string {
  const fixed = [
    "..%2f..%2fetc%2fpasswd",
    "..%2F..%2F..%2Fetc%2Fpasswd",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "%252e%252e%252f",
    "..%5c..%5cwindows",
    "%00",
    "a%00b",
    "%ZZ",
    "%",
    "%E0%A4%A",
    "%C0%AF",
    "%ED%A0%80",
    "%F0%9F%98%80",
    "%FF%FE",
    "x".repeat(10_240),
    "a".repeat(64),
    "AB".repeat(32),
    "ab".repeat(33),
    "0".repeat(63),
    "%20",
    "%0A%0D",
    "~root",
    "*",
    "%2A",
    "%3F%23",
    "null",
    "undefined",
    "__proto__",
    "constructor",
    "-1",
    "1e309",
    "NaN",
    "%E2%80%AE",
  ];
  if (rng.chance(0.6)) return rng.pick(fixed);
  const n = rng.length(300);
  let out = "";
  for (let i = 0; i < n; i++) {
    const r = rng.int(4);
    out +=
      r === 0
        ? `%${rng.int(256).toString(16).padStart(2, "0")}`
        : r === 1
          ? rng.pick(["a", "f", "0", "9", ".", "-", "_"])
          : r === 2
            ? "%2F"
            : encodeURIComponent(String.fromCharCode(0x20 + rng.int(0x5f)));
  }
  return out;
}

/** A query string: known names with junk values, unknown names, repeats, and broken encodings. */
export function junkQuery(rng: Rng, known: readonly string[]): string {
  const parts: string[] = [];
  const values = [
    "",
    "-1",
    "0",
    "1001",
    "1e309",
    "NaN",
    "9007199254740993",
    "99999999999999999999",
    "2025-02-30",
    "2025-13-01T00:00:00Z",
    "275760-09-13",
    "0000-01-01",
    "true",
    "maybe",
    "%ZZ",
    "%00",
    "%FF",
    "a%2Cb",
    "retracted,nope",
    "authority,recency,nope",
    "*",
    "pharma/*",
    "*/x",
    "*/*",
    "bG9zdA",
    "lsn:-1",
    Buffer.from("lsn:99999999999999999999").toString("base64url"),
    "ab".repeat(32),
    "x".repeat(600),
    "%E2%80%AE",
    "toString",
    "__proto__",
  ];
  for (let n = 1 + rng.int(6); n > 0; n--) {
    const name = rng.chance(0.75)
      ? rng.pick(known)
      : rng.pick(["zzz", "__proto__", "constructor", "", "a[]", "%00", "limit%00", "LIMIT", "subject "]);
    parts.push(`${name}=${rng.pick(values)}`);
  }
  if (rng.chance(0.1)) parts.push(rng.pick(["&&&", "=", "==", "&=&", "a=1=2", "%"]));
  return parts.join("&");
}
