/**
 * The TypeScript client (`@stemedb/client`, docs/CLIENT.md): keys, canonical encoding and
 * signing, submitting one record or a batch (JSON or CBOR), queries, and reading records. It runs
 * on Node 20+, Bun and in browsers: everything it reaches is plain ECMAScript plus `fetch`, and
 * @noble/ed25519 and @noble/hashes (test/client/portable.test.ts walks its imports). `make
 * client` builds it into dist/client/ as a package of its own.
 *
 * Signing happens here, with @noble/ed25519, so a secret key never leaves the agent.
 *
 *     const key = generateKeyPair();
 *     const client = new StemeClient({ url: "http://127.0.0.1:18180" });
 *     const signed = signClaim(key, { kind: "assertion", subject: "pharma/drug/aspirin",
 *       predicate: "bleeding_risk_pct", object: 0.2, confidence: 0.95 });
 *     const { id } = await client.submit(signed);
 *     const record = await client.get(id);
 *
 * Failures are `StemeClientError`s carrying the problem's `code`; a 429 or 503 with
 * Retry-After is retried for requests that are safe to repeat (transport.ts).
 */
import { encodeCanonical } from "../core/cbor.ts";
import { toHex } from "../core/hex.ts";
import { recordToJson } from "../core/record.ts";
import { type KeyPair, publicKeyOf } from "../crypto/sign.ts";
import { encodeBody, type SignedRecord, signRecord } from "../crypto/signed.ts";
import { clientProblem, type Problem, StemeClientError } from "./errors.ts";
import { type Answer, parseRetryAfter, Transport, type TransportOptions } from "./transport.ts";
import { type FeedEvent, FollowError, type FollowOptions, follow } from "./follow.ts";

export { encodeCanonical, decodeCanonical, type Value } from "../core/cbor.ts";
export { StemeError } from "../core/errors.ts";
export { fromHex, toHex } from "../core/hex.ts";
export type { StemeRecord } from "../core/record.ts";
export { recordId } from "../crypto/hash.ts";
export { generateKeyPair, publicKeyOf, signId } from "../crypto/sign.ts";
export { verifyIdNoble as verifySignature } from "../crypto/verify-noble.ts";
export { type ClientErrorOptions, type Problem, StemeClientError } from "./errors.ts";
export { type FetchFunction, parseRetryAfter, retryDelayMs, type TransportOptions } from "./transport.ts";
export { type RecordToVerify, verifyRecord } from "./verify.ts";
export { encodeBody, signRecord, type SignedRecord, type KeyPair };
export { follow, FollowError, type FeedEvent, type FollowOptions };

/** Fields of a record without the ones the client fills in (`v`, `agent`, and `ts` unless given). */
export type ClaimFields = { kind: string; ts?: number } & Record<string, unknown>;

/**
 * Sign a record as `key`'s agent. Byte fields (ids in `target`, `depends_on`, …) may be hex
 * strings or Uint8Arrays; `ts` defaults to now.
 */
export function signClaim(key: KeyPair, fields: ClaimFields, now: () => number = Date.now): SignedRecord {
  const json = { v: 1, ts: now(), ...bytesToHex(fields), agent: toHex(key.publicKey) };
  return signRecord(json, key.secretKey, "json");
}

function bytesToHex(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) {
    if (v instanceof Uint8Array) out[k] = toHex(v);
    else if (Array.isArray(v)) out[k] = v.map((x) => (x instanceof Uint8Array ? toHex(x) : x));
    else out[k] = v;
  }
  return out;
}

/** The JSON submission of a signed record: its fields plus `sig`, bytes in hex. */
export function toJsonSubmission(signed: SignedRecord): Record<string, unknown> {
  return { ...recordToJson(signed.record), sig: toHex(signed.sig) };
}

export interface WriteResult {
  id: string;
  lsn: number;
  status: "accepted" | "quarantined";
  duplicate: boolean;
}

/** A lens's answer (docs/API.md). */
export interface QueryAnswer {
  subject: string;
  predicate: string;
  lens: string;
  winner: (Record<string, unknown> & { id: string }) | null;
  value: unknown;
  support: number;
  conflict: number;
  verdict?: "settled" | "disputed" | "contested";
  groups: Array<{ value: unknown; weight: number; count: number; ids: string[] }>;
  candidates: number;
  explain: string[];
  lsn: number;
  /** The log position the TrustRank used reflects (vote, trust, layered). */
  trust_lsn?: number;
  as_of?: number;
  /** Present when the query asked to escalate and κ reached the threshold. */
  escalation?: { id: string; target: string; opened: boolean };
}

