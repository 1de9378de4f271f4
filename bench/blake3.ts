/**
 * BLAKE3-256 micro-benchmark: `@noble/hashes` vs `src/crypto/blake3.ts`, µs per hash at the sizes
 * record bodies actually have (64-1024 bytes: one chunk) and one multi-chunk size (4096 bytes).
 * Usage: `bun bench/blake3.ts`. Single-threaded; inputs are subarrays at an odd byteOffset half
 * the time so both the aligned and unaligned cases are exercised.
 */
import { blake3 } from "@noble/hashes/blake3.js";
import { blake3_256 } from "../src/crypto/blake3.ts";

const SIZES = [64, 250, 600, 1024, 4096];
const VARIANTS = 64;

function inputs(size: number): Uint8Array[] {
  const backing = new Uint8Array(size + 1);
  for (let i = 0; i < backing.length; i++) backing[i] = (i * 131 + 7) & 0xff;
  return Array.from({ length: VARIANTS }, (_, k) => {
    const bytes = k % 2 === 0 ? new Uint8Array(size) : backing.slice().subarray(1);
    bytes.set(backing.subarray(0, size));
    bytes[0] = k;
    return bytes;
  });
}

let sink = 0;

/** Median µs/hash over several timed rounds of `iters` hashes each (after warm-up). */
function measure(fn: (b: Uint8Array) => Uint8Array, data: Uint8Array[], iters: number): number {
  for (let i = 0; i < iters; i++) sink ^= fn(data[i % VARIANTS]!)[0]!;
  const samples: number[] = [];
  for (let round = 0; round < 7; round++) {
    const t0 = Bun.nanoseconds();
    for (let i = 0; i < iters; i++) sink ^= fn(data[i % VARIANTS]!)[0]!;
    samples.push((Bun.nanoseconds() - t0) / 1000 / iters);
  }
  samples.sort((a, b) => a - b);
  return samples[samples.length >> 1]!;
}

console.log("size (B)   noble µs   blake3_256 µs   speed-up");
for (const size of SIZES) {
  const data = inputs(size);
  const iters = Math.max(2000, Math.floor(4_000_000 / size));
  // Sanity: both agree before anything is timed.
  for (const b of data) {
    if (Buffer.compare(blake3(b), blake3_256(b)) !== 0) throw new Error(`mismatch at ${size} bytes`);
  }
  const noble = measure((b) => blake3(b), data, iters);
  const ours = measure(blake3_256, data, iters);
  console.log(
    `${String(size).padStart(8)}   ${noble.toFixed(2).padStart(8)}   ${ours.toFixed(2).padStart(13)}   ${(noble / ours).toFixed(1).padStart(7)}x`,
  );
}
if (sink === -1) console.log(sink);
