/**
 * The HTTP API described in OpenAPI 3.1 (https://spec.openapis.org/oas/v3.1.0), served at
 * `GET /openapi.json` and rendered for people at `GET /docs` (docs-page.ts).
 *
 * Written by hand from the handlers and docs/API.md, with small helpers so each operation
 * reads like its row in the docs. What can be derived is derived: the record schemas come
 * from the field table in core/record.ts, lens names from the lens registry, flags from the
 * lifecycle, limits from core/limits.ts. test/api/openapi.test.ts holds the document to the
 * server: every route the app registers is here and every path here is served; the role of
 * each operation is what the guard's `classify` demands; every error code the source throws
 * that can reach a client is in the problem schema; and real answers validate against the
 * documented schemas.
 *
 * Schemas are JSON Schema 2020-12 (OpenAPI 3.1's dialect): `null` is a type, not `nullable`.
 * Response objects list the fields the server sends today; clients must accept more (SPEC §8:
 * "more fields may be added, none renamed").
 */
import * as limits from "../core/limits.ts";
import { type Kind, fieldSpecs, kinds, reviewActions } from "../core/record.ts";
import { lensNames } from "../lens/index.ts";
import { blockingFlags } from "../state/index.ts";

/** A JSON Schema (2020-12) object. */
export type Schema = { [keyword: string]: unknown };

export interface Parameter {
  name: string;
  in: "query" | "path" | "header";
  required?: boolean;
  description: string;
  schema: Schema;
}

export interface MediaType {
  schema: Schema;
}

export interface Header {
  description: string;
  schema: Schema;
}

export interface Response {
  description: string;
  headers?: Record<string, Header | Ref>;
  content?: Record<string, MediaType>;
}

export interface Ref {
  $ref: string;
}

export type Role = "reader" | "writer" | "admin";

export interface Operation {
  operationId: string;
  tags: string[];
  summary: string;
  description?: string;
  /** The role the endpoint needs when the node has API keys (absent for health checks). */
  "x-stemedb-role"?: Role;
  /** Absent: the document's bearer requirement. `[]`: no key needed. */
  security?: Array<Record<string, string[]>>;
  parameters?: Array<Parameter | Ref>;
  requestBody?: { required: boolean; description?: string; content: Record<string, MediaType> };
  responses: Record<string, Response>;
}

export type Method = "get" | "post" | "delete";

export interface OpenApiDocument {
  openapi: "3.1.0";
  jsonSchemaDialect: string;
  info: { title: string; version: string; summary: string; description: string; license: { name: string; identifier: string } };
  servers: Array<{ url: string; description: string }>;
  tags: Array<{ name: string; description: string }>;
  security: Array<Record<string, string[]>>;
  paths: Record<string, Partial<Record<Method, Operation>>>;
  components: {
    schemas: Record<string, Schema>;
    parameters: Record<string, Parameter>;
    headers: Record<string, Header>;
    securitySchemes: Record<string, { type: "http"; scheme: "bearer"; description: string }>;
  };
}

// ---------------------------------------------------------------- problem codes

/**
 * Every stable `code` a client can meet, with its status (docs/API.md "Errors"). The problem
 * schema's `code` enum is exactly these keys.
 */
export const problemCodes: Record<string, { status: number; meaning: string }> = {
  malformed_json: { status: 400, meaning: "the body does not parse as JSON" },
  malformed_cbor: { status: 400, meaning: "the body does not parse as CBOR" },
  non_canonical_cbor: { status: 400, meaning: "a CBOR body not in canonical form (`offset` names the byte)" },
  invalid_record: { status: 400, meaning: "not a record: not an object, or not a CBOR {body, sig} map" },
  invalid_request: {
    status: 400,
    meaning: "the request body is not the expected shape (e.g. not {records: [...]}, an empty batch)",
  },
  unknown_field: { status: 400, meaning: "a field the kind or request does not have (`field` names it)" },
  missing_field: { status: 400, meaning: "a required field (or `sig`) is absent" },
  invalid_type: { status: 400, meaning: "a wrong type, or null for an optional field (leave it out)" },
  out_of_range: { status: 400, meaning: "v ≠ 1, unknown kind, confidence outside [0, 1], tier outside 1–5, vote ≠ ±1, …" },
  too_long: { status: 400, meaning: "a text, list or object over its limit (`bytes_max` / `items_max`)" },
  too_deep: { status: 400, meaning: "object nested deeper than 32 levels" },
  invalid_text: { status: 400, meaning: "control characters, lone surrogates, empty text" },
  invalid_path: { status: 400, meaning: "a subject that is not segment/segment/… with no empty segment" },
  invalid_number: { status: 400, meaning: "NaN or infinity (CBOR only)" },
  bad_hex: { status: 400, meaning: "a byte field that is not hex of the right length" },
  bad_signature: { status: 400, meaning: "the signature does not verify; `computed_id` is the id the server computed" },
  wrong_kind: { status: 400, meaning: "an endpoint for one kind of record given another kind" },
  invalid_query: { status: 400, meaning: "a bad query parameter or path segment (`field` names it)" },
  unknown_lens: { status: 400, meaning: "no such lens" },
  unauthorized: { status: 401, meaning: "no API key, or an unknown or revoked one" },
  forbidden: { status: 403, meaning: "the key's role is too low for the endpoint" },
  not_registrar: { status: 403, meaning: "a source retraction signed by neither the registrar nor an authority" },
  not_found: { status: 404, meaning: "no such record, escalation, key or route" },
  unknown_source: { status: 404, meaning: "no such source on this node" },
  unknown_epoch: { status: 404, meaning: "no such epoch on this node" },
  audit_disabled: { status: 404, meaning: "the server runs without a query audit trail (--audit-entries 0)" },
  method_not_allowed: { status: 405, meaning: "the path exists but not with this method; `Allow` lists the methods" },
  request_timeout: { status: 408, meaning: "the request body did not arrive within --http-timeout-secs" },
  already_resolved: { status: 409, meaning: "the escalation is already resolved" },
  already_decided: { status: 409, meaning: "the held assertion was already approved or rejected (`state` says which)" },
  no_backup_dir: { status: 409, meaning: "the server has no --backup-dir; snapshots need one" },
  busy: { status: 409, meaning: "a snapshot is already being taken; retry after Retry-After seconds" },
  exists: { status: 409, meaning: "the snapshot directory exists and is not empty; a backup goes into a new directory" },
  payload_too_large: { status: 413, meaning: "the body is over the endpoint's limit (`bytes_max`)" },
  batch_too_large: { status: 413, meaning: "more than 10,000 records in one batch (`items_max`)" },
  unsupported_media_type: { status: 415, meaning: "neither JSON nor CBOR" },
  clock_skew: { status: 422, meaning: "ts more than --max-clock-skew-ms ahead of the server's clock" },
  query_too_large: { status: 422, meaning: "the query would read more than 50,000 records" },
  export_too_large: { status: 422, meaning: "the bundle would hold more than 2,000,000 records; narrow the selection" },
  rate_limited: { status: 429, meaning: "the key's or the address's bucket for this endpoint class is empty; see Retry-After" },
  breaker_open: {
    status: 429,
    meaning: "the signing agent's circuit breaker is open (too many writes, or too many held or rejected ones); see Retry-After",
  },
  internal: { status: 500, meaning: "a bug; the server log has the request id" },
  log_corrupt: { status: 500, meaning: "a damaged log segment; run stemedb verify" },
  key_permissions: { status: 500, meaning: "keys.json is readable by others; chmod 600 it" },
  backup_failed: { status: 500, meaning: "the snapshot found the log or index inconsistent; run stemedb verify" },
  io_error: { status: 500, meaning: "reading or hashing a file for the snapshot failed" },
  overloaded: {
    status: 503,
    meaning: "the ingest queue is full, or the disk is slow (fdatasync p99 over --shed-fsync-p99-ms); retry after Retry-After",
  },
  log_write_failed: { status: 503, meaning: "the disk refused a write or sync; the node takes no writes until restarted" },
  disk_full: { status: 503, meaning: "no space left for the log; this write was not stored; writes resume when space returns" },
  log_closed: { status: 503, meaning: "the node is shutting down" },
  unavailable: { status: 503, meaning: "the node is shutting down" },
  index_failed: { status: 503, meaning: "the index is failing (e.g. a full disk); acknowledged records are safe; retry" },
  index_damaged: {
    status: 503,
    meaning:
      "the index is damaged (a page failed its checksum, or a row disagrees with the log): reads are refused until it is rebuilt (restart, or stemedb reindex)",
  },
  timeout: { status: 503, meaning: "no answer within --http-timeout-secs; retry" },
};

