/** Record validation (docs/RECORDS.md#kinds-and-fields, §2.2): every kind, every error code, limits at their edges. */
import { describe, expect, test } from "bun:test";
import { type ProblemCode, StemeError } from "../../src/core/errors.ts";
import { validateRecord } from "../../src/core/record.ts";

const key = "8a".repeat(32);
const id1 = "ab".repeat(32);
const id2 = "cd".repeat(32);
const T = 1732400000000;

const minimal: Record<string, Record<string, unknown>> = {
  assertion: { v: 1, kind: "assertion", agent: key, ts: T, subject: "a/b", predicate: "p", object: 1, confidence: 0.5 },
  vote: { v: 1, kind: "vote", agent: key, ts: T, target: id1, value: -1 },
  retraction: { v: 1, kind: "retraction", agent: key, ts: T, target: id1 },
  source: { v: 1, kind: "source", agent: key, ts: T, source_id: "s", title: "t", tier: 1 },
  source_retraction: { v: 1, kind: "source_retraction", agent: key, ts: T, source_id: "s" },
  epoch: { v: 1, kind: "epoch", agent: key, ts: T, name: "e", starts_at: 0 },
  review: { v: 1, kind: "review", agent: key, ts: T, action: "hold", target: id1 },
};
const optional: Record<string, Record<string, unknown>> = {
  assertion: {
    source: "src",
    evidence: ["e1", "e2"],
    depends_on: [id1, id2],
    supersedes: id2,
    epoch: "ep",
    valid_from: 1,
    valid_to: 2,
    unit: "mg",
    tags: ["t"],
    note: "n",
  },
  vote: { reason: "r" },
  retraction: { reason: "r" },
  source: { url: "https://example.org", published_at: 0 },
  source_retraction: { reason: "r" },
  epoch: { supersedes: "older" },
  review: { note: "n" },
};

function err(fn: () => unknown): StemeError {
  try {
    fn();
  } catch (e) {
    if (e instanceof StemeError) return e;
    throw e;
  }
  throw new Error("expected a StemeError, but the record was accepted");
}

function rejects(input: unknown, code: ProblemCode, field?: string): void {
  const e = err(() => validateRecord(input, "json"));
  expect(e.code).toBe(code);
  expect(e.status).toBe(400);
  if (field !== undefined) expect(e.extra.field).toBe(field);
}

const a = (extra: Record<string, unknown>) => ({ ...minimal.assertion, ...extra });

describe("every kind", () => {
  for (const kind of Object.keys(minimal)) {
    test(`${kind}: minimal and full forms accepted; JSON and CBOR shapes agree`, () => {
      const min = minimal[kind] as Record<string, unknown>;
      const full = { ...min, ...optional[kind] };
      const r1 = validateRecord(min, "json") as unknown as Record<string, unknown>;
      expect(Object.keys(r1).sort()).toEqual(Object.keys(min).sort());
      expect(r1.agent).toBeInstanceOf(Uint8Array);
      const r2 = validateRecord(full, "json") as unknown as Record<string, unknown>;
      expect(Object.keys(r2).sort()).toEqual(Object.keys(full).sort());
      // The CBOR shape takes byte strings where JSON takes hex.
      expect(validateRecord(r2, "cbor")).toEqual(r2 as never);
    });

    test(`${kind}: each required field missing -> missing_field naming it`, () => {
      const min = minimal[kind] as Record<string, unknown>;
      for (const name of Object.keys(min)) {
        const copy = { ...min };
        delete copy[name];
        rejects(copy, "missing_field", name);
      }
    });

    test(`${kind}: each optional field null -> invalid_type naming it`, () => {
      for (const name of Object.keys(optional[kind] as object)) rejects({ ...minimal[kind], [name]: null }, "invalid_type", name);
    });
  }

  test("a field of another kind is unknown_field", () => {
    rejects({ ...minimal.vote, subject: "a" }, "unknown_field", "subject");
    rejects({ ...minimal.epoch, tier: 1 }, "unknown_field", "tier");
    rejects(a({ extra: 1 }), "unknown_field", "extra");
    rejects(a({ sig: "00" }), "unknown_field", "sig"); // the caller strips sig
  });

  test("prototype names are unknown fields, not inherited ones", () => {
    rejects(JSON.parse(`{"__proto__": {"x": 1}, ${JSON.stringify(minimal.assertion).slice(1)}`), "unknown_field", "__proto__");
    rejects(a({ constructor: 1 }), "unknown_field", "constructor");
    rejects(a({ toString: "x" }), "unknown_field", "toString");
    rejects(a({ hasOwnProperty: 1 }), "unknown_field", "hasOwnProperty");
  });

  test("kind, v and the record itself", () => {
    rejects(a({ kind: "claim" }), "out_of_range", "kind");
    rejects(a({ kind: 1 }), "out_of_range", "kind");
    rejects(a({ v: 2 }), "out_of_range", "v");
    rejects(a({ v: "1" }), "out_of_range", "v");
    rejects([], "invalid_record");
    rejects(null, "invalid_record");
    rejects("x", "invalid_record");
    rejects(new Uint8Array(1), "invalid_record");
  });
});

