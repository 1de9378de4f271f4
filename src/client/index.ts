/**
 * The TypeScript client (`stemedb/client`): keys, canonical encoding and signing, submitting
 * one record or a batch (JSON or CBOR), fetching and listing records.
 *
 * Signing happens here, with @noble/ed25519, so a secret key never leaves the agent.
 *
 *     const key = generateKeyPair();
 *     const client = new StemeClient({ url: "http://127.0.0.1:18180" });
 *     const signed = signClaim(key, { kind: "assertion", subject: "pharma/drug/aspirin",
 *       predicate: "bleeding_risk_pct", object: 0.2, confidence: 0.95 });
 *     const { id } = await client.submit(signed);
 *     const record = await client.get(id);
 */
import { encode as encodeCbor } from "cbor-x";
import { toHex } from "../core/hex.ts";
import { recordToJson } from "../core/record.ts";
import { type KeyPair, publicKeyOf } from "../crypto/sign.ts";
import { encodeBody, type SignedRecord, signRecord } from "../crypto/signed.ts";

export { encodeCanonical, decodeCanonical, type Value } from "../core/cbor.ts";
export { fromHex, toHex } from "../core/hex.ts";
export type { StemeRecord } from "../core/record.ts";
export { recordId } from "../crypto/hash.ts";
export { generateKeyPair, publicKeyOf, signId, verifyIdNoble as verifySignature } from "../crypto/sign.ts";
export { encodeBody, signRecord, type SignedRecord, type KeyPair };

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

/** A lens's answer (SPEC §8). */
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
  as_of?: number;
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  code: string;
  detail: string;
  hint?: string;
  [extra: string]: unknown;
}

/** A problem+json answer from the server, as an exception. */
export class StemeClientError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Problem,
    readonly requestId: string | null,
  ) {
    super(`${problem.code}: ${problem.detail}`);
    this.name = "StemeClientError";
  }
  get code(): string {
    return this.problem.code;
  }
}

export interface ClientOptions {
  url: string;
  /** Extra headers on every request (e.g. Authorization). */
  headers?: Record<string, string>;
  fetch?: typeof fetch;
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
  private readonly doFetch: typeof fetch;
  constructor(private readonly options: ClientOptions) {
    this.base = options.url.replace(/\/+$/, "");
    this.doFetch = options.fetch ?? fetch;
  }

  private async request<T>(method: string, path: string, body?: string | Uint8Array, contentType?: string): Promise<T> {
    const headers: Record<string, string> = { accept: "application/json", ...this.options.headers };
    if (contentType) headers["content-type"] = contentType;
    const res = await this.doFetch(`${this.base}${path}`, { method, headers, ...(body !== undefined ? { body } : {}) });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text.length ? JSON.parse(text) : null;
    } catch {
      parsed = { code: "bad_response", detail: text.slice(0, 200) };
    }
    if (!res.ok) throw new StemeClientError(res.status, parsed as Problem, res.headers.get("x-request-id"));
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
    if (options.format === "cbor") {
      const payload = encodeCbor({ records: records.map((r) => ({ body: r.body, sig: r.sig })) });
      return this.request("POST", "/v1/assert/batch", payload, "application/cbor");
    }
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
  query(
    subject: string,
    predicate: string,
    options: { lens?: string; asOf?: number | string; validAt?: number | string; tolerance?: number; include?: string[] } = {},
  ): Promise<QueryAnswer> {
    const q = new URLSearchParams({ subject, predicate });
    if (options.lens) q.set("lens", options.lens);
    if (options.asOf !== undefined) q.set("as_of", String(options.asOf));
    if (options.validAt !== undefined) q.set("valid_at", String(options.validAt));
    if (options.tolerance !== undefined) q.set("tolerance", String(options.tolerance));
    if (options.include?.length) q.set("include", options.include.join(","));
    return this.request("GET", `/v1/query?${q}`);
  }

  /** Several lenses side by side (`POST /v1/query`). */
  queryLenses(
    subject: string,
    predicate: string,
    lenses: string[],
    options: { asOf?: number | string; validAt?: number | string; tolerance?: number; include?: string[] } = {},
  ): Promise<{ results: Record<string, QueryAnswer> }> {
    const body = {
      subject,
      predicate,
      lenses,
      ...(options.asOf !== undefined ? { as_of: options.asOf } : {}),
      ...(options.validAt !== undefined ? { valid_at: options.validAt } : {}),
      ...(options.tolerance !== undefined ? { tolerance: options.tolerance } : {}),
      ...(options.include ? { include: options.include } : {}),
    };
    return this.request("POST", "/v1/query", JSON.stringify(body), "application/json");
  }

  concepts(
    prefix = "",
  ): Promise<{ prefix: string; concepts: Array<{ path: string; segment: string; is_subject: boolean; subjects: number }> }> {
    return this.request("GET", `/v1/concepts?prefix=${encodeURIComponent(prefix)}`);
  }

  health(): Promise<{ status: string; version: string; lsn: number }> {
    return this.request("GET", "/v1/health");
  }
}

export function keyPairFromSecret(secretKey: Uint8Array): KeyPair {
  return { secretKey, publicKey: publicKeyOf(secretKey) };
}