// ---------------------------------------------------------------- schema helpers

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const str = (description?: string, extra: Schema = {}): Schema => ({ type: "string", ...desc(description), ...extra });
const int = (description?: string, extra: Schema = {}): Schema => ({ type: "integer", ...desc(description), ...extra });
const num = (description?: string, extra: Schema = {}): Schema => ({ type: "number", ...desc(description), ...extra });
const bool = (description?: string): Schema => ({ type: "boolean", ...desc(description) });
const arr = (items: Schema, description?: string, extra: Schema = {}): Schema => ({
  type: "array",
  items,
  ...desc(description),
  ...extra,
});
const nullable = (s: Schema): Schema =>
  typeof s.type === "string" ? { ...s, type: [s.type, "null"] } : { anyOf: [s, { type: "null" }] };
const oneOfEnum = (values: readonly (string | number)[], description?: string): Schema => ({
  enum: [...values],
  ...desc(description),
});
/** Any JSON value. */
const anyValue = (description: string): Schema => ({ description });

const mib = (bytes: number): string => `${bytes / 1024 / 1024} MiB`;

function desc(description: string | undefined): Schema {
  return description === undefined ? {} : { description };
}

/**
 * An object. Keys ending in `?` are optional; the rest are required.
 * `obj({"id": hex, "note?": str()})`.
 */
function obj(properties: Record<string, Schema>, description?: string, extra: Schema = {}): Schema {
  const props: Record<string, Schema> = {};
  const required: string[] = [];
  for (const [key, schema] of Object.entries(properties)) {
    const optional = key.endsWith("?");
    const name = optional ? key.slice(0, -1) : key;
    props[name] = schema;
    if (!optional) required.push(name);
  }
  return { type: "object", ...desc(description), properties: props, ...(required.length ? { required } : {}), ...extra };
}

const hex32 = (description: string): Schema => str(description, { pattern: "^[0-9a-f]{64}$" });
const millis = (description: string): Schema => int(`${description} (ms since the Unix epoch)`);
const isoTime = (description: string): Schema => str(description, { format: "date-time" });
const cursor = nullable(str("pass as `cursor` for the next page; null on the last page"));

// ---------------------------------------------------------------- records

type FieldType = (typeof fieldSpecs)[Kind][string]["type"];