/** How to reach the server, and how to behave when it is slow or busy (transport.ts). */
export interface ClientOptions extends TransportOptions {
  /** The server's base URL, e.g. `http://127.0.0.1:18180`. */
  url: string;
  /** Extra headers on every request (e.g. `authorization: Bearer <key>`). */
  headers?: Record<string, string>;
}

export interface ListParams {
  subject?: string;
  predicate?: string;
  agent?: string;
  source?: string;
  kind?: string;
  since?: number | string;
  until?: number | string;
  cursor?: string;
  limit?: number;
  order?: "asc" | "desc";
}

export class StemeClient {
  private readonly base: string;
  private readonly transport: Transport;
  constructor(private readonly options: ClientOptions) {
    this.base = options.url.replace(/\/+$/, "");
    this.transport = new Transport(options);
  }

  /**
   * The same client with some options changed, for one call or a few: a signal, a timeout,
   * retries, headers (merged with this client's).
   *
   *     await client.with({ signal: AbortSignal.timeout(2000), retries: 0 }).query(s, p);
   */
  with(options: Partial<ClientOptions>): StemeClient {
    return new StemeClient({ ...this.options, ...options, headers: { ...this.options.headers, ...options.headers } });
  }

  /** One request; `idempotent: false` for the actions that must not be sent twice (no retries). */
  private async request<T>(
    method: string,
    path: string,
    body?: string | Uint8Array,
    contentType?: string,
    options: { idempotent?: boolean } = {},
  ): Promise<T> {
    const headers: Record<string, string> = { accept: "application/json", ...this.options.headers };
    if (contentType) headers["content-type"] = contentType;
    // The encoder's bytes sit on a plain ArrayBuffer (never a shared one), which is what DOM's BodyInit asks for.
    const payload = body as string | Uint8Array<ArrayBuffer> | undefined;
    const init: RequestInit = { method, headers, ...(payload !== undefined ? { body: payload } : {}) };
    const answer = await this.transport.exchange({ url: `${this.base}${path}`, init, idempotent: options.idempotent ?? true });
    let parsed: unknown;
    try {
      parsed = answer.text.length ? JSON.parse(answer.text) : null;
    } catch {
      // Not a StemeDB answer (a proxy's error page, another server): a problem, whatever the status.
      throw answerError(answer, `not JSON: ${answer.text.slice(0, 200)}`);
    }
    if (!answer.response.ok) throw answerError(answer, answer.text ? answer.text.slice(0, 200) : "an empty answer", parsed);
    return parsed as T;
  }

  /** Submit one signed record (JSON). Resolves once the server has it on stable storage. */
  submit(signed: SignedRecord): Promise<WriteResult> {
    return this.request("POST", "/v1/assert", JSON.stringify(toJsonSubmission(signed)), "application/json");
  }

  /** Submit a signed vote (`POST /v1/vote`). */
  vote(signed: SignedRecord): Promise<WriteResult> {
    return this.request("POST", "/v1/vote", JSON.stringify(toJsonSubmission(signed)), "application/json");
  }

  /** Submit a signed retraction (`POST /v1/retract`). */
  retract(signed: SignedRecord): Promise<WriteResult> {
    return this.request("POST", "/v1/retract", JSON.stringify(toJsonSubmission(signed)), "application/json");
  }

  /** Submit up to 10,000 records; `format: "cbor"` sends the exact signed bytes. */
  submitBatch(
    records: SignedRecord[],
    options: { format?: "json" | "cbor" } = {},
  ): Promise<{ results: Array<WriteResult | { error: Problem }>; accepted: number; rejected: number }> {
    if (options.format === "cbor") return this.submitSigned(records);
    return this.request(
      "POST",
      "/v1/assert/batch",
      JSON.stringify({ records: records.map(toJsonSubmission) }),
      "application/json",
    );
  }

  get(id: string): Promise<Record<string, unknown> & { id: string; lsn: number; body: string; sig: string }> {
    return this.request("GET", `/v1/assertions/${encodeURIComponent(id)}`);
  }