describe("types and ranges", () => {
  test("invalid_type", () => {
    rejects(a({ ts: "1" }), "invalid_type", "ts");
    rejects(a({ ts: 1.5 }), "invalid_type", "ts");
    rejects(a({ subject: 5 }), "invalid_type", "subject");
    rejects(a({ confidence: "0.5" }), "invalid_type", "confidence");
    rejects(a({ confidence: Number.NaN }), "invalid_type", "confidence");
    rejects(a({ tags: "t" }), "invalid_type", "tags");
    rejects(a({ tags: [1] }), "invalid_type", "tags[0]");
    rejects(a({ agent: 5 }), "invalid_type", "agent");
    rejects(a({ object: new Uint8Array(2) }), "invalid_type", "object");
    rejects(a({ object: [new Uint8Array(2)] }), "invalid_type", "object");
    rejects(a({ object: Number.POSITIVE_INFINITY }), "invalid_number", "object");
    rejects({ ...minimal.source, tier: 2.5 }, "invalid_type", "tier");
  });

  test("out_of_range", () => {
    rejects(a({ confidence: 1.5 }), "out_of_range", "confidence");
    rejects(a({ confidence: -0.01 }), "out_of_range", "confidence");
    expect(() => validateRecord(a({ confidence: 0 }), "json")).not.toThrow();
    expect(() => validateRecord(a({ confidence: 1 }), "json")).not.toThrow();
    rejects({ ...minimal.source, tier: 0 }, "out_of_range", "tier");
    rejects({ ...minimal.source, tier: 6 }, "out_of_range", "tier");
    expect(() => validateRecord({ ...minimal.source, tier: 5 }, "json")).not.toThrow();
    rejects({ ...minimal.vote, value: 2 }, "out_of_range", "value");
    rejects({ ...minimal.vote, value: 0 }, "out_of_range", "value");
    rejects({ ...minimal.vote, value: "1" }, "out_of_range", "value");
    rejects({ ...minimal.review, action: "delete" }, "out_of_range", "action");
    rejects(a({ ts: -1 }), "out_of_range", "ts");
    rejects(a({ ts: 2 ** 53 }), "out_of_range", "ts");
    expect(() => validateRecord(a({ ts: 2 ** 53 - 1 }), "json")).not.toThrow();
    rejects(a({ valid_from: 5, valid_to: 5 }), "out_of_range", "valid_to");
    rejects(a({ valid_from: 6, valid_to: 5 }), "out_of_range", "valid_to");
    expect(() => validateRecord(a({ valid_from: 5, valid_to: 6 }), "json")).not.toThrow();
  });

  test("every review action is accepted", () => {
    for (const action of ["hold", "approve", "reject", "gold", "ungold", "trust_seed", "escalate", "resolve"]) {
      expect(() => validateRecord({ ...minimal.review, action }, "json")).not.toThrow();
    }
  });
});

