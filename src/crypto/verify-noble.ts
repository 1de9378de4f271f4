/**
 * The project's signature rule (docs/FORMAT.md#which-signatures-verify) in pure JS, for the client and the demo: runs on Bun,
 * Node 20 and in browsers (no Buffer, no node: imports). The server checks the same rule with
 * Bun's native Ed25519 plus two pre-checks (src/crypto/verify.ts); both must accept and reject
 * exactly the same signatures, and test/crypto/signature-rule.test.ts holds them to it.
 *
 * The rule, for a signature (R, S) by public key A over message M (the 32 id bytes):
 *
 *  1. A is the canonical encoding of a curve point (y < p; not x = 0 with the sign bit set),
 *     and A is not of small order.
 *  2. R is the canonical encoding of a curve point, and R is not of small order.
 *  3. S < L, the order of the base point B.
 *  4. With k = SHA-512(R ‖ A ‖ M) mod L (over the bytes as given), the cofactorless equation
 *     [S]B = R + [k]A holds exactly (RFC 8032 §5.1.7, without the optional factor 8).
 *
 * Why cofactorless: RFC 8032 lets a verifier check either [8][S]B = [8]R + [8][k]A or the
 * equation without the 8s. They agree on honest signatures but not when R or A carries a
 * small-order component (a "mixed-order" point P + T with [8]T = 0): multiplying by 8 wipes T
 * out, so the cofactored check accepts signatures the cofactorless one rejects. BoringSSL (Bun's
 * native verify), Go's crypto/ed25519 and libsodium are cofactorless; @noble/ed25519's `verify`
 * is cofactored (even with `zip215: false`), so it is not used here: this file does the
 * arithmetic itself with noble's points.
 *
 * Why small-order R is refused: BoringSSL alone accepts it (it recomputes R from S, k and A and
 * compares bytes; nothing looks at R's order), libsodium (`crypto_sign_verify_detached`) and
 * ed25519-dalek's `verify_strict` refuse it. An honest signer never makes one (R = [r]B with r a
 * hash output: small order only if r ≡ 0 mod L), so refusing it costs no real signature and
 * keeps every signature StemeDB accepts acceptable to all of those verifiers; the server adds
 * the same refusal in front of BoringSSL. This is libsodium 1.0.18's rule exactly.
 */
import * as ed from "@noble/ed25519";
import { sha512 } from "@noble/hashes/sha2.js";

const { Point } = ed;
type EdPoint = InstanceType<typeof Point>;

/** L, the order of the base point (RFC 8032's L; noble calls it n). */
const groupOrder = Point.CURVE().n;

/** True if `sig` is a valid signature by `publicKey` over `id` under the rule above. Never throws. */
export function verifyIdNoble(sig: Uint8Array, id: Uint8Array, publicKey: Uint8Array): boolean {
  if (!(sig instanceof Uint8Array) || !(id instanceof Uint8Array) || !(publicKey instanceof Uint8Array)) return false;
  if (sig.length !== 64 || publicKey.length !== 32) return false;
  const a = decodeStrict(publicKey);
  if (a === null || a.isSmallOrder()) return false;
  const rBytes = sig.subarray(0, 32);
  const r = decodeStrict(rBytes);
  if (r === null || r.isSmallOrder()) return false;
  const s = littleEndianToBigInt(sig.subarray(32, 64));
  if (s >= groupOrder) return false;
  const hashInput = new Uint8Array(64 + id.length);
  hashInput.set(rBytes, 0);
  hashInput.set(publicKey, 32);
  hashInput.set(id, 64);
  const k = littleEndianToBigInt(sha512(hashInput)) % groupOrder;
  // multiply(n, false) is noble's variable-time path, which also allows n = 0 (giving the
  // identity; the constant-time path refuses 0). Nothing here is secret.
  const sB = Point.BASE.multiply(s, false);
  const kA = a.multiply(k, false);
  return sB.equals(r.add(kA));
}

/** RFC 8032 §5.1.3 decoding with canonical encodings only (noble's non-ZIP-215 mode); null if invalid. */
function decodeStrict(encoding: Uint8Array): EdPoint | null {
  try {
    return Point.fromBytes(encoding, false);
  } catch {
    return null;
  }
}

function littleEndianToBigInt(bytes: Uint8Array): bigint {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i] as number);
  return n;
}
