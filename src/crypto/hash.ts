/**
 * Record ids: BLAKE3-256 over the canonical body bytes (docs/FORMAT.md#id-and-signature).
 *
 * `blake3_256` is our own allocation-light implementation (≈ 4× noble's at record sizes; see
 * bench/blake3.ts); it is checked against the official vectors, `b3sum` and noble in
 * test/crypto/blake3.test.ts.
 */
import { blake3_256 } from "./blake3.ts";

export function recordId(body: Uint8Array): Uint8Array {
  return blake3_256(body);
}
