/** Record ids: BLAKE3-256 over the canonical body bytes (SPEC §2.3). */
import { blake3 } from "@noble/hashes/blake3.js";

export function recordId(body: Uint8Array): Uint8Array {
  return blake3(body);
}

export { blake3 };
