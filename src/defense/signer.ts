/**
 * Signing the node's holds with Bun's native Ed25519 (BoringSSL): a hold is signed on the
 * write path, once per held assertion, and noble's pure-JS signing (≈ 0.7 ms) would let one
 * batch of 10,000 held assertions stall the event loop for seconds. Ed25519 signatures are
 * deterministic (RFC 8032 §5.1.6), so these are the very bytes `signRecord` would produce.
 */
import crypto from "node:crypto";
import { validateRecord } from "../core/record.ts";
import { recordId } from "../crypto/hash.ts";
import { encodeBody, type SignedRecord } from "../crypto/signed.ts";

// DER prefix of an Ed25519 PKCS #8 private key (RFC 8410 §7); the 32-byte seed follows.
const pkcs8Prefix = Buffer.from("302e020100300506032b657004220420", "hex");

/** A function that validates, encodes, hashes and signs JSON-shaped fields with `secretKey`. */
export function nativeSigner(secretKey: Uint8Array): (fields: Record<string, unknown>) => SignedRecord {
  if (secretKey.length !== 32) throw new RangeError(`secret key: expected 32 bytes, got ${secretKey.length}`);
  const key = crypto.createPrivateKey({ key: Buffer.concat([pkcs8Prefix, secretKey]), format: "der", type: "pkcs8" });
  return (fields) => {
    const record = validateRecord(fields, "json");
    const body = encodeBody(record);
    const id = recordId(body);
    return { record, body, id, sig: new Uint8Array(crypto.sign(null, id, key)) };
  };
}
