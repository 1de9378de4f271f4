/**
 * The seven record kinds (docs/RECORDS.md#kinds-and-fields), their fields and limits, and validation.
 *
 * A record arrives in one of two shapes: JSON (byte fields as hex, `sig` beside the fields) or
 * a decoded canonical CBOR body (byte fields as byte strings). Both are checked against the
 * same field table and produce the same `StemeRecord`; unknown fields are rejected, absent
 * optional fields stay absent (never null).
 */
import { encodeCanonical, type Value } from "./cbor.ts";
import { invalid } from "./errors.ts";
import { describe, fromHex, toHex } from "./hex.ts";
import * as limits from "./limits.ts";

export const kinds = ["assertion", "vote", "retraction", "source", "source_retraction", "epoch", "review"] as const;
export type Kind = (typeof kinds)[number];

export const reviewActions = [
  "hold",
  "approve",
  "reject",
  "gold",
  "ungold",
  "trust_seed",
  "escalate",
  "resolve",
  "confirm_source",
] as const;
export type ReviewAction = (typeof reviewActions)[number];

interface RecordBase {
  v: 1;
  agent: Uint8Array;
  ts: number;
}

export interface Assertion extends RecordBase {
  kind: "assertion";
  subject: string;
  predicate: string;
  object: Value;
  confidence: number;
  source?: string;
  evidence?: string[];
  depends_on?: Uint8Array[];
  supersedes?: Uint8Array;
  epoch?: string;
  valid_from?: number;
  valid_to?: number;
  unit?: string;
  tags?: string[];
  note?: string;
}
export interface Vote extends RecordBase {
  kind: "vote";
  target: Uint8Array;
  value: 1 | -1;
  reason?: string;
}
export interface Retraction extends RecordBase {
  kind: "retraction";
  target: Uint8Array;
  reason?: string;
}
export interface Source extends RecordBase {
  kind: "source";
  source_id: string;
  title: string;
  tier: number;
  url?: string;
  published_at?: number;
}
export interface SourceRetraction extends RecordBase {
  kind: "source_retraction";
  source_id: string;
  reason?: string;
}
export interface Epoch extends RecordBase {
  kind: "epoch";
  name: string;
  starts_at: number;
  supersedes?: string;
}
export interface Review extends RecordBase {
  kind: "review";
  action: ReviewAction;
  target: Uint8Array;
  note?: string;
}

export type StemeRecord = Assertion | Vote | Retraction | Source | SourceRetraction | Epoch | Review;

/** How a field is checked. Byte fields are hex in JSON and byte strings in CBOR. */
type FieldType =
  | "version"
  | "kind"
  | "key"
  | "id"
  | "ids"
  | "time"
  | "path"
  | "predicate"
  | "label"
  | "text"
  | "labels"
  | "texts"
  | "value"
  | "unit_interval"
  | "vote_value"
  | "tier"
  | "action";

interface FieldSpec {
  type: FieldType;
  required: boolean;
  itemsMax?: number;
}

const req = (type: FieldType, itemsMax?: number): FieldSpec => ({ type, required: true, ...(itemsMax ? { itemsMax } : {}) });
const opt = (type: FieldType, itemsMax?: number): FieldSpec => ({ type, required: false, ...(itemsMax ? { itemsMax } : {}) });

const common = { v: req("version"), kind: req("kind"), agent: req("key"), ts: req("time") };

/** The field table, the single source of truth for what each kind holds. */
export const fieldSpecs: Record<Kind, Record<string, FieldSpec>> = {
  assertion: {
    ...common,
    subject: req("path"),
    predicate: req("predicate"),
    object: req("value"),
    confidence: req("unit_interval"),
    source: opt("label"),
    evidence: opt("texts", limits.evidenceItemsMax),
    depends_on: opt("ids", limits.dependsOnItemsMax),
    supersedes: opt("id"),
    epoch: opt("label"),
    valid_from: opt("time"),
    valid_to: opt("time"),
    unit: opt("label"),
    tags: opt("labels", limits.tagsItemsMax),
    note: opt("text"),
  },
  vote: { ...common, target: req("id"), value: req("vote_value"), reason: opt("text") },
  retraction: { ...common, target: req("id"), reason: opt("text") },
  source: {
    ...common,
    source_id: req("label"),
    title: req("text"),
    tier: req("tier"),
    url: opt("text"),
    published_at: opt("time"),
  },
  source_retraction: { ...common, source_id: req("label"), reason: opt("text") },
  epoch: { ...common, name: req("label"), starts_at: req("time"), supersedes: opt("label") },
  review: { ...common, action: req("action"), target: req("key"), note: opt("text") },
};

