/**
 * Client-side checks of a record the server returned, as an auditor would make them with no
 * trust in the server: the id is BLAKE3-256 of the canonical body bytes, the Ed25519 signature
 * by the body's own `agent` verifies over that id (docs/FORMAT.md#which-signatures-verify's rule, the server's own, checked in
 * pure JS by the client's `verifySignature`), and the fields the server shows beside the body
 * are the ones inside it. Internal to src/demo.
 */
import { decodeCanonical, fromHex, recordId, toHex, verifySignature } from "../client/index.ts";

/** A record as `GET /v1/assertions/:id` (and a provenance node's `record`) shows it. */
export interface RecordView {
  id: string;
  kind: string;
  agent: string;
  body: string;
  sig: string;
  [field: string]: unknown;
}

export interface Verification {
  id: string;
  kind: string;
  /** BLAKE3(body) equals the id the server gave. */
  idMatches: boolean;
  /** The signature verifies over BLAKE3(body) under the agent key inside the body. */
  signatureValid: boolean;
  /** kind, agent, subject, predicate and depends_on inside the body equal the shown fields. */
  fieldsMatch: boolean;
  ok: boolean;
}

export function verifyRecord(view: RecordView): Verification {
  const body = fromHex(view.body, "body");
  const id = recordId(body);
  const idMatches = toHex(id) === view.id;
  let fields: Record<string, unknown> = {};
  try {
    fields = decodeCanonical(body) as Record<string, unknown>;
  } catch {
    return { id: view.id, kind: view.kind, idMatches, signatureValid: false, fieldsMatch: false, ok: false };
  }
  const agent = fields.agent instanceof Uint8Array ? fields.agent : new Uint8Array();
  const signatureValid = agent.length === 32 && verifySignature(fromHex(view.sig, "sig"), id, agent);
  const shown = (name: string) => JSON.stringify(view[name] ?? null);
  const inside = (name: string) => JSON.stringify(asJson(fields[name] ?? null));
  const fieldsMatch = ["kind", "agent", "subject", "predicate", "object", "source", "depends_on", "source_id"].every(
    (name) => shown(name) === inside(name),
  );
  return { id: view.id, kind: view.kind, idMatches, signatureValid, fieldsMatch, ok: idMatches && signatureValid && fieldsMatch };
}

function asJson(v: unknown): unknown {
  if (v instanceof Uint8Array) return toHex(v);
  if (Array.isArray(v)) return v.map(asJson);
  return v;
}

/** The same record with one body byte flipped: what tampering looks like to `verifyRecord`. */
export function tampered(view: RecordView, byteOffset: number): RecordView {
  const body = fromHex(view.body, "body");
  const at = Math.min(byteOffset, body.length - 1);
  body[at] = (body[at] ?? 0) ^ 0x01;
  return { ...view, body: toHex(body) };
}
