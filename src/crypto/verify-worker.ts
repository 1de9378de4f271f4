/**
 * A signature-checking thread. Takes packed batches of (sig 64 | id 32 | agent 32) and answers
 * with one byte per item (1 = valid). See verify-pool.ts.
 */
import { verifyId } from "./verify.ts";

declare const self: Worker;

export const itemBytes = 128;

self.onmessage = (event: MessageEvent<{ seq: number; packed: Uint8Array }>) => {
  const { seq, packed } = event.data;
  const n = packed.length / itemBytes;
  const ok = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const at = i * itemBytes;
    ok[i] = verifyId(packed.subarray(at, at + 64), packed.subarray(at + 64, at + 96), packed.subarray(at + 96, at + 128)) ? 1 : 0;
  }
  self.postMessage({ seq, ok }, [ok.buffer]);
};