/** Which representation the input uses for byte fields. */
type Shape = "json" | "cbor";

const textEncoder = new TextEncoder();

function utf8Length(s: string): number {
  let ascii = true;
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) > 0x7f) {
      ascii = false;
      break;
    }
  }
  return ascii ? s.length : textEncoder.encode(s).length;
}

// C0 controls, DEL and C1 controls (docs/RECORDS.md#values-and-limits: "no control characters").
const controlPattern = /[\u0000-\u001f\u007f-\u009f]/;

function checkText(field: string, v: unknown, bytesMax: number): string {
  if (typeof v !== "string") throw invalid("invalid_type", `${field}: expected text, got ${describe(v)}`, { field });
  if (!v.isWellFormed()) throw invalid("invalid_text", `${field}: not valid Unicode (lone surrogate)`, { field });
  if (controlPattern.test(v)) throw invalid("invalid_text", `${field}: control characters are not allowed`, { field });
  const n = utf8Length(v);
  if (n === 0) throw invalid("invalid_text", `${field}: must not be empty`, { field });
  if (n > bytesMax)
    throw invalid("too_long", `${field}: ${n} bytes, at most ${bytesMax} allowed`, { field, bytes_max: bytesMax });
  return v;
}

function checkInteger(field: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isInteger(v))
    throw invalid("invalid_type", `${field}: expected an integer, got ${describe(v)}`, { field });
  if (Math.abs(v) > Number.MAX_SAFE_INTEGER) throw invalid("out_of_range", `${field}: beyond ±(2^53−1)`, { field });
  return v;
}

function checkBytes(field: string, v: unknown, shape: Shape, n: number): Uint8Array {
  if (shape === "json") return fromHex(v, field, n);
  if (!(v instanceof Uint8Array))
    throw invalid("invalid_type", `${field}: expected a byte string, got ${describe(v)}`, { field });
  if (v.length !== n) throw invalid("invalid_type", `${field}: expected ${n} bytes, got ${v.length}`, { field });
  return v;
}

function checkList(field: string, v: unknown, itemsMax: number): unknown[] {
  if (!Array.isArray(v)) throw invalid("invalid_type", `${field}: expected an array, got ${describe(v)}`, { field });
  if (v.length > itemsMax)
    throw invalid("too_long", `${field}: ${v.length} items, at most ${itemsMax} allowed`, { field, items_max: itemsMax });
  return v;
}

/** The `object` value: JSON's data model (no byte strings), at most 16 KiB encoded. */
function checkValue(field: string, v: unknown): Value {
  assertJsonModel(field, v, 1); // `object` sits one level inside the body
  const n = encodeCanonical(v as Value).length;
  if (n > limits.objectBytesMax)
    throw invalid("too_long", `${field}: ${n} bytes encoded, at most ${limits.objectBytesMax} allowed`, { field });
  return v as Value;
}

function assertJsonModel(field: string, v: unknown, depth: number): void {
  if (depth > 32) throw invalid("too_deep", `${field}: nests deeper than 32 levels`, { field });
  if (v === null || typeof v === "boolean" || typeof v === "string") return;
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw invalid("invalid_number", `${field}: NaN and infinities are not allowed`, { field });
    return;
  }
  if (Array.isArray(v)) {
    for (const item of v) assertJsonModel(field, item, depth + 1);
    return;
  }
  if (v instanceof Uint8Array)
    throw invalid("invalid_type", `${field}: byte strings are not part of the JSON data model`, { field });
  if (typeof v === "object") {
    for (const item of Object.values(v as object)) assertJsonModel(field, item, depth + 1);
    return;
  }
  throw invalid("invalid_type", `${field}: unsupported value ${describe(v)}`, { field });
}

function checkPath(field: string, v: unknown): string {
  const s = checkText(field, v, limits.subjectBytesMax);
  if (s.split("/").some((segment) => segment.length === 0)) {
    throw invalid("invalid_path", `${field}: a concept path is segments separated by "/", none empty (got "${s.slice(0, 80)}")`, {
      field,
    });
  }
  if (s.includes("*")) throw invalid("invalid_path", `${field}: "*" is reserved for queries`, { field });
  return s;
}

