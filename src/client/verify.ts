/**
 * Checking a record the server returned, without trusting the server
 * (docs/FORMAT.md#id-and-signature): its id is BLAKE3 of its body bytes, and its signature is
 * by the agent the body names, over that id, under the project's one signature rule
 * (docs/FORMAT.md#which-signatures-verify, src/crypto/verify-noble.ts).
 */
import { decodeCanonical } from "../core/cbor.ts";
import { bytesEqual, fromHex, toHex } from "../core/hex.ts";
import { recordId } from "../crypto/hash.ts";
import { verifyIdNoble } from "../crypto/verify-noble.ts";

/** A record as `get`, `list` and query winners give it (hex), or as bytes. */
export interface RecordToVerify {
  body: string | Uint8Array;
  sig: string | Uint8Array;
  /** When given, it must be the id the body hashes to. */
  id?: string | Uint8Array;
  /** When given, it must be the agent the body names. */
  agent?: string | Uint8Array;
}

function bytesOf(value: string | Uint8Array, field: string): Uint8Array {
  return typeof value === "string" ? fromHex(value, field) : value;
}

/**
 * True when the record's id, signer and signature all check: id = BLAKE3(body), the body is
 * canonical CBOR naming `agent`, and `sig` is that agent's valid signature over the id. Never
 * throws: anything malformed is false.
 */
export function verifyRecord(record: RecordToVerify): boolean {
  try {
    const body = bytesOf(record.body, "body");
    const id = recordId(body);
    if (record.id !== undefined && toHex(bytesOf(record.id, "id")) !== toHex(id)) return false;
    const fields = decodeCanonical(body) as { agent?: unknown };
    if (!(fields.agent instanceof Uint8Array)) return false;
    if (record.agent !== undefined && !bytesEqual(bytesOf(record.agent, "agent"), fields.agent)) return false;
    return verifyIdNoble(bytesOf(record.sig, "sig"), id, fields.agent);
  } catch {
    return false;
  }
}
