/**
 * A signed record: the validated fields, the canonical body bytes, the id (BLAKE3 of the body)
 * and the signature over the id. This is the unit the log stores and the wire carries.
 */
import { decodeCanonical, encodeCanonical } from "../core/cbor.ts";
import { invalid } from "../core/errors.ts";
import { describe, fromHex } from "../core/hex.ts";
import { bodyBytesMax, sigBytes } from "../core/limits.ts";
import { recordToValue, type StemeRecord, validateRecord } from "../core/record.ts";
import { recordId } from "./hash.ts";
import { signId } from "./sign.ts";

export interface SignedRecord {
  record: StemeRecord;
  body: Uint8Array;
  id: Uint8Array;
  sig: Uint8Array;
}

/** Canonical body bytes of a record (fields already validated). */
export function encodeBody(record: StemeRecord): Uint8Array {
  return encodeCanonical(recordToValue(record));
}

/** Validate, encode, hash and sign: what a client does before it submits. */
export function signRecord(fields: unknown, secretKey: Uint8Array, shape: "json" | "cbor" = "cbor"): SignedRecord {
  const record = validateRecord(fields, shape);
  const body = encodeBody(record);
  const id = recordId(body);
  return { record, body, id, sig: signId(id, secretKey) };
}

/**
 * A JSON submission: the record's fields at top level plus `sig` (hex). The signature is not
 * checked here; the caller verifies it (natively on the server).
 */
export function fromJsonSubmission(input: unknown): SignedRecord {
  if (input === null || typeof input !== "object" || Array.isArray(input)) {
    throw invalid("invalid_record", `a record must be a JSON object, got ${describe(input)}`);
  }
  const { sig: sigHex, ...fields } = input as Record<string, unknown>;
  if (sigHex === undefined) throw invalid("missing_field", "sig: required (hex Ed25519 signature over the id)", { field: "sig" });
  const sig = fromHex(sigHex, "sig", sigBytes);
  const record = validateRecord(fields, "json");
  const body = encodeBody(record);
  if (body.length > bodyBytesMax) throw invalid("too_long", `record body is ${body.length} bytes, at most ${bodyBytesMax}`);
  return { record, body, id: recordId(body), sig };
}

/** A CBOR submission `{body: bstr, sig: bstr}`: the body must already be canonical. */
export function fromCborSubmission(body: unknown, sig: unknown): SignedRecord {
  if (!(body instanceof Uint8Array))
    throw invalid("invalid_type", `body: expected a byte string, got ${describe(body)}`, { field: "body" });
  if (!(sig instanceof Uint8Array))
    throw invalid("invalid_type", `sig: expected a byte string, got ${describe(sig)}`, { field: "sig" });
  if (sig.length !== sigBytes)
    throw invalid("invalid_type", `sig: expected ${sigBytes} bytes, got ${sig.length}`, { field: "sig" });
  if (body.length > bodyBytesMax) throw invalid("too_long", `record body is ${body.length} bytes, at most ${bodyBytesMax}`);
  const record = validateRecord(decodeCanonical(body), "cbor");
  const bodyCopy = new Uint8Array(body);
  return { record, body: bodyCopy, id: recordId(bodyCopy), sig: new Uint8Array(sig) };
}

/** Decode a body read back from the log. The log only holds bodies that passed validation. */
export function decodeStoredBody(body: Uint8Array): StemeRecord {
  return decodeCanonical(body) as unknown as StemeRecord;
}
