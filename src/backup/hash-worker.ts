/**
 * A thread that hashes files with BLAKE3-256: the backup writer and verifier hand it paths
 * (and byte lengths, to hash a prefix) and get hex digests back, so hashing a backup runs on
 * every core while the main thread copies and walks frames.
 */
import fs from "node:fs";
import { blake3_256 } from "../crypto/blake3.ts";

declare const self: Worker;

self.onmessage = (event: MessageEvent<{ seq: number; path: string; bytes?: number }>) => {
  const { seq, path, bytes } = event.data;
  try {
    let data = new Uint8Array(fs.readFileSync(path));
    if (bytes !== undefined) data = data.subarray(0, bytes);
    self.postMessage({ seq, ok: true, hex: Buffer.from(blake3_256(data)).toString("hex"), bytes: data.length });
  } catch (err) {
    self.postMessage({ seq, ok: false, error: (err as Error).message });
  }
};
