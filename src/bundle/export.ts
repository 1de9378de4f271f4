/**
 * Writing a bundle (format.ts) from a store: the closure of a selection (closure.ts) streamed
 * as record items in log order, then the manifest. The manifest's counts and Merkle root are
 * computed from the index before the first byte goes out, so the records themselves are read
 * from the log one slice at a time, as the reader takes them, and never held together.
 */
import { toHex } from "../core/hex.ts";
import { merkleRoot } from "../crypto/merkle.ts";
import { kindNames } from "../index/schema.ts";
import type { RecordLocation } from "../index/store.ts";
import type { Store } from "../store/store.ts";
import { collectClosure } from "./closure.ts";
import {
  BundleEncoder,
  type BundleFormat,
  type BundleManifest,
  type BundleSelection,
  bundleVersion,
  emptyKindCounts,
} from "./format.ts";

export interface BundleExport {
  format: BundleFormat;
  /** Known before streaming starts; the same object ends the stream. */
  manifest: BundleManifest;
  stream: ReadableStream<Uint8Array>;
}

/** Records encoded per chunk of the stream. */
const sliceRecords = 512;

export async function exportBundle(
  store: Store,
  selection: BundleSelection,
  format: BundleFormat,
  options: { now?: () => number; recordsMax?: number } = {},
): Promise<BundleExport> {
  const closure = await collectClosure(store, selection, options.recordsMax ? { recordsMax: options.recordsMax } : {});
  const kinds = emptyKindCounts();
  for (const loc of closure.locations) kinds[kindNames[loc.kind] as keyof typeof kinds]++;
  const manifest: BundleManifest = {
    type: "manifest",
    version: bundleVersion,
    records: closure.locations.length,
    kinds,
    merkle_root: toHex(merkleRoot(closure.locations.map((l) => l.id))),
    exported_at: new Date((options.now ?? Date.now)()).toISOString(),
    node_id: store.dataDir.meta.node_id,
    lsn: closure.lsn,
    selection,
    selected: closure.selected,
    dangling: closure.dangling,
  };
  const encoder = new BundleEncoder(format);
  let next = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (next >= closure.locations.length) {
        controller.enqueue(encoder.manifest(manifest));
        controller.close();
        return;
      }
      const slice = closure.locations.slice(next, next + sliceRecords);
      next += slice.length;
      const parts = slice.map((loc) => encoder.record(...readChecked(store, loc)));
      controller.enqueue(Buffer.concat(parts));
    },
  });
  return { format, manifest, stream };
}

/** A record's body and signature from the log, checked against what the index says it is (Store.read). */
function readChecked(store: Store, loc: RecordLocation): [Uint8Array, Uint8Array] {
  const { body, sig } = store.read(loc);
  return [body, sig];
}