  list(params: ListParams = {}): Promise<{ items: Array<Record<string, unknown>>; next_cursor: string | null }> {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, String(v));
    return this.request("GET", `/v1/assertions${q.size ? `?${q}` : ""}`);
  }

  /** Resolve (subject, predicate) through one lens (`GET /v1/query`). */
  query(subject: string, predicate: string, options: QueryOptions & { lens?: string } = {}): Promise<QueryAnswer> {
    const q = new URLSearchParams({ subject, predicate });
    if (options.lens) q.set("lens", options.lens);
    for (const [k, v] of Object.entries(queryFields(options))) q.set(k, Array.isArray(v) ? v.join(",") : String(v));
    return this.request("GET", `/v1/query?${q}`);
  }

  /** Several lenses side by side (`POST /v1/query`). */
  queryLenses(
    subject: string,
    predicate: string,
    lenses: string[],
    options: QueryOptions = {},
  ): Promise<{ results: Record<string, QueryAnswer> }> {
    const body = { subject, predicate, lenses, ...queryFields(options) };
    return this.request("POST", "/v1/query", JSON.stringify(body), "application/json");
  }

  /** An agent's τ, how it came about, its record counts and recent records (`GET /v1/agents/:key`). */
  agent(key: string, options: { recent?: number } = {}): Promise<AgentDetail> {
    const q = options.recent !== undefined ? `?recent=${options.recent}` : "";
    return this.request("GET", `/v1/agents/${encodeURIComponent(key)}${q}`);
  }

  /** Agents by τ, highest first (`GET /v1/agents?sort=trust`), or by key. */
  agents(
    options: { sort?: "trust" | "key"; limit?: number; cursor?: string } = {},
  ): Promise<{ items: AgentSummary[]; next_cursor: string | null; trust_lsn: number; total: number }> {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(options)) if (v !== undefined) q.set(k, String(v));
    return this.request("GET", `/v1/agents${q.size ? `?${q}` : ""}`);
  }

  /** Escalations opened by contested queries (`GET /v1/escalations`). */
  escalations(status: "open" | "resolved" | "all" = "open"): Promise<{ items: Escalation[] }> {
    return this.request("GET", `/v1/escalations?status=${status}`);
  }

  /** Close an escalation with a note, optionally marking an assertion gold (`POST /v1/escalations/:id/resolve`). */
  resolveEscalation(
    id: string,
    note?: string,
    options: { gold?: string } = {},
  ): Promise<{ escalation: Escalation; lsn: number; resolution_id: string; gold_id?: string }> {
    const body = { ...(note !== undefined ? { note } : {}), ...(options.gold ? { gold: options.gold } : {}) };
    const path = `/v1/escalations/${encodeURIComponent(id)}/resolve`;
    return this.request("POST", path, JSON.stringify(body), "application/json", { idempotent: false });
  }

  /** Register a source with a signed `source` record (`POST /v1/sources`). */
  registerSource(signed: SignedRecord): Promise<WriteResult> {
    return this.request("POST", "/v1/sources", JSON.stringify(toJsonSubmission(signed)), "application/json");
  }

  /** A source's current entry, retraction and citation count (`GET /v1/sources/:id`). */
  source(sourceId: string): Promise<Record<string, unknown> & { source_id: string; tier: number; retracted: boolean }> {
    return this.request("GET", `/v1/sources/${encodeURIComponent(sourceId)}`);
  }

  /** What retracting a source would flag, without writing (`GET /v1/sources/:id/impact`). */
  sourceImpact(sourceId: string, options: { limit?: number; cursor?: string } = {}): Promise<ImpactReport> {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(options)) if (v !== undefined) q.set(k, String(v));
    return this.request("GET", `/v1/sources/${encodeURIComponent(sourceId)}/impact${q.size ? `?${q}` : ""}`);
  }

  /** Retract a source with a signed `source_retraction` (`POST /v1/sources/:id/retract`): the write and its impact. */
  retractSource(signed: SignedRecord): Promise<WriteResult & { impact: ImpactReport }> {
    const sourceId = (signed.record as { source_id?: string }).source_id ?? "";
    return this.request(
      "POST",
      `/v1/sources/${encodeURIComponent(sourceId)}/retract`,
      JSON.stringify(toJsonSubmission(signed)),
      "application/json",
    );
  }

  /** The provenance chain of a record (`GET /v1/provenance/:id`). */
  provenance(
    id: string,
    options: { depth?: number } = {},
  ): Promise<{ root: Record<string, unknown>; nodes: number; dangling: string[]; lsn: number }> {
    const q = options.depth !== undefined ? `?depth=${options.depth}` : "";
    return this.request("GET", `/v1/provenance/${encodeURIComponent(id)}${q}`);
  }

  /**
   * An audit bundle of a selection and its provenance closure (`GET /v1/export`). Resolves with
   * the response once the server has answered; its body streams the bundle (check it offline
   * with `stemedb verify-bundle`).
   */
  async exportBundle(selection: ExportSelection = {}): Promise<Response> {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(selection)) if (v !== undefined) q.set(k, String(v));
    const answer = await this.transport.exchange({
      url: `${this.base}/v1/export${q.size ? `?${q}` : ""}`,
      init: { headers: { ...this.options.headers } },
      idempotent: true,
      stream: true,
    });
    if (!answer.response.ok) {
      let parsed: unknown = null;
      try {
        parsed = JSON.parse(answer.text);
      } catch {
        // said below as bad_response
      }
      throw answerError(answer, answer.text.slice(0, 200), parsed);
    }
    return answer.response;
  }

  /** Submit up to 10,000 records as exact signed bytes (CBOR `{records: [{body, sig}]}`), e.g. from a bundle. */
  submitSigned(
    records: Array<{ body: Uint8Array; sig: Uint8Array }>,
  ): Promise<{ results: Array<WriteResult | { error: Problem }>; accepted: number; rejected: number }> {
    // The project's canonical encoder: deterministic CBOR is CBOR, and the client needs no other codec.
    const payload = encodeCanonical({ records: records.map((r) => ({ body: r.body, sig: r.sig })) });
    return this.request("POST", "/v1/assert/batch", payload, "application/cbor");
  }

  /** Assertions held by content defense, awaiting a decision (`GET /v1/admin/quarantine`). */
  quarantine(
    options: { limit?: number; cursor?: string } = {},
  ): Promise<{ items: Array<Record<string, unknown> & { id: string }>; next_cursor: string | null }> {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(options)) if (v !== undefined) q.set(k, String(v));
    return this.request("GET", `/v1/admin/quarantine${q.size ? `?${q}` : ""}`);
  }

  /** Approve (counts from now on) or reject (flagged `rejected`) a held assertion. */
  decideQuarantine(id: string, action: "approve" | "reject", note?: string): Promise<Record<string, unknown>> {
    return this.request(
      "POST",
      `/v1/admin/quarantine/${encodeURIComponent(id)}/${action}`,
      JSON.stringify(note === undefined ? {} : { note }),
      "application/json",
      { idempotent: false },
    );
  }

  /** Per-agent circuit breakers and the global one (`GET /v1/admin/breakers`). */
  breakers(
    state?: "closed" | "open" | "half_open",
  ): Promise<{ items: Array<Record<string, unknown>>; global: Record<string, unknown> }> {
    return this.request("GET", `/v1/admin/breakers${state ? `?state=${state}` : ""}`);
  }

  /** Close an agent's breaker now (`POST /v1/admin/breakers/:agent/reset`). */
  resetBreaker(agent: string): Promise<Record<string, unknown>> {
    return this.request("POST", `/v1/admin/breakers/${encodeURIComponent(agent)}/reset`, undefined, undefined, {
      idempotent: false,
    });
  }

  /** The query audit trail, newest first (`GET /v1/audit/queries`). */
  auditQueries(
    filter: {
      subject?: string;
      predicate?: string;
      lens?: string;
      caller?: string;
      since?: number | string;
      until?: number | string;
      cursor?: string;
      limit?: number;
    } = {},
  ): Promise<{ items: Array<Record<string, unknown>>; next_cursor: string | null }> {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(filter)) if (v !== undefined) q.set(k, String(v));
    return this.request("GET", `/v1/audit/queries${q.size ? `?${q}` : ""}`);
  }

  concepts(
    prefix = "",
  ): Promise<{ prefix: string; concepts: Array<{ path: string; segment: string; is_subject: boolean; subjects: number }> }> {
    return this.request("GET", `/v1/concepts?prefix=${encodeURIComponent(prefix)}`);
  }

  /** The change feed as an async iterator of records and conflicts, resuming across drops (follow.ts). */
  follow(options: FollowOptions = {}): AsyncGenerator<FeedEvent, void, undefined> {
    const given = this.options.fetch;
    // Called as a plain function, with the platform's fetch looked up at call time (transport.ts).
    const send = given
      ? (url: string, init: RequestInit) => given(url, init)
      : (url: string, init: RequestInit) => globalThis.fetch(url, init);
    return follow({ url: this.base, headers: this.options.headers ?? {}, fetch: send }, options);
  }

  health(): Promise<{ status: string; version: string; lsn: number }> {
    return this.request("GET", "/v1/health");
  }
}

