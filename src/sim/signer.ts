/**
 * Keys and signing for the arena's agents. A key is BLAKE3(seed, name), so one seed gives the
 * same agents, the same records and the same ids every run.
 *
 * Signing uses the platform's Ed25519 (node:crypto: BoringSSL in Bun) instead of the client's
 * @noble/ed25519: a run signs hundreds of thousands of records, and noble signs ~1,500 a second
 * on this machine against ~38,000 natively. Ed25519 signatures are deterministic (RFC 8032
 * §5.1.6), so both give the same bytes; the records are built and encoded exactly as the
 * client's `signClaim` does (validateRecord, canonical CBOR, BLAKE3 id).
 */
import nodeCrypto from "node:crypto";
import { toHex } from "../core/hex.ts";
import { validateRecord } from "../core/record.ts";
import { blake3_256 } from "../crypto/blake3.ts";
import { recordId } from "../crypto/hash.ts";
import type { KeyPair } from "../crypto/sign.ts";
import { encodeBody, type SignedRecord } from "../crypto/signed.ts";

/** PKCS#8 prefix of a raw 32-byte Ed25519 secret (RFC 8410). */
const pkcs8Prefix = Buffer.from("302e020100300506032b657004220420", "hex");

export class AgentKey {
  readonly publicKey: Uint8Array;
  readonly hex: string;
  private readonly key: nodeCrypto.KeyObject;

  constructor(readonly secretKey: Uint8Array) {
    this.key = nodeCrypto.createPrivateKey({ key: Buffer.concat([pkcs8Prefix, secretKey]), format: "der", type: "pkcs8" });
    const spki = nodeCrypto.createPublicKey(this.key).export({ format: "der", type: "spki" });
    this.publicKey = new Uint8Array(spki.subarray(spki.length - 32));
    this.hex = toHex(this.publicKey);
  }

  /** The key of `name` in the arena seeded `seed`. */
  static derive(seed: number, name: string): AgentKey {
    return new AgentKey(blake3_256(new TextEncoder().encode(`stemedb-arena/${seed}/${name}`)));
  }

  static fromKeyPair(key: KeyPair): AgentKey {
    return new AgentKey(key.secretKey);
  }

  /** Validate, encode, hash and sign `fields` (JSON shape, ids in hex) as this agent at `ts`. */
  sign(fields: Record<string, unknown> & { kind: string }, ts: number): SignedRecord {
    const record = validateRecord({ v: 1, ...fields, agent: this.hex, ts }, "json");
    const body = encodeBody(record);
    const id = recordId(body);
    return { record, body, id, sig: new Uint8Array(nodeCrypto.sign(null, id, this.key)) };
  }
}