/** A record field in its JSON shape (byte fields as lowercase hex). */
function fieldSchema(type: FieldType, itemsMax: number | undefined, kind: Kind): Schema {
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

function kindTitle(kind: Kind): string {
  return kind
    .split("_")
    .map((w) => w[0]?.toUpperCase() + w.slice(1))
    .join("");
}

/** The signed fields of one kind, as `POST /v1/assert` takes them (plus `sig`). */
function submissionSchema(kind: Kind): Schema {
  const props: Record<string, Schema> = {};
  for (const [name, spec] of Object.entries(fieldSpecs[kind]))
    props[spec.required ? name : `${name}?`] = fieldSchema(spec.type, spec.itemsMax, kind);
  props.sig = str("Ed25519 signature of the 32 id bytes, 128 hex digits", { pattern: "^[0-9a-fA-F]{128}$" });
  return obj(props, `A signed ${kind} record: its fields (byte fields in hex) and sig.`, { additionalProperties: false });
}

/** A stored record as the server shows it: fields, sig, canonical body, position, flags. */
function storedSchema(kind: Kind, more: Record<string, Schema> = {}): Schema {
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
const decisionKinds = ["review", "retraction", "source_retraction", "epoch"] as const satisfies readonly Kind[];

function recordSchemas(): Record<string, Schema> {
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

// ---------------------------------------------------------------- answers

function answerSchemas(): Record<string, Schema> {
  const group = obj({
    value: anyValue("the object the group agrees on (its first member's)"),
    weight: num("what the group weighs under the lens"),
    count: int("members"),
    ids: arr(hex32("assertion id"), "members, earliest first"),
  });
  const auditEntry = obj({
    seq: str("opaque entry id"),
    at: isoTime("when the query was answered"),
    caller: str("`key:<id>` with an API key, else the client's address"),
    request_id: nullable(str()),
    subject: str(),
    predicate: str(),
    lens: str(),
    params: obj(
      {
        "as_of?": int(),
        "valid_at?": int(),
        "tolerance?": num(),
        "include?": arr(ref("Flag")),
        "layers?": arr(str()),
        "fresh?": { const: true },
        "escalate?": { type: ["boolean", "number"] },
      },
      "the parameters given",
    ),
    winner: nullable(hex32("the winner's id")),
    value: anyValue("the answer's value; values over 256 characters of JSON are cut"),
    conflict: num(),
    support: num(),
    lsn: int(),
    from_view: bool("answered from a materialized view"),
  });
  return {
    Flag: oneOfEnum(blockingFlags, "a lifecycle flag (SPEC §3)"),
    Lens: oneOfEnum(lensNames),
    WriteResult: obj(
      {
        id: hex32("the record id"),
        lsn: int("its log position"),
        status: oneOfEnum(["accepted", "quarantined"]),
        duplicate: bool("the record was already stored"),
      },
      "A write acknowledged: in the log on stable storage and indexed.",
    ),
    DecisionWrite: obj(
      {
        id: hex32("the decision record's id"),
        lsn: int(),
        status: oneOfEnum(["accepted", "quarantined"]),
        duplicate: bool(),
        ts: millis("the decision's stated time"),
      },
      "A decision written as a record signed by the node's authority key.",
    ),
    BatchRequest: obj({
      records: arr(ref("RecordSubmission"), `1–${limits.batchRecordsMax} records`, {
        minItems: 1,
        maxItems: limits.batchRecordsMax,
      }),
    }),
    BatchResult: obj({
      results: arr({ oneOf: [ref("WriteResult"), obj({ error: ref("Problem") })] }, "one per input record, in input order"),
      accepted: int(),
      rejected: int(),
    }),
    RecordPage: obj({ items: arr(ref("Record")), next_cursor: cursor }),
    LensGroup: group,
    QueryAnswer: obj(
      {
        subject: str(),
        predicate: str(),
        lens: ref("Lens"),
        winner: nullable(ref("Record")),
        value: anyValue("the winner's object, or null"),
        support: num("the winner group's share of the total weight", { minimum: 0, maximum: 1 }),
        conflict: num("κ = (1 − W_max/W_total)/(1 − 1/k)", { minimum: 0, maximum: 1 }),
        "verdict?": oneOfEnum(["settled", "disputed", "contested"], "skeptic only"),
        "dissent?": obj(
          {
            groups: arr(ref("LensGroup"), "every group but the winner's, heaviest first"),
            outliers: arr(
              obj({ id: hex32("assertion id"), agent: str(), value: num(), distanceMads: nullable(num()) }),
              "numbers further than 3 MAD from the confidence-weighted median",
            ),
            median: nullable(num()),
            mad: nullable(num()),
          },
          "skeptic only",
        ),
        groups: arr(ref("LensGroup"), "heaviest first"),
        candidates: int("candidates counted, after one agent, one voice"),
        "explain?": arr(str(), "why, in sentences; left out with explain=false"),
        params: obj({ "tolerance?": num(), "layers?": arr(str()) }, "the lens parameters used"),
        lsn: int("the log position the answer reflects"),
        "trust_lsn?": int("the log position of the TrustRank used (vote, trust, layered)"),
        "as_of?": millis("the as_of asked"),
        "escalation?": obj(
          { id: hex32("the escalation"), target: hex32("the winner"), opened: bool("false: it was already open") },
          "with escalate, when κ reached the threshold",
        ),
      },
      "What is known about (subject, predicate) through one lens.",
    ),
    QueryRequest: obj(
      {
        subject: str(),
        predicate: str(),
        "lenses?": arr(ref("Lens"), "1–8 lenses, side by side (default [consensus])", { minItems: 1, maxItems: 8 }),
        "lens?": ref("Lens"),
        "as_of?": { type: ["integer", "string"], description: "ms since the epoch or ISO 8601" },
        "valid_at?": { type: ["integer", "string"], description: "ms since the epoch or ISO 8601" },
        "tolerance?": num(undefined, { minimum: 0, maximum: 1 }),
        "include?": arr(ref("Flag")),
        "layers?": arr(ref("Lens")),
        "fresh?": bool(),
        "escalate?": { type: ["boolean", "number"], description: "true, or a κ threshold in (0, 1]" },
        "explain?": bool(),
      },
      undefined,
      { additionalProperties: false },
    ),
    MultiQueryAnswer: obj({
      results: { type: "object", additionalProperties: ref("QueryAnswer"), description: "lens → answer" },
    }),
    SubjectAnswer: obj({
      subject: str(),
      lens: ref("Lens"),
      predicates: { type: "object", additionalProperties: ref("QueryAnswer"), description: "predicate → answer (at most 500)" },
    }),
    ConceptList: obj({
      prefix: str(),
      concepts: arr(
        obj({
          path: str(),
          segment: str(),
          is_subject: bool("records are filed under exactly this path"),
          subjects: int("distinct subjects at or below it"),
        }),
      ),
      truncated: bool(),
    }),
    AgentSummary: obj({
      agent: hex32("public key"),
      trust: num("TrustRank τ", { minimum: 0, maximum: 1 }),
      authority: bool(),
      seeded: bool("a trust seed (an authority, or named in a trust_seed review)"),
      endorsed_by: int(),
      disputed_by: int(),
    }),
    AgentPage: obj({
      items: arr(ref("AgentSummary")),
      next_cursor: cursor,
      trust_lsn: int(),
      trust_floor: num(),
      total: int(),
    }),
    AgentDetail: obj({
      agent: hex32("public key"),
      trust: num(undefined, { minimum: 0, maximum: 1 }),
      trust_lsn: int(),
      authority: bool(),
      seeded: bool(),
      rank: num("the raw PageRank score"),
      endorsed_by: int(),
      disputed_by: int(),
      gold: obj({ agree: int(), contradict: int() }),
      counts: { type: "object", additionalProperties: { type: "integer" }, description: "kind → records" },
      recent: arr(ref("Record"), "newest first"),
    }),
    Escalation: obj({
      id: hex32("the escalate review that opened it"),
      target: hex32("the assertion under review"),
      status: oneOfEnum(["open", "resolved"]),
      opened_at: isoTime("when it was opened"),
      context: {
        description: "subject, predicate, lens, conflict, threshold, request_id, api_key (the note of the escalate review)",
        anyOf: [
          obj({
            subject: str(),
            predicate: str(),
            lens: str(),
            conflict: num(),
            threshold: num(),
            "request_id?": str(),
            api_key: nullable(str()),
          }),
          { type: ["string", "null"] },
        ],
      },
      "resolution?": obj({ id: hex32("the resolve review"), at: isoTime("when"), note: nullable(str()) }),
    }),
    EscalationList: obj({ items: arr(ref("Escalation")) }),
    ResolveRequest: obj({ "note?": str(), "gold?": hex32("an assertion to mark a gold standard as well") }, "May be empty.", {
      additionalProperties: false,
    }),
    ResolveResult: obj({
      escalation: ref("Escalation"),
      lsn: int(),
      resolution_id: hex32("the resolve review"),
      "gold_id?": hex32("the gold review"),
    }),
    QueryAuditEntry: auditEntry,
    QueryAuditPage: obj({ items: arr(ref("QueryAuditEntry")), next_cursor: cursor }),
    ...provenanceSchemas(),
    ...adminSchemas(),
    Problem: problemSchema(),
  };
}

function provenanceSchemas(): Record<string, Schema> {
  const impactItem = obj({
    id: hex32("assertion id"),
    flag: oneOfEnum(["source_retracted", "cascade"]),
    subject: str(),
    predicate: str(),
    depth: int("0 cites the source; n is n depends_on steps from one that does"),
  });
  const impactFields = {
    source_retracted: int("assertions citing the source"),
    cascade: int("assertions whose depends_on reaches one of them"),
    total: int(),
    items: arr(ref("ImpactItem"), "citing assertions in log order, then the cascade by depth"),
    next_cursor: cursor,
  };
  const summary = obj(
    {
      id: hex32("record id"),
      kind: str(),
      agent: str(),
      ts: int(),
      "value?": oneOfEnum([1, -1]),
      "reason?": str(),
      "action?": str(),
      "note?": str(),
      "subject?": str(),
      "predicate?": str(),
    },
    "A record that targets the node.",
  );
  return {
    SourceView: obj({
      source_id: str(),
      registered: bool(),
      title: nullable(str()),
      tier: int("1–5; 6 when not registered", { minimum: 1, maximum: 6 }),
      "url?": str(),
      "published_at?": int(),
      registrar: nullable(str("the first registrant's key")),
      registration: nullable(hex32("the first source record")),
      registered_at: nullable(int()),
      record: nullable(hex32("the source record holding the current entry")),
      retracted: bool(),
      retraction: nullable(obj({ id: hex32("record id"), agent: str(), ts: int(), "reason?": str() })),
      notes: arr(str()),
      citing_assertions: int(),
    }),
    SourcePage: obj({ items: arr(ref("SourceView")), next_cursor: cursor }),
    ImpactItem: impactItem,
    ImpactReport: obj({ source_id: str(), dry_run: { const: true }, ...impactFields }),
    SourceRetractResult: obj({
      id: hex32("the source_retraction"),
      lsn: int(),
      status: oneOfEnum(["accepted", "quarantined"]),
      duplicate: bool(),
      impact: obj(impactFields, "the first 100 items"),
    }),
    Epoch: obj({
      name: str(),
      id: hex32("the epoch record"),
      agent: str(),
      authority: bool(),
      ts: int(),
      starts_at: int(),
      supersedes: nullable(str()),
      superseded_by: arr(str(), "epochs an authority declared superseding this one"),
    }),
    EpochList: obj({ items: arr(ref("Epoch")) }),
    SupersedeRequest: obj(
      {
        by: str("the new epoch's name"),
        "starts_at?": { type: ["integer", "string"], description: "ms or ISO 8601; default now" },
      },
      undefined,
      { additionalProperties: false },
    ),
    ProvenanceRef: summary,
    ProvenanceNode: {
      description:
        "An assertion with what bears on it, or a stub: dangling (not on this node), cycle, truncated (deeper than depth), or not an assertion.",
      oneOf: [
        obj({
          id: hex32("assertion id"),
          record: ref("Record"),
          flags: arr(ref("Flag")),
          notes: arr(str()),
          source: nullable(obj({ source_id: str(), title: nullable(str()), tier: int(), registered: bool(), retracted: bool() })),
          votes: arr(ref("ProvenanceRef")),
          retractions: arr(ref("ProvenanceRef")),
          reviews: arr(ref("ProvenanceRef")),
          superseded_by: arr(ref("ProvenanceRef")),
          depends_on: arr(ref("ProvenanceNode")),
        }),
        obj({ id: hex32("id"), dangling: { const: true } }),
        obj({ id: hex32("id"), cycle: { const: true } }),
        obj({ id: hex32("id"), truncated: { const: true } }),
        obj({ id: hex32("id"), not_an_assertion: { const: true }, kind: str() }),
      ],
    },
    ProvenanceTree: obj({
      root: ref("ProvenanceNode"),
      nodes: int("at most 2,000"),
      dangling: arr(hex32("id"), "dependencies this node does not hold"),
      lsn: int(),
    }),
  };
}

function adminSchemas(): Record<string, Schema> {
  const role = oneOfEnum(["reader", "writer", "admin"]);
  return {
    GoldRequest: obj(
      {
        target: hex32("an assertion id"),
        "action?": oneOfEnum(["gold", "ungold"], "default gold"),
        "note?": str(`at most ${limits.textBytesMax / 2} bytes`),
      },
      undefined,
      { additionalProperties: false },
    ),
    GoldResult: obj({
      id: hex32("the review record"),
      lsn: int(),
      status: oneOfEnum(["accepted", "quarantined"]),
      duplicate: bool(),
      ts: int(),
      action: oneOfEnum(["gold", "ungold"]),
      target: hex32("the assertion"),
    }),
    AdminAuditPage: obj({ items: arr(ref("Decision"), "in log order"), next_cursor: cursor }),
    ...defenseSchemas(),
    KeyCreateRequest: obj({ name: str("1–128 bytes"), role }, undefined, { additionalProperties: false }),
    KeyCreated: obj({
      id: str("16 hex digits", { pattern: "^[0-9a-f]{16}$" }),
      name: str(),
      role,
      secret: str("send as Authorization: Bearer <secret>; shown only here", { pattern: "^stm_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$" }),
      created_at: isoTime("created"),
    }),
    KeyInfo: obj({
      id: str(),
      name: str(),
      role,
      created_at: isoTime("created"),
      revoked_at: nullable(isoTime("revoked")),
      last_used_at: nullable(isoTime("last authenticated, this process")),
    }),
    KeyList: obj({ items: arr(ref("KeyInfo")) }),
    KeyRevoked: obj({ id: str(), revoked: { const: true } }),
    ViewsDropped: obj({ dropped: int() }),
    SnapshotRequest: obj(
      { "name?": str("the directory under --backup-dir: letters, digits, . _ - (default stemedb-<time>)") },
      "May be empty.",
      { additionalProperties: false },
    ),
    Snapshot: obj({
      dir: str("where the backup is, absolute"),
      lsn: int("the log position it is consistent at"),
      records: int(),
      merkle_root: hex32("the Merkle root over the record ids"),
      files: int("files in the manifest"),
      ms: int("how long it took"),
    }),
    Health: obj({
      status: { const: "ok" },
      version: str(),
      node_id: str("the first 16 hex digits of the node key"),
      lsn: int("last log position"),
      index_lsn: int("last indexed position"),
      root: nullable(hex32("the Merkle root over every record id up to root_lsn, computed in the background")),
      root_lsn: nullable(int("the log position the root covers")),
      uptime_s: int(),
    }),
    Ready: obj({ ready: { const: true }, lsn: int() }),
    NotReady: obj({ ready: { const: false }, reason: str() }),
  };
}

/** Content defense (SPEC §6): the quarantine queue, decisions on it, circuit breakers. */
function defenseSchemas(): Record<string, Schema> {
  const state = oneOfEnum(["closed", "open", "half_open"]);
  const breaker = {
    state,
    writes: int("verified writes in the current window"),
    bad: int("quarantined or rejected writes in the current window"),
    opened_at: nullable(isoTime("when it last opened; null when closed")),
    retry_after_s: nullable(int("seconds until a probe may pass (1 while a probe is out); null when closed")),
    reason: nullable(str("why it last opened")),
    trips: int("times it opened since start or the last reset"),
  };
  return {
    QuarantineItem: obj({
      id: hex32("the held assertion"),
      assertion: ref("AssertionRecord"),
      hold: obj({
        id: hex32("the hold review"),
        lsn: int(),
        agent: nullable(hex32("the authority that signed the hold")),
        recorded_at: nullable(millis("when this node wrote it")),
        api_key: nullable(str("the API key that asked, for a hold an admin made")),
      }),
      rules: arr(oneOfEnum(["unknown_agent", "trust_below", "gold_contradiction"]), "the policy rules that fired"),
      why: anyValue("the rules with what each saw ({rule, detail, trust?, threshold?, gold?, confidence?}), or the hold's note"),
    }),
    QuarantinePage: obj({
      items: arr(ref("QuarantineItem"), "oldest hold first"),
      held: int("assertions held now"),
      next_cursor: cursor,
    }),
    QuarantineDecisionRequest: obj({ "note?": str(`at most ${limits.textBytesMax / 2} bytes`) }, "May be empty.", {
      additionalProperties: false,
    }),
    QuarantineDecision: obj({
      id: hex32("the review record"),
      lsn: int(),
      status: oneOfEnum(["accepted", "quarantined"]),
      duplicate: bool(),
      ts: int(),
      action: oneOfEnum(["approve", "reject"]),
      target: hex32("the assertion"),
      state: oneOfEnum(["approved", "rejected"]),
    }),
    Breaker: obj({ agent: hex32("the agent key"), ...breaker }),
    GlobalBreaker: obj({
      state: oneOfEnum(["closed", "open"]),
      fsync_p99_ms: nullable(num("p99 fdatasync time of the recent group commits; null with too few")),
      samples: int("syncs in the window"),
      bound_ms: num("--shed-fsync-p99-ms (0: off)"),
      opened_at: nullable(isoTime("when it opened")),
      retry_after_s: nullable(int()),
      reason: nullable(str("why it last opened")),
    }),
    BreakerList: obj({
      items: arr(ref("Breaker"), "open first, then half-open, then the busiest closed ones"),
      global: ref("GlobalBreaker"),
      rejections: int("writes refused by agent breakers since start"),
    }),
    BreakerReset: obj({ agent: hex32("the agent key"), reset: { const: true }, ...breaker }),
  };
}

function problemSchema(): Schema {
  return obj(
    {
      type: str("https://stemedb.dev/problems/<code>", { format: "uri" }),
      title: str(),
      status: int(),
      code: oneOfEnum(Object.keys(problemCodes), "stable: program against this"),
      detail: str("for people"),
      "hint?": str("what to do about it"),
      "instance?": str(),
      "request_id?": str("the X-Request-Id; in the server's log lines too"),
      "field?": str("the field or parameter at fault"),
      "computed_id?": hex32("bad_signature: the id the server computed"),
      "allow?": str("method_not_allowed: the methods the path takes"),
      "retry_after_s?": int(),
      "bytes_max?": int(),
      "items_max?": int(),
      "offset?": int(),
      "server_time?": int(),
      "registrar?": str("not_registrar: the source's registrar"),
      "expected?": arr(str(), "unknown_lens: the lenses there are"),
      "agent?": str("breaker_open: the agent whose breaker is open"),
      "state?": str("already_decided: approved, rejected or deciding"),
      "decision?": nullable(hex32("already_decided: the review that decided it")),
      "file?": str("log_corrupt: the damaged segment"),
    },
    "RFC 9457 problem details with a stable `code`.",
    { additionalProperties: true },
  );
}

// ---------------------------------------------------------------- parameters and headers

const componentParameters: Record<string, Parameter> = {
  Limit: {
    name: "limit",
    in: "query",
    description: `page size, 1–${limits.listLimitMax} (default ${limits.listLimitDefault})`,
    schema: int(undefined, { minimum: 1, maximum: limits.listLimitMax, default: limits.listLimitDefault }),
  },
  Cursor: { name: "cursor", in: "query", description: "next_cursor of the previous page", schema: str() },
  RequestId: {
    name: "X-Request-Id",
    in: "header",
    description: "your request id (1–64 of A–Z a–z 0–9 . _ -); otherwise the server makes one",
    schema: str(undefined, { pattern: "^[A-Za-z0-9._-]{1,64}$" }),
  },
};

const componentHeaders: Record<string, Header> = {
  "X-Request-Id": { description: "the request id, yours or the server's; in its log lines too", schema: str() },
  RateLimit: {
    description:
      'draft-ietf-httpapi-ratelimit-headers: tokens left in the bucket, e.g. `"write";r=9874;t=0`. Absent on health checks, on 401 and on 403 `forbidden`: the door answers those before it draws on a bucket.',
    schema: str(),
  },
  "RateLimit-Policy": { description: 'the bucket\'s policy, e.g. `"write";q=10000;w=1`', schema: str() },
  "Retry-After": { description: "seconds to wait before retrying", schema: int() },
  Allow: { description: "the methods the path takes", schema: str() },
};

const headerRef = (name: string): Ref => ({ $ref: `#/components/headers/${name}` });
const paramRef = (name: string): Ref => ({ $ref: `#/components/parameters/${name}` });

const query = (name: string, description: string, schema: Schema = str(), required = false): Parameter => ({
  name,
  in: "query",
  ...(required ? { required } : {}),
  description,
  schema,
});
const pathParam = (name: string, description: string, schema: Schema = str()): Parameter => ({
  name,
  in: "path",
  required: true,
  description,
  schema,
});
const timeParam = (name: string, description: string): Parameter =>
  query(
    name,
    `${description}: ms since the Unix epoch or ISO 8601`,
    str(undefined, { examples: ["1735689600000", "2025-01-01T00:00:00Z"] }),
  );

/** The parameters of `GET /v1/query` other than subject and predicate. */
const lensParams: Parameter[] = [
  query("lens", "the lens (default consensus)", ref("Lens")),
  timeParam("as_of", "only records with ts at or before this count (time travel)"),
  timeParam("valid_at", "only assertions whose [valid_from, valid_to) holds this time"),
  query("tolerance", "numbers within this relative distance agree", num(undefined, { minimum: 0, maximum: 1 })),
  query("include", `flags whose assertions still count, comma-separated (${blockingFlags.join(", ")})`),
  query("layers", "for layered: lenses in order, comma-separated"),
  query("fresh", "true: resolve now — wait for the index, recompute TrustRank, skip views", bool()),
  query("escalate", "true (the server's --escalate-kappa) or a κ threshold in (0, 1]: open an escalation at or above it"),
  query("explain", "false leaves the explain lines out", bool()),
];

// ---------------------------------------------------------------- operations

interface Answer {
  description: string;
  schema?: Schema;
  /** Content type → schema, when not just JSON. */
  content?: Record<string, MediaType>;
  headers?: Record<string, Header | Ref>;
}

interface OperationSpec {
  tag: string;
  summary: string;
  description?: string;
  /** null: a health check, no key, not rate-limited. */
  role: Role | null;
  parameters?: Array<Parameter | Ref>;
  body?: { description?: string; required?: boolean; content: Record<string, MediaType> };
  answers: Record<number, Answer>;
  /** Problem codes the endpoint itself can answer (those of the door are added from `role`). */
  errors?: string[];
}

const readFailures = ["index_failed", "timeout", "internal", "log_corrupt", "index_damaged"];
const recordCodes = [
  "malformed_json",
  "malformed_cbor",
  "non_canonical_cbor",
  "invalid_record",
  "unknown_field",
  "missing_field",
  "invalid_type",
  "out_of_range",
  "too_long",
  "too_deep",
  "invalid_text",
  "invalid_path",
  "invalid_number",
  "bad_hex",
  "bad_signature",
];
const bodyCodes = ["payload_too_large", "request_timeout"];
const writeCodes = [
  ...recordCodes,
  ...bodyCodes,
  "unsupported_media_type",
  "clock_skew",
  "overloaded",
  "breaker_open",
  "log_write_failed",
  "disk_full",
  "log_closed",
  "unavailable",
];
/** A decision signed by the node's authority key is a write like any other. */
const decisionCodes = ["overloaded", "log_write_failed", "disk_full", "log_closed"];
/** The body of an endpoint that takes a small JSON object. */
const jsonBodyCodes = ["malformed_json", "invalid_request", "unknown_field", "invalid_type", ...bodyCodes];

const json = (schema: Schema): Record<string, MediaType> => ({ "application/json": { schema } });

function op(operationId: string, spec: OperationSpec): Operation {
  const rateLimited = spec.role !== null;
  const codes = new Set([...(spec.errors ?? []), ...readFailures]);
  if (rateLimited) for (const c of ["unauthorized", "forbidden", "rate_limited", "key_permissions"]) codes.add(c);
  // The door answers 401 (and 403 forbidden) before it draws on a bucket; only problems carry Retry-After.
  const headers = (status: number, problem: boolean): Record<string, Header | Ref> => ({
    "X-Request-Id": headerRef("X-Request-Id"),
    ...(rateLimited && status !== 401
      ? { RateLimit: headerRef("RateLimit"), "RateLimit-Policy": headerRef("RateLimit-Policy") }
      : {}),
    ...(problem && [409, 429, 503].includes(status) ? { "Retry-After": headerRef("Retry-After") } : {}),
  });
  const responses: Record<string, Response> = {};
  for (const [status, a] of Object.entries(spec.answers)) {
    const content = a.content ?? (a.schema ? json(a.schema) : undefined);
    responses[status] = {
      description: a.description,
      headers: { ...headers(Number(status), false), ...a.headers },
      ...(content ? { content } : {}),
    };
  }
  const byStatus = new Map<number, string[]>();
  for (const code of codes) {
    const known = problemCodes[code];
    if (!known) throw new Error(`openapi: ${operationId} lists unknown problem code ${code}`);
    byStatus.set(known.status, [...(byStatus.get(known.status) ?? []), code]);
  }
  for (const [status, list] of [...byStatus].sort((a, b) => a[0] - b[0])) {
    if (responses[status]) continue; // the operation's own answer for that status (e.g. ready's 503)
    responses[status] = {
      description: `A problem: ${list.map((c) => `\`${c}\``).join(", ")} (see the Problem schema's codes).`,
      headers: headers(status, true),
      content: {
        "application/problem+json": {
          schema: { allOf: [ref("Problem"), { properties: { code: { enum: list } } }] },
        },
      },
    };
  }
  return {
    operationId,
    tags: [spec.tag],
    summary: spec.summary,
    ...(spec.description ? { description: spec.description } : {}),
    ...(spec.role ? { "x-stemedb-role": spec.role } : { security: [] }),
    parameters: [paramRef("RequestId"), ...(spec.parameters ?? [])],
    ...(spec.body ? { requestBody: { required: spec.body.required ?? true, ...spec.body } } : {}),
    responses,
  };
}

const writeBody = (schema: string, what: string) => ({
  description: `${what}. A body without a content type (or curl's x-www-form-urlencoded) is read as JSON. At most ${mib(limits.writeBodyBytesMax)} (--write-body-limit).`,
  content: {
    "application/json": { schema: ref(schema) },
    "application/cbor": { schema: ref("CborSubmission") },
  },
});

const written: Record<number, Answer> = {
  201: { description: "stored: in the log on stable storage and indexed", schema: ref("WriteResult") },
  200: { description: "the same record was already stored (`duplicate: true`)", schema: ref("WriteResult") },
};

const idParam = pathParam("id", "a record id, 64 hex digits", hex32("record id"));

function writeOperations(): Record<string, Partial<Record<Method, Operation>>> {
  return {
    "/v1/assert": {
      post: op("assert", {
        tag: "write",
        role: "writer",
        summary: "Submit one signed record of any kind",
        description:
          "The server encodes JSON fields canonically (docs/FORMAT.md), computes the id and verifies the signature; a CBOR body must already be canonical. Nothing is written on any error.",
        body: writeBody("RecordSubmission", "one signed record"),
        answers: written,
        errors: writeCodes,
      }),
    },
    "/v1/vote": {
      post: op("vote", {
        tag: "write",
        role: "writer",
        summary: "Submit a signed vote",
        description: "As POST /v1/assert for one `vote` record; any other kind is `400 wrong_kind`.",
        body: writeBody("VoteSubmission", "a signed vote"),
        answers: written,
        errors: [...writeCodes, "wrong_kind"],
      }),
    },
    "/v1/retract": {
      post: op("retract", {
        tag: "write",
        role: "writer",
        summary: "Submit a signed retraction",
        description:
          "As POST /v1/assert for one `retraction` record; it counts only when signed by the assertion's author or an authority.",
        body: writeBody("RetractionSubmission", "a signed retraction"),
        answers: written,
        errors: [...writeCodes, "wrong_kind"],
      }),
    },
    "/v1/assert/batch": {
      post: op("assertBatch", {
        tag: "write",
        role: "writer",
        summary: `Submit up to ${limits.batchRecordsMax} records`,
        description:
          "Results are in input order; one bad item fails alone (its slot holds `{error: problem}`), the others are stored. A record twice in one batch is stored once, the later copy answering `duplicate: true`. A malformed envelope, an empty batch or too many records fail the whole request. `Accept: application/cbor` answers in CBOR.",
        body: {
          description: `{"records": [...]} in JSON, or {records: [{body, sig}, …]} in CBOR; at most ${mib(limits.batchBodyBytesMax)} (--batch-body-limit).`,
          content: {
            "application/json": { schema: ref("BatchRequest") },
            "application/cbor": { schema: obj({ records: arr(ref("CborSubmission"), undefined, { minItems: 1 }) }) },
          },
        },
        answers: {
          200: {
            description: "every item's outcome",
            content: { "application/json": { schema: ref("BatchResult") }, "application/cbor": { schema: ref("BatchResult") } },
          },
        },
        errors: [
          "malformed_json",
          "malformed_cbor",
          "invalid_request",
          "unknown_field",
          "batch_too_large",
          "unsupported_media_type",
          "overloaded",
          ...bodyCodes,
        ],
      }),
    },
  };
}

function readOperations(): Record<string, Partial<Record<Method, Operation>>> {
  const queryAnswer = { 200: { description: "the answer", schema: ref("QueryAnswer") } };
  const queryCodes = ["invalid_query", "unknown_lens", "query_too_large", "overloaded", "log_write_failed"];
  return {
    "/v1/assertions/{id}": {
      get: op("getRecord", {
        tag: "read",
        role: "reader",
        summary: "A record by id, of any kind",
        description:
          "For an assertion, `flags` are its lifecycle flags derived now and `notes` explain them (including what was ignored).",
        parameters: [idParam],
        answers: { 200: { description: "the record", schema: ref("Record") } },
        errors: ["invalid_query", "not_found"],
      }),
    },
    "/v1/assertions": {
      get: op("listRecords", {
        tag: "read",
        role: "reader",
        summary: "List records",
        description: "Unknown parameters are an error, so a typo never silently widens a query. Listings do not derive flags.",
        parameters: [
          query("subject", "exact path; `a/b/*` for everything below a path; `*/b` for paths ending so"),
          query("predicate", "exact"),
          query("agent", "the agent's public key, hex", hex32("public key")),
          query("source", "a source id, exact"),
          query("kind", `assertion (default), a comma list of ${kinds.join(", ")}, or any`),
          timeParam("since", "ts at or after"),
          timeParam("until", "ts at or before"),
          query("order", "log order", oneOfEnum(["asc", "desc"])),
          paramRef("Limit"),
          paramRef("Cursor"),
        ],
        answers: { 200: { description: "a page", schema: ref("RecordPage") } },
        errors: ["invalid_query"],
      }),
    },
    "/v1/query": {
      get: op("query", {
        tag: "query",
        role: "reader",
        summary: "Resolve (subject, predicate) through a lens",
        description:
          "Candidates are the visible assertions about the pair (docs/API.md); one agent, one voice. Without as_of the answer may come from a materialized view equal to the resolved one. With escalate, an answer whose κ reaches the threshold opens an escalation on its winner.",
        parameters: [
          query("subject", "the subject path", str(), true),
          query("predicate", "the predicate", str(), true),
          ...lensParams,
        ],
        answers: queryAnswer,
        errors: queryCodes,
      }),
      post: op("queryLenses", {
        tag: "query",
        role: "reader",
        summary: "Resolve through several lenses side by side",
        body: { description: "JSON, at most 64 KiB (--read-body-limit)", content: json(ref("QueryRequest")) },
        answers: { 200: { description: "lens → answer", schema: ref("MultiQueryAnswer") } },
        errors: [...queryCodes, ...jsonBodyCodes],
      }),
    },
    "/v1/subjects/{path}": {
      get: op("subject", {
        tag: "query",
        role: "reader",
        summary: "Every predicate of a subject, resolved",
        description:
          "Every predicate asserted about exactly that subject, each through one lens (at most 500, by name). The path's slashes may stay unencoded: the rest of the URL path is the subject.",
        parameters: [pathParam("path", "the subject, e.g. pharma/drug/aspirin"), ...lensParams],
        answers: { 200: { description: "predicate → answer", schema: ref("SubjectAnswer") } },
        errors: ["invalid_query", "unknown_lens", "query_too_large"],
      }),
    },
    "/v1/concepts": {
      get: op("concepts", {
        tag: "read",
        role: "reader",
        summary: "The concept tree: the children of a path",
        parameters: [query("prefix", "a concept path; the roots without it"), paramRef("Limit")],
        answers: { 200: { description: "the children", schema: ref("ConceptList") } },
        errors: ["invalid_query"],
      }),
    },
  };
}

function trustOperations(): Record<string, Partial<Record<Method, Operation>>> {
  return {
    "/v1/agents": {
      get: op("listAgents", {
        tag: "trust",
        role: "reader",
        summary: "Agents by TrustRank τ",
        description: "Every agent that signed a record, plus the authorities.",
        parameters: [
          query("sort", "trust (default, highest first) or key", oneOfEnum(["trust", "key"])),
          paramRef("Limit"),
          paramRef("Cursor"),
        ],
        answers: { 200: { description: "a page", schema: ref("AgentPage") } },
        errors: ["invalid_query"],
      }),
    },
    "/v1/agents/{key}": {
      get: op("getAgent", {
        tag: "trust",
        role: "reader",
        summary: "One agent: τ and how it came about, counts, recent records",
        parameters: [
          pathParam("key", "the agent's public key, 64 hex digits", hex32("public key")),
          query("recent", `recent records to show, 1–${limits.listLimitMax} (default 10)`, int(undefined, { minimum: 1 })),
        ],
        answers: { 200: { description: "the agent", schema: ref("AgentDetail") } },
        errors: ["invalid_query", "not_found"],
      }),
    },
    "/v1/escalations": {
      get: op("listEscalations", {
        tag: "trust",
        role: "reader",
        summary: "Escalations: contested answers opened for review",
        parameters: [query("status", "default open", oneOfEnum(["open", "resolved", "all"]))],
        answers: { 200: { description: "the escalations", schema: ref("EscalationList") } },
        errors: ["invalid_query"],
      }),
    },
    "/v1/escalations/{id}/resolve": {
      post: op("resolveEscalation", {
        tag: "trust",
        role: "admin",
        summary: "Resolve an escalation (a review signed by the node's authority key)",
        description: "With `gold`, that assertion is also marked a gold standard.",
        parameters: [pathParam("id", "the escalation id (or its target)", str())],
        body: { required: false, content: json(ref("ResolveRequest")) },
        answers: { 200: { description: "resolved", schema: ref("ResolveResult") } },
        errors: [...jsonBodyCodes, "not_found", "already_resolved", ...decisionCodes],
      }),
    },
    "/v1/audit/queries": {
      get: op("queryAudit", {
        tag: "trust",
        role: "reader",
        summary: "The query audit trail, newest first",
        parameters: [
          query("subject", "exact"),
          query("predicate", "exact"),
          query("lens", "exact"),
          query("caller", "`key:<id>` or a client address"),
          timeParam("since", "answered at or after"),
          timeParam("until", "answered at or before"),
          paramRef("Limit"),
          paramRef("Cursor"),
        ],
        answers: { 200: { description: "a page", schema: ref("QueryAuditPage") } },
        errors: ["invalid_query", "audit_disabled"],
      }),
    },
  };
}

function provenanceOperations(): Record<string, Partial<Record<Method, Operation>>> {
  const sourceId = pathParam("id", "the source id; percent-encode its slashes (mega%2Ftrial-7)");
  return {
    "/v1/export": {
      get: op("exportBundle", {
        tag: "provenance",
        role: "reader",
        summary: "An audit bundle: the selection, its provenance closure and a manifest",
        description:
          "Streams the full signed records of the assertions the selection matches, their depends_on closure, the votes, retractions, reviews and superseders that target them, their sources and those sources' retractions, and the epochs — then a manifest (counts, BLAKE3 Merkle root over the sorted ids, export time). Check it offline with `stemedb verify-bundle` (docs/FORMAT.md, Audit bundles).",
        parameters: [
          query("subject_prefix", "an exact subject, `a/b/*` (descendants) or `*/b` (default: every subject)"),
          query("predicate", "only assertions with this predicate"),
          timeParam("since", "only assertions stated at or after"),
          timeParam("until", "only assertions stated at or before"),
          query("format", "ndjson (default) or cbor (an RFC 8742 CBOR sequence)", oneOfEnum(["ndjson", "cbor"])),
        ],
        answers: {
          200: {
            description: "the bundle, as an attachment (Content-Disposition); the manifest is the last item",
            content: { "application/x-ndjson": { schema: str() }, "application/cbor-seq": { schema: str() } },
            headers: {
              "X-Bundle-Records": { description: "records in the bundle (the manifest's `records`)", schema: int() },
              "X-Bundle-Merkle-Root": { description: "the manifest's `merkle_root`", schema: str() },
              "X-Bundle-Lsn": { description: "the log position the bundle reflects", schema: int() },
            },
          },
        },
        errors: ["invalid_query", "export_too_large"],
      }),
    },
    "/v1/sources": {
      post: op("registerSource", {
        tag: "provenance",
        role: "writer",
        summary: "Register a source (a signed source record)",
        description: "The first registrant is the registrar; later entries count from the registrar or an authority only.",
        body: writeBody("SourceSubmission", "a signed source record"),
        answers: written,
        errors: [...writeCodes, "wrong_kind"],
      }),
      get: op("listSources", {
        tag: "provenance",
        role: "reader",
        summary: "Sources by id, registered or only cited",
        parameters: [
          query("tier", "1–5, or 6 for unregistered", int(undefined, { minimum: 1, maximum: 6 })),
          paramRef("Limit"),
          paramRef("Cursor"),
        ],
        answers: { 200: { description: "a page", schema: ref("SourcePage") } },
        errors: ["invalid_query"],
      }),
    },
    "/v1/sources/{id}": {
      get: op("getSource", {
        tag: "provenance",
        role: "reader",
        summary: "A source: its entry, registrar, retraction and citations",
        parameters: [sourceId],
        answers: { 200: { description: "the source", schema: ref("SourceView") } },
        errors: ["invalid_query", "unknown_source"],
      }),
    },
    "/v1/sources/{id}/impact": {
      get: op("sourceImpact", {
        tag: "provenance",
        role: "reader",
        summary: "What retracting a source would flag (dry run)",
        description:
          "Every assertion citing the source (depth 0), then every assertion whose depends_on reaches one, by depth. Nothing is written.",
        parameters: [sourceId, paramRef("Limit"), paramRef("Cursor")],
        answers: { 200: { description: "the impact", schema: ref("ImpactReport") } },
        errors: ["invalid_query", "unknown_source"],
      }),
    },
    "/v1/sources/{id}/retract": {
      post: op("retractSource", {
        tag: "provenance",
        role: "writer",
        summary: "Retract a source (a signed source_retraction by its registrar or an authority)",
        description:
          "Anyone else's is refused (`403 not_registrar`) and nothing is written; a record for another source id is a 400. Answers the write and the first 100 items of the impact.",
        parameters: [sourceId],
        body: writeBody("SourceRetractionSubmission", "a signed source_retraction for this source"),
        answers: {
          201: { description: "retracted", schema: ref("SourceRetractResult") },
          200: { description: "the same retraction was already stored", schema: ref("SourceRetractResult") },
        },
        errors: [...writeCodes, "wrong_kind", "invalid_request", "invalid_query", "unknown_source", "not_registrar"],
      }),
    },
    "/v1/epochs": {
      post: op("declareEpoch", {
        tag: "provenance",
        role: "writer",
        summary: "Declare an epoch (a signed epoch record)",
        body: writeBody("EpochSubmission", "a signed epoch record"),
        answers: written,
        errors: [...writeCodes, "wrong_kind"],
      }),
      get: op("listEpochs", {
        tag: "provenance",
        role: "reader",
        summary: "Epochs by starts_at",
        answers: { 200: { description: "the epochs", schema: ref("EpochList") } },
        errors: ["invalid_query"],
      }),
    },
    "/v1/epochs/{name}/supersede": {
      post: op("supersedeEpoch", {
        tag: "provenance",
        role: "admin",
        summary: "The node's authority declares a new epoch superseding this one",
        description: "Every assertion of the old epoch is flagged epoch_superseded. Only an authority's supersession counts.",
        parameters: [pathParam("name", "the epoch to supersede; percent-encode its slashes")],
        body: { content: json(ref("SupersedeRequest")) },
        answers: {
          201: { description: "the new epoch record", schema: ref("DecisionWrite") },
          200: { description: "already stored", schema: ref("DecisionWrite") },
        },
        errors: [...jsonBodyCodes, "invalid_query", "unknown_epoch", ...decisionCodes],
      }),
    },
    "/v1/provenance/{id}": {
      get: op("provenance", {
        tag: "provenance",
        role: "reader",
        summary: "The provenance chain of an assertion as a tree",
        parameters: [
          idParam,
          query("depth", "levels of depends_on, 0–32 (default 8)", int(undefined, { minimum: 0, maximum: 32 })),
        ],
        answers: { 200: { description: "the tree", schema: ref("ProvenanceTree") } },
        errors: ["invalid_query", "not_found"],
      }),
    },
  };
}

function adminOperations(): Record<string, Partial<Record<Method, Operation>>> {
  return {
    "/v1/admin/gold": {
      post: op("markGold", {
        tag: "admin",
        role: "admin",
        summary: "Mark (or unmark) a gold standard",
        description: "A review signed by the node's authority key; TrustRank scores agents by agreement with gold standards.",
        body: { content: json(ref("GoldRequest")) },
        answers: {
          201: { description: "the review", schema: ref("GoldResult") },
          200: { description: "already stored", schema: ref("GoldResult") },
        },
        errors: [...jsonBodyCodes, "missing_field", "out_of_range", "invalid_query", "not_found", ...decisionCodes],
      }),
    },
    "/v1/admin/audit": {
      get: op("adminAudit", {
        tag: "admin",
        role: "admin",
        summary: "Every decision an authority signed, in log order",
        parameters: [
          timeParam("from", "stated time at or after"),
          timeParam("to", "stated time at or before"),
          paramRef("Limit"),
          paramRef("Cursor"),
        ],
        answers: { 200: { description: "a page", schema: ref("AdminAuditPage") } },
        errors: ["invalid_query"],
      }),
    },
    ...defenseOperations(),
    "/v1/admin/keys": {
      post: op("createKey", {
        tag: "admin",
        role: "admin",
        summary: "Create an API key; the secret is in this answer only",
        body: { content: json(ref("KeyCreateRequest")) },
        answers: { 201: { description: "the key and its secret", schema: ref("KeyCreated") } },
        errors: [...jsonBodyCodes, "missing_field"],
      }),
      get: op("listKeys", {
        tag: "admin",
        role: "admin",
        summary: "API keys (never secrets or hashes)",
        answers: { 200: { description: "the keys", schema: ref("KeyList") } },
      }),
    },
    "/v1/admin/keys/{id}": {
      delete: op("revokeKey", {
        tag: "admin",
        role: "admin",
        summary: "Revoke an API key, effective at once",
        parameters: [pathParam("id", "the key id, 16 hex digits", str(undefined, { pattern: "^[0-9a-f]{16}$" }))],
        answers: { 200: { description: "revoked", schema: ref("KeyRevoked") } },
        errors: ["invalid_query", "not_found"],
      }),
    },
    "/v1/admin/snapshot": {
      post: op("snapshot", {
        tag: "admin",
        role: "admin",
        summary: "Take an online backup into a new directory under --backup-dir",
        description:
          "Consistent at one log position: the index copied with VACUUM INTO, the log cut at a frame, a manifest with per-file BLAKE3 and the Merkle root. Check it with `stemedb verify --backup DIR`; restore with `stemedb restore`.",
        body: { required: false, content: json(ref("SnapshotRequest")) },
        answers: { 201: { description: "the backup", schema: ref("Snapshot") } },
        errors: [...jsonBodyCodes, "no_backup_dir", "busy", "exists", "backup_failed", "io_error"],
      }),
    },
    "/v1/admin/views": {
      delete: op("dropViews", {
        tag: "admin",
        role: "admin",
        summary: "Drop every materialized view (answers do not change)",
        answers: { 200: { description: "how many were dropped", schema: ref("ViewsDropped") } },
      }),
    },
  };
}

/** Content defense (SPEC §6): the quarantine queue and its decisions, circuit breakers. */
function defenseOperations(): Record<string, Partial<Record<Method, Operation>>> {
  const decide = (action: "approve" | "reject", operationId: string, summary: string): Operation =>
    op(operationId, {
      tag: "admin",
      role: "admin",
      summary,
      description: `A \`${action}\` review signed by the node's authority key, its note naming the API key. 404 when the assertion is not held, 409 when it was already decided.`,
      parameters: [idParam],
      body: { required: false, content: json(ref("QuarantineDecisionRequest")) },
      answers: { 201: { description: "the decision", schema: ref("QuarantineDecision") } },
      errors: [...jsonBodyCodes, "invalid_query", "not_found", "already_decided", ...decisionCodes],
    });
  return {
    "/v1/admin/quarantine": {
      get: op("listQuarantine", {
        tag: "admin",
        role: "admin",
        summary: "Assertions held in quarantine now, with why",
        description:
          "Held at ingest by a policy (--quarantine-unknown-agents, --quarantine-trust-below, --quarantine-gold) or by an authority's hold review; invisible to lenses until approved.",
        parameters: [paramRef("Limit"), paramRef("Cursor")],
        answers: { 200: { description: "a page", schema: ref("QuarantinePage") } },
        errors: ["invalid_query"],
      }),
    },
    "/v1/admin/quarantine/{id}/approve": { post: decide("approve", "approveQuarantine", "Approve a held assertion") },
    "/v1/admin/quarantine/{id}/reject": { post: decide("reject", "rejectQuarantine", "Reject a held assertion") },
    "/v1/admin/breakers": {
      get: op("listBreakers", {
        tag: "admin",
        role: "admin",
        summary: "Per-agent circuit breakers that are open, half-open or busy, and the global breaker",
        parameters: [query("state", "only breakers in this state", oneOfEnum(["closed", "open", "half_open"]))],
        answers: { 200: { description: "the breakers", schema: ref("BreakerList") } },
        errors: ["invalid_query"],
      }),
    },
    "/v1/admin/breakers/{agent}/reset": {
      post: op("resetBreaker", {
        tag: "admin",
        role: "admin",
        summary: "Close an agent's circuit breaker and empty its windows",
        parameters: [pathParam("agent", "an agent key, 64 hex digits", hex32("agent key"))],
        answers: { 200: { description: "closed", schema: ref("BreakerReset") } },
        errors: ["invalid_query", "not_found"],
      }),
    },
  };
}

function opsOperations(): Record<string, Partial<Record<Method, Operation>>> {
  return {
    "/v1/health": {
      get: op("health", {
        tag: "ops",
        role: null,
        summary: "Liveness: version and log position",
        answers: { 200: { description: "the process is up", schema: ref("Health") } },
      }),
    },
    "/v1/ready": {
      get: op("ready", {
        tag: "ops",
        role: null,
        summary: "Readiness",
        answers: {
          200: { description: "ready", schema: ref("Ready") },
          503: { description: "shutting down, after a failed log write, or while the index fails", schema: ref("NotReady") },
        },
      }),
    },
    "/metrics": {
      get: op("metrics", {
        tag: "ops",
        role: null,
        summary: "Prometheus metrics",
        description:
          "stemedb_wal_*, stemedb_index_*, stemedb_ingest_*, stemedb_http_* (by route and status), views, trust, rate-limit and limit rejections, stemedb_process_*.",
        answers: { 200: { description: "Prometheus text exposition", content: { "text/plain": { schema: str() } } } },
      }),
    },
    "/openapi.json": {
      get: op("openapi", {
        tag: "ops",
        role: null,
        summary: "This document (OpenAPI 3.1)",
        answers: { 200: { description: "the document", schema: { type: "object", description: "OpenAPI 3.1" } } },
      }),
    },
    "/docs": {
      get: op("docs", {
        tag: "ops",
        role: null,
        summary: "This document as a page for people (no scripts, no network)",
        answers: { 200: { description: "HTML", content: { "text/html": { schema: str() } } } },
      }),
    },
  };
}

// ---------------------------------------------------------------- the document

const description = `A database of signed claims for AI agents. Every record is signed with the agent's Ed25519 key and addressed by the BLAKE3 hash of its canonical CBOR bytes; nothing is overwritten. This document is served by the node itself; docs/API.md walks through each endpoint with examples.

**Authentication.** With API keys on the node, every request but the health checks carries \`Authorization: Bearer <secret>\`. Roles nest: reader ⊂ writer ⊂ admin. Each operation names the role it needs in \`x-stemedb-role\`. No key, an unknown or a revoked one: \`401 unauthorized\`; too low a role: \`403 forbidden\`. A node bound only to loopback with no keys runs open.

**Rate limits.** A token bucket per key and per client address per endpoint class (read, write, admin; health checks are not limited). Answers carry \`RateLimit\` and \`RateLimit-Policy\` (draft-ietf-httpapi-ratelimit-headers); an empty bucket answers \`429 rate_limited\` with \`Retry-After\`.

**Limits.** Write bodies ${mib(limits.writeBodyBytesMax)}, batches ${mib(limits.batchBodyBytesMax)} and ${limits.batchRecordsMax} records, read and admin bodies 64 KiB (each configurable) → \`413\`; a body not received within --http-timeout-secs → \`408\`; an answer not ready within it → \`503 timeout\` with \`Retry-After\`.

**Errors** are RFC 9457 \`application/problem+json\` with a stable \`code\` (the Problem schema lists them all); \`detail\` is for people, \`field\` names the field at fault. Every response carries \`X-Request-Id\`.

**Times** in query parameters accept integer milliseconds since the Unix epoch or ISO 8601; times in records are milliseconds.`;

export function openApiDocument(version: string): OpenApiDocument {
  return {
    openapi: "3.1.0",
    jsonSchemaDialect: "https://spec.openapis.org/oas/3.1/dialect/base",
    info: {
      title: "StemeDB HTTP API",
      version,
      summary: "Signed, content-addressed claims; lenses that resolve disagreement; provenance; trust.",
      description,
      license: { name: "Apache-2.0", identifier: "Apache-2.0" },
    },
    servers: [{ url: "http://127.0.0.1:18180", description: "the default bind address" }],
    tags: [
      { name: "write", description: "Signed records in: one, a vote, a retraction, a batch." },
      { name: "read", description: "Records by id, listings, the concept tree." },
      { name: "query", description: "Resolving a claim through a lens, with κ and an explanation." },
      { name: "trust", description: "TrustRank, escalations and the query audit trail." },
      { name: "provenance", description: "Sources and retraction cascades, epochs, provenance chains." },
      { name: "admin", description: "Authority decisions, API keys, views." },
      { name: "ops", description: "Health, readiness, metrics and this description. No key needed." },
    ],
    security: [{ bearerAuth: [] }],
    paths: {
      ...writeOperations(),
      ...readOperations(),
      ...trustOperations(),
      ...provenanceOperations(),
      ...adminOperations(),
      ...opsOperations(),
    },
    components: {
      schemas: { ...recordSchemas(), ...answerSchemas() },
      parameters: componentParameters,
      headers: componentHeaders,
      securitySchemes: {
        bearerAuth: {
          type: "http",
          scheme: "bearer",
          description: "An API key secret (stm_<id>_<secret>), from POST /v1/admin/keys or `stemedb keys create`.",
        },
      },
    },
  };
}