/** What `exportBundle` selects (docs/PROVENANCE.md): all optional. */
export interface ExportSelection {
  /** An exact subject, `a/b/*` or `*\/b`. */
  subject_prefix?: string;
  predicate?: string;
  since?: number | string;
  until?: number | string;
  format?: "ndjson" | "cbor";
}

/** Options every query takes. */
export interface QueryOptions {
  /** Time travel: only records with ts ≤ asOf count (ms or ISO 8601). */
  asOf?: number | string;
  /** Only records the node had received by then count (its recorded_at; ms or ISO 8601). */
  knownAt?: number | string;
  /** Only claims whose [valid_from, valid_to) holds this time. */
  validAt?: number | string;
  /** Relative tolerance under which numbers agree, in [0, 1]. */
  tolerance?: number;
  /** Flags whose assertions still count, e.g. ["superseded"]. */
  include?: string[];
  /** For the layered lens, e.g. ["authority", "recency"]. */
  layers?: string[];
  /** Resolve now (index and TrustRank current), never from a view. */
  fresh?: boolean;
  /** Open an escalation when κ reaches this threshold (`true`: the server's `--escalate-kappa`). */
  escalate?: number | true;
}

function queryFields(o: QueryOptions): Record<string, string | number | boolean | string[]> {
  const out: Record<string, string | number | boolean | string[]> = {};
  if (o.asOf !== undefined) out.as_of = o.asOf;
  if (o.knownAt !== undefined) out.known_at = o.knownAt;
  if (o.validAt !== undefined) out.valid_at = o.validAt;
  if (o.tolerance !== undefined) out.tolerance = o.tolerance;
  if (o.include?.length) out.include = o.include;
  if (o.layers?.length) out.layers = o.layers;
  if (o.fresh) out.fresh = true;
  if (o.escalate !== undefined) out.escalate = o.escalate;
  return out;
}

