/**
 * The Merkle root of a backup, built on a worker thread while the main thread copies the log.
 *
 * Messages: `{ids}` — the index's ids, 32 bytes each back to back: sorted and hashed into
 * leaves at once; then `{extra}` — the ids of the log's tail past the index: sorted, hashed,
 * merged into the leaves (duplicates once), and the tree's upper levels built. The answer is
 * `{root}` (hex), the same value as `merkleRoot` (src/crypto/merkle.ts) over both sets.
 */
import { blake3_256, blake3_256_into } from "../crypto/blake3.ts";
import { sortIds } from "../crypto/merkle.ts";

declare const self: Worker;

let ids: Uint8Array[] = [];
let leaves: Uint8Array = new Uint8Array(0);

function unpack(packed: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at + 32 <= packed.length; at += 32) out.push(packed.subarray(at, at + 32));
  return out;
}

function compare(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < 32; i++) if (a[i] !== b[i]) return (a[i] as number) - (b[i] as number);
  return 0;
}

/** Sorted, de-duplicated ids and their leaf hashes (32 bytes each, in the same order). */
function leavesOf(input: Uint8Array[]): { ids: Uint8Array[]; leaves: Uint8Array } {
  const sorted = sortIds(input);
  const kept: Uint8Array[] = [];
  for (const id of sorted) if (kept.length === 0 || compare(kept[kept.length - 1] as Uint8Array, id) !== 0) kept.push(id);
  const out = new Uint8Array(kept.length * 32);
  const leafInput = new Uint8Array(33);
  kept.forEach((id, i) => {
    for (let k = 0; k < 32; k++) leafInput[k + 1] = id[k] as number;
    blake3_256_into(leafInput, out, i * 32);
  });
  return { ids: kept, leaves: out };
}

function root(level: Uint8Array, count: number): string {
  if (count === 0) return Buffer.from(blake3_256(new Uint8Array(0))).toString("hex");
  const parentInput = new Uint8Array(65);
  parentInput[0] = 1;
  let current = level;
  let n = count;
  while (n > 1) {
    const nextCount = Math.ceil(n / 2);
    const next = new Uint8Array(nextCount * 32);
    for (let i = 0; i + 1 < n; i += 2) {
      const from = i * 32;
      for (let k = 0; k < 64; k++) parentInput[k + 1] = current[from + k] as number;
      blake3_256_into(parentInput, next, (i >> 1) * 32);
    }
    if (n % 2 === 1) next.set(current.subarray((n - 1) * 32, n * 32), (nextCount - 1) * 32);
    current = next;
    n = nextCount;
  }
  return Buffer.from(current.subarray(0, 32)).toString("hex");
}

self.onmessage = (event: MessageEvent<{ ids?: Uint8Array; extra?: Uint8Array }>) => {
  try {
    if (event.data.ids) {
      const built = leavesOf(unpack(event.data.ids));
      ids = built.ids;
      leaves = built.leaves;
      return;
    }
    const extra = leavesOf(unpack(event.data.extra ?? new Uint8Array(0)));
    // Merge two sorted runs of (id, leaf), dropping ids present in both.
    const merged = new Uint8Array((ids.length + extra.ids.length) * 32);
    let a = 0;
    let b = 0;
    let n = 0;
    while (a < ids.length || b < extra.ids.length) {
      const c = a >= ids.length ? 1 : b >= extra.ids.length ? -1 : compare(ids[a] as Uint8Array, extra.ids[b] as Uint8Array);
      if (c <= 0) {
        merged.set(leaves.subarray(a * 32, a * 32 + 32), n * 32);
        a++;
        if (c === 0) b++;
      } else {
        merged.set(extra.leaves.subarray(b * 32, b * 32 + 32), n * 32);
        b++;
      }
      n++;
    }
    self.postMessage({ ok: true, root: root(merged, n) });
  } catch (err) {
    self.postMessage({ ok: false, error: (err as Error).message });
  }
};
