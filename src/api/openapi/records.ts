/**
 * Record schemas, derived from the field table in core/record.ts: what `POST /v1/assert`
 * takes for each kind, and how a stored record is shown.
 */
import * as limits from "../../core/limits.ts";
import { type Kind, fieldSpecs, kinds, reviewActions } from "../../core/record.ts";
import { anyValue, arr, hex32, int, millis, nullable, num, obj, oneOfEnum, ref, str } from "./schema.ts";
import type { Schema } from "./types.ts";

// ---------------------------------------------------------------- records

export type FieldType = (typeof fieldSpecs)[Kind][string]["type"];

/** A record field in its JSON shape (byte fields as lowercase hex). */
export function fieldSchema(type: FieldType, itemsMax: number | undefined, kind: Kind): Schema {
  const label = str(`at most ${limits.labelBytesMax} bytes of UTF-8, no control characters`);
  const text = str(`at most ${limits.textBytesMax} bytes of UTF-8, no control characters`);
  const id = str("a record id: BLAKE3-256 of its canonical body, 64 hex digits", { pattern: "^[0-9a-fA-F]{64}$" });
  switch (type) {
    case "version":
      return { const: 1, description: "record format version" };
    case "kind":
      return { const: kind };
    case "key":
      return str("an Ed25519 public key, 64 hex digits", { pattern: "^[0-9a-fA-F]{64}$" });
    case "id":
      return id;
    case "ids":
      return arr(id, undefined, { maxItems: itemsMax });
    case "time":
      return int("ms since the Unix epoch");
    case "path":
      return str(`a concept path: segment/segment/…, at most ${limits.subjectBytesMax} bytes, no empty segment, no *`);
    case "predicate":
      return str(`at most ${limits.predicateBytesMax} bytes`);
    case "label":
      return label;
    case "text":
      return text;
    case "labels":
      return arr(label, undefined, { maxItems: itemsMax });
    case "texts":
      return arr(text, undefined, { maxItems: itemsMax });
    case "value":
      return anyValue(`any JSON value (no byte strings), at most ${limits.objectBytesMax} bytes encoded, 32 levels deep`);
    case "unit_interval":
      return num(undefined, { minimum: 0, maximum: 1 });
    case "vote_value":
      return oneOfEnum([1, -1], "+1 endorses, -1 disputes");
    case "tier":
      return int("1 (best) to 5", { minimum: 1, maximum: 5 });
    case "action":
      return oneOfEnum(reviewActions);
  }
}

export function kindTitle(kind: Kind): string {
  return kind
    .split("_")
    .map((w) => w[0]?.toUpperCase() + w.slice(1))
    .join("");
}

/** The signed fields of one kind, as `POST /v1/assert` takes them (plus `sig`). */
export function submissionSchema(kind: Kind): Schema {
  const props: Record<string, Schema> = {};
  for (const [name, spec] of Object.entries(fieldSpecs[kind]))
    props[spec.required ? name : `${name}?`] = fieldSchema(spec.type, spec.itemsMax, kind);
  props.sig = str("Ed25519 signature of the 32 id bytes, 128 hex digits", { pattern: "^[0-9a-fA-F]{128}$" });
  return obj(props, `A signed ${kind} record: its fields (byte fields in hex) and sig.`, { additionalProperties: false });
}

/** A stored record as the server shows it: fields, sig, canonical body, position, flags. */
export function storedSchema(kind: Kind, more: Record<string, Schema> = {}): Schema {
  const props: Record<string, Schema> = { id: hex32("BLAKE3-256 of `body`") };
  for (const [name, spec] of Object.entries(fieldSpecs[kind]))
    props[spec.required ? name : `${name}?`] = fieldSchema(spec.type, spec.itemsMax, kind);
  Object.assign(props, {
    sig: str("Ed25519 signature over the id, hex"),
    body: str("the canonical CBOR body, hex: BLAKE3 of these bytes is `id`"),
    lsn: int("the record's position in this node's log"),
    recorded_at: millis("when this node received it (node-local)"),
    flags: arr(ref("Flag"), "lifecycle flags, derived for GET /v1/assertions/{id} and provenance; [] in listings"),
    "notes?": arr(str(), "why the flags are what they are (GET /v1/assertions/{id})"),
    ...more,
  });
  return obj(props, `A stored ${kind} record.`);
}

/** The kinds an authority's decision can be (GET /v1/admin/audit). */
export const decisionKinds = ["review", "retraction", "source_retraction", "epoch"] as const satisfies readonly Kind[];

export function recordSchemas(): Record<string, Schema> {
  const out: Record<string, Schema> = {};
  for (const kind of kinds) {
    out[`${kindTitle(kind)}Submission`] = submissionSchema(kind);
    out[`${kindTitle(kind)}Record`] = storedSchema(kind);
  }
  const oneOfKinds = (suffix: string, description: string): Schema => ({
    description,
    oneOf: kinds.map((k) => ref(`${kindTitle(k)}${suffix}`)),
    discriminator: {
      propertyName: "kind",
      mapping: Object.fromEntries(kinds.map((k) => [k, `#/components/schemas/${kindTitle(k)}${suffix}`])),
    },
  });
  const decision = obj({ kind: str(), "action?": str(), api_key: nullable(str("the API key that asked")) });
  for (const kind of decisionKinds) out[`${kindTitle(kind)}Decision`] = storedSchema(kind, { decision });
  out.Decision = {
    description: "A decision an authority signed: the stored record plus `decision`.",
    oneOf: decisionKinds.map((k) => ref(`${kindTitle(k)}Decision`)),
  };
  out.RecordSubmission = oneOfKinds("Submission", "One signed record of any kind in JSON: its fields plus `sig`.");
  out.Record = oneOfKinds("Record", "A stored record of any kind.");
  out.CborSubmission = obj(
    {
      body: str("the canonical CBOR body (a byte string); never re-encoded", { contentMediaType: "application/cbor" }),
      sig: str("the 64-byte Ed25519 signature (a byte string)", { contentMediaType: "application/octet-stream" }),
    },
    "A CBOR map {body: bstr, sig: bstr}.",
  );
  return out;
}
