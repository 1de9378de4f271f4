/**
 * Operations: the shared parameters, headers and bodies route modules describe themselves
 * with, and `operation()`, which turns a route's description into its OpenAPI operation —
 * the role from the route's class, the door's problems and each problem's status from the
 * error table.
 */
import { problems, type ProblemCode } from "../../core/errors.ts";
import * as limits from "../../core/limits.ts";
import { blockingFlags } from "../../state/index.ts";
import { bool, hex32, int, mib, num, str, ref } from "./schema.ts";
import type { Header, MediaType, Operation, Parameter, Ref, Response, Role, Schema } from "./types.ts";

// ---------------------------------------------------------------- parameters and headers

export const componentParameters: Record<string, Parameter> = {
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

export const componentHeaders: Record<string, Header> = {
  "X-Request-Id": { description: "the request id, yours or the server's; in its log lines too", schema: str() },
  RateLimit: {
    description:
      'draft-ietf-httpapi-ratelimit-headers: tokens left in the bucket, e.g. `"write";r=9874;t=0`. Absent on health checks, on 401 and on 403 `forbidden`: the door answers those before it draws on a bucket.',
    schema: str(),
  },
  "RateLimit-Policy": { description: 'the bucket\'s policy, e.g. `"write";q=10000;w=1`', schema: str() },
  "Retry-After": { description: "seconds to wait before retrying", schema: int() },
  Allow: { description: "the methods the path takes", schema: str() },
  "WWW-Authenticate": { description: "`Bearer` (RFC 6750): the scheme the API takes", schema: str() },
};

export const headerRef = (name: string): Ref => ({ $ref: `#/components/headers/${name}` });
export const paramRef = (name: string): Ref => ({ $ref: `#/components/parameters/${name}` });

export const query = (name: string, description: string, schema: Schema = str(), required = false): Parameter => ({
  name,
  in: "query",
  ...(required ? { required } : {}),
  description,
  schema,
});
export const pathParam = (name: string, description: string, schema: Schema = str()): Parameter => ({
  name,
  in: "path",
  required: true,
  description,
  schema,
});
export const timeParam = (name: string, description: string): Parameter =>
  query(
    name,
    `${description}: ms since the Unix epoch or ISO 8601`,
    str(undefined, { examples: ["1735689600000", "2025-01-01T00:00:00Z"] }),
  );

/** The parameters of `GET /v1/query` other than subject and predicate. */
export const lensParams: Parameter[] = [
  query("lens", "the lens (default consensus)", ref("Lens")),
  timeParam("as_of", "only records with ts at or before this count (time travel)"),
  timeParam(
    "known_at",
    "only records this node had received by this time count (recorded_at; node-local): what it knew then, whatever was backdated since",
  ),
  timeParam("valid_at", "only assertions whose [valid_from, valid_to) holds this time"),
  query("tolerance", "numbers within this relative distance agree", num(undefined, { minimum: 0, maximum: 1 })),
  query("include", `flags whose assertions still count, comma-separated (${blockingFlags.join(", ")})`),
  query("layers", "for layered: lenses in order, comma-separated"),
  query("fresh", "true: resolve now — wait for the index, recompute TrustRank, skip views", bool()),
  query("escalate", "true (the server's --escalate-kappa) or a κ threshold in (0, 1]: open an escalation at or above it"),
  query("explain", "false leaves the explain lines out", bool()),
];

// ---------------------------------------------------------------- operations

export interface Answer {
  description: string;
  schema?: Schema;
  /** Content type → schema, when not just JSON. */
  content?: Record<string, MediaType>;
  headers?: Record<string, Header | Ref>;
}

/** How a route describes itself (its row in the route table); the rest of its operation is derived. */
export interface OperationDoc {
  /** The OpenAPI operationId. */
  id: string;
  tag: string;
  summary: string;
  description?: string;
  parameters?: Array<Parameter | Ref>;
  body?: { description?: string; required?: boolean; content: Record<string, MediaType> };
  answers: Record<number, Answer>;
  /** Problem codes the endpoint itself can answer (the door's and every read's are added). */
  errors?: readonly ProblemCode[];
}

/** What any endpoint can meet while it reads the store. */
export const readFailures: readonly ProblemCode[] = ["index_failed", "index_damaged", "timeout", "internal", "log_corrupt"];
/** What the door answers before an endpoint that needs a role runs. */
const doorCodes: readonly ProblemCode[] = ["unauthorized", "forbidden", "rate_limited", "key_permissions"];
export const recordCodes: readonly ProblemCode[] = [
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
export const bodyCodes: readonly ProblemCode[] = ["payload_too_large", "request_timeout"];
export const writeCodes: readonly ProblemCode[] = [
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
export const decisionCodes: readonly ProblemCode[] = ["overloaded", "log_write_failed", "disk_full", "log_closed"];
/** The body of an endpoint that takes a small JSON object. */
export const jsonBodyCodes: readonly ProblemCode[] = [
  "malformed_json",
  "invalid_request",
  "unknown_field",
  "invalid_type",
  ...bodyCodes,
];

export const json = (schema: Schema): Record<string, MediaType> => ({ "application/json": { schema } });

/**
 * A route's OpenAPI operation. `role` null: a health check, no key, not rate-limited. Each
 * problem response lists the codes of its status, read from the error table.
 */
export function operation(doc: OperationDoc, role: Role | null): Operation {
  const rateLimited = role !== null;
  const codes = new Set<ProblemCode>([...(doc.errors ?? []), ...readFailures, ...(rateLimited ? doorCodes : [])]);
  // The door answers 401 (and 403 forbidden) before it draws on a bucket; only problems carry Retry-After.
  const headers = (status: number, problem: boolean): Record<string, Header | Ref> => ({
    "X-Request-Id": headerRef("X-Request-Id"),
    ...(rateLimited && status !== 401
      ? { RateLimit: headerRef("RateLimit"), "RateLimit-Policy": headerRef("RateLimit-Policy") }
      : {}),
    ...(status === 401 ? { "WWW-Authenticate": headerRef("WWW-Authenticate") } : {}),
    ...(problem && [409, 429, 503].includes(status) ? { "Retry-After": headerRef("Retry-After") } : {}),
  });
  const responses: Record<string, Response> = {};
  for (const [status, a] of Object.entries(doc.answers)) {
    const content = a.content ?? (a.schema ? json(a.schema) : undefined);
    responses[status] = {
      description: a.description,
      headers: { ...headers(Number(status), false), ...a.headers },
      ...(content ? { content } : {}),
    };
  }
  const byStatus = new Map<number, ProblemCode[]>();
  for (const code of codes) {
    const status = problems[code].status;
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
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
    operationId: doc.id,
    tags: [doc.tag],
    summary: doc.summary,
    ...(doc.description ? { description: doc.description } : {}),
    ...(role ? { "x-stemedb-role": role } : { security: [] }),
    parameters: [paramRef("RequestId"), ...(doc.parameters ?? [])],
    ...(doc.body ? { requestBody: { required: doc.body.required ?? true, ...doc.body } } : {}),
    responses,
  };
}

export const writeBody = (schema: string, what: string) => ({
  description: `${what}. A body without a content type (or curl's x-www-form-urlencoded) is read as JSON. At most ${mib(limits.writeBodyBytesMax)} (--write-body-limit).`,
  content: {
    "application/json": { schema: ref(schema) },
    "application/cbor": { schema: ref("CborSubmission") },
  },
});

export const written: Record<number, Answer> = {
  201: { description: "stored: in the log on stable storage and indexed", schema: ref("WriteResult") },
  200: { description: "the same record was already stored (`duplicate: true`)", schema: ref("WriteResult") },
};

export const idParam = pathParam("id", "a record id, 64 hex digits", hex32("record id"));
