/**
 * The Merkle root of a backup, built on a worker thread while the main thread copies the log.
 *
 * Messages: `{ids}` — the index's ids, 32 bytes each back to back: sorted and hashed into
 * leaves at once; then `{extra}` — the ids of the log's tail past the index: sorted, hashed,
 * merged into the leaves (duplicates once), and the tree's upper levels built. The answer is
 * `{root}` (hex), the same value as `merkleRoot` (src/crypto/merkle.ts) over both sets: the
 * same building blocks, with the merge in between.
 */
import { compareIds, leavesOf, rootOfLeaves, uniqueSorted } from "../crypto/merkle.ts";

declare const self: Worker;

let ids: Uint8Array[] = [];
let leaves: Uint8Array = new Uint8Array(0);

function unpack(packed: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at + 32 <= packed.length; at += 32) out.push(packed.subarray(at, at + 32));
  return out;
}

self.onmessage = (event: MessageEvent<{ ids?: Uint8Array; extra?: Uint8Array }>) => {
  try {
    if (event.data.ids) {
      ids = uniqueSorted(unpack(event.data.ids));
      leaves = leavesOf(ids);
      return;
    }
    const extraIds = uniqueSorted(unpack(event.data.extra ?? new Uint8Array(0)));
    const extraLeaves = leavesOf(extraIds);
    // Merge two sorted runs of (id, leaf), an id present in both once.
    const merged = new Uint8Array((ids.length + extraIds.length) * 32);
    let a = 0;
    let b = 0;
    let n = 0;
    while (a < ids.length || b < extraIds.length) {
      const c = a >= ids.length ? 1 : b >= extraIds.length ? -1 : compareIds(ids[a] as Uint8Array, extraIds[b] as Uint8Array);
      if (c <= 0) {
        merged.set(leaves.subarray(a * 32, a * 32 + 32), n * 32);
        a++;
        if (c === 0) b++;
      } else {
        merged.set(extraLeaves.subarray(b * 32, b * 32 + 32), n * 32);
        b++;
      }
      n++;
    }
    self.postMessage({ ok: true, root: Buffer.from(rootOfLeaves(merged, n)).toString("hex") });
  } catch (err) {
    self.postMessage({ ok: false, error: (err as Error).message });
  }
};