describe("limits: exactly the limit passes, one more byte or item fails with too_long", () => {
  test("subject 512 bytes (ASCII and multi-byte)", () => {
    expect(() => validateRecord(a({ subject: "s".repeat(512) }), "json")).not.toThrow();
    rejects(a({ subject: "s".repeat(513) }), "too_long", "subject");
    expect(() => validateRecord(a({ subject: "é".repeat(256) }), "json")).not.toThrow();
    rejects(a({ subject: `${"é".repeat(256)}s` }), "too_long", "subject");
  });

  test("predicate 128 bytes", () => {
    expect(() => validateRecord(a({ predicate: "p".repeat(128) }), "json")).not.toThrow();
    rejects(a({ predicate: "p".repeat(129) }), "too_long", "predicate");
    expect(() => validateRecord(a({ predicate: "😀".repeat(32) }), "json")).not.toThrow();
    rejects(a({ predicate: `${"😀".repeat(32)}p` }), "too_long", "predicate");
  });

  test("labels 256 bytes, free text 4096 bytes", () => {
    expect(() =>
      validateRecord({ ...minimal.source, source_id: "x".repeat(256), title: "t".repeat(4096) }, "json"),
    ).not.toThrow();
    rejects({ ...minimal.source, source_id: "x".repeat(257) }, "too_long", "source_id");
    rejects({ ...minimal.source, title: "t".repeat(4097) }, "too_long", "title");
  });

  test("object 16 KiB encoded", () => {
    // A text of n bytes (n in 256..65535) encodes as 3 + n bytes.
    expect(() => validateRecord(a({ object: "x".repeat(16384 - 3) }), "json")).not.toThrow();
    rejects(a({ object: "x".repeat(16384 - 2) }), "too_long", "object");
    // The same edge reached through an array of small items: 0x99 head (3) + items.
    const items = (n: number) => Array.from({ length: n }, () => 1); // each 1 byte
    expect(() => validateRecord(a({ object: items(16381) }), "json")).not.toThrow();
    rejects(a({ object: items(16382) }), "too_long", "object");
  });

  test("evidence 16, depends_on 64, tags 16 items", () => {
    const ids = (n: number) => Array.from({ length: n }, (_, i) => i.toString(16).padStart(64, "0"));
    const texts = (n: number) => Array.from({ length: n }, (_, i) => `t${i}`);
    expect(() => validateRecord(a({ evidence: texts(16), depends_on: ids(64), tags: texts(16) }), "json")).not.toThrow();
    rejects(a({ evidence: texts(17) }), "too_long", "evidence");
    rejects(a({ depends_on: ids(65) }), "too_long", "depends_on");
    rejects(a({ tags: texts(17) }), "too_long", "tags");
    rejects(a({ depends_on: [id1, id1] }), "invalid_record", "depends_on");
  });

  test("object nesting deeper than 32 levels is too_deep", () => {
    const nest = (n: number): unknown => (n === 0 ? 1 : [nest(n - 1)]);
    // (Not asserted: nest(32) passes validateRecord but the whole body then nests 33 deep and
    // encodeBody refuses it with too_deep and no field — an off-by-one reported to the lead.)
    expect(() => validateRecord(a({ object: nest(31) }), "json")).not.toThrow();
    rejects(a({ object: nest(33) }), "too_deep", "object");
  });
});

describe("paths, hex and text", () => {
  test("invalid_path", () => {
    for (const s of ["a//b", "/a", "a/", "/", "//", "a/*", "*"]) rejects(a({ subject: s }), "invalid_path", "subject");
    for (const s of ["a", "a/b/c", "a b/ç", "x/y/z/1/2"]) expect(() => validateRecord(a({ subject: s }), "json")).not.toThrow();
  });

  test("bad_hex: odd length, non-hex digits, wrong length", () => {
    rejects(a({ agent: "abc" }), "bad_hex", "agent");
    rejects(a({ agent: `${key}0` }), "bad_hex", "agent");
    rejects(a({ agent: "g".repeat(64) }), "bad_hex", "agent");
    rejects(a({ agent: ` ${key.slice(1)}` }), "bad_hex", "agent");
    rejects(a({ agent: key.slice(2) }), "bad_hex", "agent");
    rejects(a({ agent: `${key}00` }), "bad_hex", "agent");
    rejects(a({ agent: "" }), "bad_hex", "agent");
    rejects({ ...minimal.vote, target: "0x" + id1.slice(2) }, "bad_hex", "target");
    rejects(a({ depends_on: [id1, "zz"] }), "bad_hex", "depends_on[1]");
    rejects(a({ supersedes: id1.slice(1) }), "bad_hex", "supersedes");
  });

  test("CBOR shape: byte fields must be byte strings of the right length", () => {
    const cbor = { ...minimal.vote, agent: new Uint8Array(32), target: new Uint8Array(32) };
    expect(() => validateRecord(cbor, "cbor")).not.toThrow();
    expect(err(() => validateRecord({ ...cbor, agent: new Uint8Array(31) }, "cbor")).code).toBe("invalid_type");
    expect(err(() => validateRecord({ ...cbor, target: id1 }, "cbor")).code).toBe("invalid_type");
  });

  test("invalid_text: control characters, lone surrogates, empty text", () => {
    for (const s of ["a\u0000", "\u0001", "a\tb", "a\nb", "a\rb", "\u001f", "\u007f", "\u0080", "\u0085", "\u009f"]) {
      rejects(a({ note: s }), "invalid_text", "note");
    }
    for (const s of ["\ud800", "a\udfff", "\udc00\ud800", "x\ud83d"]) {
      rejects(a({ note: s }), "invalid_text", "note");
      rejects(a({ subject: `a/${s}` }), "invalid_text", "subject");
    }
    rejects(a({ tags: ["ok", "b\u0007"] }), "invalid_text", "tags[1]");
    rejects(a({ evidence: ["\u0000"] }), "invalid_text", "evidence[0]");
    rejects(a({ predicate: "" }), "invalid_text", "predicate");
    // Not control characters: combining marks, astral pairs, U+00A0, U+2028, BOM.
    for (const s of ["e\u0301", "😀", "\ud83d\ude00", "a\u00a0b", "\u2028", "\ufeff"]) {
      expect(() => validateRecord(a({ note: s }), "json")).not.toThrow();
    }
  });
});