function checkField(field: string, spec: FieldSpec, v: unknown, shape: Shape): unknown {
  switch (spec.type) {
    case "version":
      if (v !== limits.formatVersion)
        throw invalid("out_of_range", `v: expected ${limits.formatVersion}, got ${describe(v)}`, { field });
      return v;
    case "kind":
      return v;
    case "key":
    case "id":
      return checkBytes(field, v, shape, 32);
    case "ids": {
      const items = checkList(field, v, spec.itemsMax ?? 0).map((item, i) => checkBytes(`${field}[${i}]`, item, shape, 32));
      const seen = new Set(items.map(toHex));
      if (seen.size !== items.length) throw invalid("invalid_record", `${field}: lists the same id twice`, { field });
      return items;
    }
    case "time": {
      const n = checkInteger(field, v);
      if (n < 0) throw invalid("out_of_range", `${field}: milliseconds since the Unix epoch cannot be negative`, { field });
      return n;
    }
    case "path":
      return checkPath(field, v);
    case "predicate":
      return checkText(field, v, limits.predicateBytesMax);
    case "label":
      return checkText(field, v, limits.labelBytesMax);
    case "text":
      return checkText(field, v, limits.textBytesMax);
    case "labels":
      return checkList(field, v, spec.itemsMax ?? 0).map((item, i) => checkText(`${field}[${i}]`, item, limits.labelBytesMax));
    case "texts":
      return checkList(field, v, spec.itemsMax ?? 0).map((item, i) => checkText(`${field}[${i}]`, item, limits.textBytesMax));
    case "value":
      return checkValue(field, v);
    case "unit_interval":
      if (typeof v !== "number" || !Number.isFinite(v))
        throw invalid("invalid_type", `${field}: expected a number, got ${describe(v)}`, { field });
      if (v < 0 || v > 1) throw invalid("out_of_range", `${field}: must be within [0, 1], got ${v}`, { field });
      return v;
    case "vote_value":
      if (v !== 1 && v !== -1) throw invalid("out_of_range", `${field}: must be +1 or -1, got ${describe(v)}`, { field });
      return v;
    case "tier": {
      const n = checkInteger(field, v);
      if (n < 1 || n > 5) throw invalid("out_of_range", `${field}: must be an integer 1–5, got ${n}`, { field });
      return n;
    }
    case "action":
      if (!reviewActions.includes(v as ReviewAction)) {
        throw invalid("out_of_range", `${field}: must be one of ${reviewActions.join(", ")}, got ${describe(v)}`, { field });
      }
      return v;
  }
}

/**
 * Check a record's fields. `input` holds the fields (and, for JSON, nothing else: the caller
 * strips `sig`). Throws a `StemeError` naming the first bad field.
 */
export function validateRecord(input: unknown, shape: Shape): StemeRecord {
  if (input === null || typeof input !== "object" || Array.isArray(input) || input instanceof Uint8Array) {
    throw invalid("invalid_record", `a record must be an object, got ${describe(input)}`);
  }
  const fields = input as Record<string, unknown>;
  const kind = fields.kind;
  if (kind === undefined) throw invalid("missing_field", "kind: required", { field: "kind" });
  if (!kinds.includes(kind as Kind))
    throw invalid("out_of_range", `kind: must be one of ${kinds.join(", ")}, got ${describe(kind)}`, { field: "kind" });
  const specs = fieldSpecs[kind as Kind];
  // Said only when a record is refused, so the hot path builds no string.
  const aKind = () => `${/^[aeiou]/.test(kind as string) ? "an" : "a"} ${kind}`;
  for (const name of Object.keys(fields)) {
    if (!(name in specs) || !Object.hasOwn(specs, name)) {
      throw invalid("unknown_field", `${name}: not a field of ${aKind()} record`, { field: name });
    }
  }
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(specs)) {
    const v = fields[name];
    if (v === undefined) {
      if (spec.required) throw invalid("missing_field", `${name}: required for ${aKind()} record`, { field: name });
      continue;
    }
    if (v === null && !spec.required)
      throw invalid("invalid_type", `${name}: leave an optional field out instead of null`, { field: name });
    out[name] = checkField(name, spec, v, shape);
  }
  const record = out as unknown as StemeRecord;
  if (
    record.kind === "assertion" &&
    record.valid_from !== undefined &&
    record.valid_to !== undefined &&
    record.valid_from >= record.valid_to
  ) {
    throw invalid("out_of_range", "valid_to: must be after valid_from", { field: "valid_to" });
  }
  return record;
}

/** The record as a body value: what gets canonically encoded. */
export function recordToValue(record: StemeRecord): Value {
  return record as unknown as Value;
}

/** The JSON form of a record's fields: byte fields as lowercase hex. */
export function recordToJson(record: StemeRecord): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, v] of Object.entries(record)) {
    if (v instanceof Uint8Array) out[name] = toHex(v);
    else if (Array.isArray(v) && v.length > 0 && v[0] instanceof Uint8Array) out[name] = v.map(toHex);
    else out[name] = v;
  }
  return out;
}