export interface ImpactReport {
  source_id?: string;
  source_retracted: number;
  cascade: number;
  total: number;
  items: Array<{ id: string; flag: "source_retracted" | "cascade"; subject: string; predicate: string; depth: number }>;
  next_cursor: string | null;
}

export interface AgentSummary {
  agent: string;
  trust: number;
  authority: boolean;
  seeded: boolean;
  endorsed_by: number;
  disputed_by: number;
}

export interface AgentDetail extends AgentSummary {
  trust_lsn: number;
  rank: number;
  gold: { agree: number; contradict: number };
  counts: Record<string, number>;
  recent: Array<Record<string, unknown>>;
}

export interface Escalation {
  id: string;
  target: string;
  status: "open" | "resolved";
  opened_at: string;
  context: Record<string, unknown> | string | null;
  resolution?: { id: string; at: string; note: string | null };
}

export function keyPairFromSecret(secretKey: Uint8Array): KeyPair {
  return { secretKey, publicKey: publicKeyOf(secretKey) };
}

/** The error for an answer that is not a success: its problem document, or a `bad_response` one. */
function answerError(answer: Answer, detail: string, parsed: unknown = null): StemeClientError {
  const { response } = answer;
  const problem =
    parsed !== null && typeof parsed === "object" && typeof (parsed as Problem).code === "string"
      ? (parsed as Problem)
      : clientProblem(response.status, "bad_response", "Not a StemeDB answer", detail);
  const requestId = response.headers.get("x-request-id") ?? (typeof problem.request_id === "string" ? problem.request_id : null);
  return new StemeClientError(response.status, problem, requestId, {
    retryAfterMs: parseRetryAfter(response.headers.get("retry-after"), Date.now()),
  });
}
