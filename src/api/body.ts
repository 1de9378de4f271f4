/**
 * Reading request bodies: size limits (413), content types (415), and strict parsing into
 * submissions (400 `malformed_json` / `malformed_cbor`). Nothing here touches storage.
 */
import { Decoder } from "cbor-x";
import { invalid, StemeError } from "../core/errors.ts";
import { describe } from "../core/hex.ts";
import type { Submission } from "../ingest/pipeline.ts";

// The envelope ({records: [{body, sig}]}) need not be canonical; each body is checked strictly.
const envelopeDecoder = new Decoder({ mapsAsObjects: true, useRecords: false });

export type BodyFormat = "json" | "cbor";

// One decoder for every request: constructing a fatal TextDecoder costs more than the parse.
const utf8 = new TextDecoder("utf-8", { fatal: true });

export function bodyFormat(request: Request): BodyFormat {
  const type = (request.headers.get("content-type") ?? "application/json").split(";")[0]?.trim().toLowerCase() ?? "";
  // curl -d sends x-www-form-urlencoded unless told otherwise; a JSON body is what it carries.
  if (type === "application/json" || type === "" || type.endsWith("+json") || type === "application/x-www-form-urlencoded")
    return "json";
  if (type === "application/cbor") return "cbor";
  throw new StemeError(
    "unsupported_media_type",
    `content-type ${type} is not supported; send application/json or application/cbor`,
  );
}

/**
 * What an endpoint takes of a body: at most `bytesMax` (413 past it), within `deadlineMs` — a
 * slow sender holds a connection and a buffer, so past it the client gets `408
 * request_timeout` (serve.ts sets it from `--http-timeout-secs`).
 */
export interface BodyLimit {
  bytesMax: number;
  deadlineMs: number;
}

export async function readBody(request: Request, limit: BodyLimit): Promise<Uint8Array> {
  const { bytesMax, deadlineMs } = limit;
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > bytesMax) throw tooLarge(declared, bytesMax);
  const reading = request.arrayBuffer().catch(unreadable);
  // A small body has usually arrived with the headers: then there is nothing to wait for and
  // no deadline to arm (a timer and a race cost ≈ 2.5 µs a request, bench/route-schemas.ts).
  if (Bun.peek.status(reading) === "fulfilled") return checkedLength(new Uint8Array(Bun.peek(reading) as ArrayBuffer), bytesMax);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(new StemeError("request_timeout", `the request body did not arrive within ${Math.round(deadlineMs / 1000)} s`)),
      deadlineMs,
    );
  });
  try {
    return checkedLength(new Uint8Array(await Promise.race([reading, late])), bytesMax);
  } finally {
    clearTimeout(timer);
  }
}

function checkedLength(bytes: Uint8Array, bytesMax: number): Uint8Array {
  if (bytes.length > bytesMax) throw tooLarge(bytes.length, bytesMax);
  return bytes;
}

/**
 * The body stream fails when the client hangs up mid-body or breaks the chunked framing: the
 * client's doing (and usually nobody is left to answer), so a 400, not a 500 in the log and the
 * metrics.
 */
function unreadable(err: unknown): never {
  throw new StemeError("invalid_request", `the request body could not be read: ${(err as Error)?.message ?? String(err)}`);
}

function tooLarge(n: number, bytesMax: number): StemeError {
  return new StemeError("payload_too_large", `request body is ${n} bytes; this endpoint takes at most ${bytesMax}`, {
    extra: { bytes_max: bytesMax },
  });
}

export function parseJson(bytes: Uint8Array): unknown {
  if (bytes.length === 0) throw invalid("malformed_json", "request body is empty; expected a JSON object");
  try {
    return JSON.parse(utf8.decode(bytes));
  } catch (err) {
    throw invalid("malformed_json", `request body is not valid JSON: ${(err as Error).message}`);
  }
}

export function parseCborEnvelope(bytes: Uint8Array): unknown {
  if (bytes.length === 0) throw invalid("malformed_cbor", "request body is empty; expected a CBOR map");
  try {
    return envelopeDecoder.decode(bytes);
  } catch (err) {
    throw invalid("malformed_cbor", `request body is not valid CBOR: ${(err as Error).message}`);
  }
}

/** One record: JSON fields + sig, or CBOR `{body, sig}`. */
export function singleSubmission(format: BodyFormat, bytes: Uint8Array): Submission {
  if (format === "json") return { shape: "json", value: parseJson(bytes) };
  return cborItem(parseCborEnvelope(bytes), "request body");
}

function cborItem(v: unknown, where: string): Submission {
  if (v === null || typeof v !== "object" || Array.isArray(v) || v instanceof Uint8Array) {
    throw invalid("invalid_record", `${where}: expected a map {body, sig}, got ${describe(v)}`);
  }
  const { body, sig, ...rest } = v as Record<string, unknown>;
  const extra = Object.keys(rest)[0];
  if (extra !== undefined)
    throw invalid("unknown_field", `${where}: unexpected key "${extra}" (a CBOR submission is {body, sig})`, { field: extra });
  return { shape: "cbor", body: toBytes(body), sig: toBytes(sig) };
}

function toBytes(v: unknown): unknown {
  return v instanceof Uint8Array ? new Uint8Array(v.buffer, v.byteOffset, v.byteLength) : v;
}

/**
 * A batch: `{records: [...]}`. A malformed item does not sink the others: it becomes a
 * submission that fails with its own error in its own slot.
 */
export function batchSubmissions(format: BodyFormat, bytes: Uint8Array, recordsMax: number): Submission[] {
  const envelope = format === "json" ? parseJson(bytes) : parseCborEnvelope(bytes);
  if (envelope === null || typeof envelope !== "object" || Array.isArray(envelope)) {
    throw invalid("invalid_request", `expected {"records": [...]}, got ${describe(envelope)}`);
  }
  const { records, ...rest } = envelope as Record<string, unknown>;
  const extra = Object.keys(rest)[0];
  if (extra !== undefined)
    throw invalid("unknown_field", `unexpected key "${extra}" (a batch is {"records": [...]})`, { field: extra });
  if (!Array.isArray(records))
    throw invalid("invalid_request", `records: expected an array, got ${describe(records)}`, { field: "records" });
  if (records.length === 0) throw invalid("invalid_request", "records: the batch is empty", { field: "records" });
  if (records.length > recordsMax) {
    throw new StemeError("batch_too_large", `records: ${records.length} items, at most ${recordsMax} in one batch`, {
      extra: { items_max: recordsMax },
    });
  }
  if (format === "json") return records.map((value) => ({ shape: "json", value }));
  return records.map((item, i) => {
    try {
      return cborItem(item, `records[${i}]`);
    } catch (err) {
      return {
        shape: "error",
        error: err instanceof StemeError ? err : invalid("invalid_record", `records[${i}]: ${(err as Error).message}`),
      };
    }
  });
}
