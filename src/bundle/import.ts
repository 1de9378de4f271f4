/**
 * Loading a bundle into a node: verify it whole first (verify.ts) — a bundle that fails is
 * refused before anything is written, unless forced — then submit its records in batches
 * through the batch endpoint, exact bytes in CBOR, in the order the bundle holds them. The
 * node checks every record again as it would any write; records it already holds come back
 * as duplicates, so importing the same bundle twice is harmless.
 */
import { batchRecordsMax } from "../core/limits.ts";
import { BundleError } from "./format.ts";
import { BundleReader, type BundleSource } from "./reader.ts";
import { type BundleSummary, verifyBundle } from "./verify.ts";

/** One batch's answer, as `POST /v1/assert/batch` gives it. */
export interface BatchAnswer {
  results: Array<{ id: string; status: string; duplicate: boolean } | { error: { code: string; detail: string } }>;
}

export type SubmitBatch = (records: Array<{ body: Uint8Array; sig: Uint8Array }>) => Promise<BatchAnswer>;

export interface ImportOptions {
  /** Submit even when verification fails (the node still refuses records that do not verify). */
  force?: boolean;
  batchRecordsMax?: number;
  /** Bound on a batch's bodies and signatures, under the server's batch body limit (16 MiB by default). */
  batchBytesMax?: number;
  threads?: number;
  onProgress?: (submitted: number) => void;
}

export interface ImportReport {
  /** The verification summary, or null when it failed (and `force` was given). */
  verified: BundleSummary | null;
  /** Why verification failed, when it did. */
  verifyError: BundleError | null;
  records: number;
  accepted: number;
  duplicates: number;
  quarantined: number;
  rejected: number;
  /** The first rejections (at most `rejectionsKept`), by item number. */
  rejections: Array<{ item: number; code: string; detail: string }>;
  batches: number;
  ms: number;
}

export const rejectionsKept = 20;
export const importBatchBytesMax = 8 * 1024 * 1024;

/** Throws the verification `BundleError` when the bundle is bad and `force` is not set. */
export async function importBundle(
  source: BundleSource,
  submit: SubmitBatch,
  options: ImportOptions = {},
): Promise<ImportReport> {
  const started = performance.now();
  const report: ImportReport = {
    verified: null,
    verifyError: null,
    records: 0,
    accepted: 0,
    duplicates: 0,
    quarantined: 0,
    rejected: 0,
    rejections: [],
    batches: 0,
    ms: 0,
  };
  try {
    report.verified = await verifyBundle(source, options.threads !== undefined ? { threads: options.threads } : {});
  } catch (err) {
    if (!(err instanceof BundleError) || !options.force) throw err;
    report.verifyError = err;
  }
  const countMax = Math.min(options.batchRecordsMax ?? batchRecordsMax, batchRecordsMax);
  const bytesMax = options.batchBytesMax ?? importBatchBytesMax;
  let batch: Array<{ body: Uint8Array; sig: Uint8Array; item: number }> = [];
  let bytes = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    const answer = await submit(batch.map(({ body, sig }) => ({ body, sig })));
    tally(report, batch, answer);
    report.batches++;
    batch = [];
    bytes = 0;
    options.onProgress?.(report.records);
  };
  try {
    for (const it of new BundleReader(source).items()) {
      if (it.type !== "record") continue;
      const size = it.body.length + it.sig.length + 16;
      if (batch.length >= countMax || (batch.length > 0 && bytes + size > bytesMax)) await flush();
      batch.push({ body: it.body, sig: it.sig, item: it.item });
      bytes += size;
    }
  } catch (err) {
    // Forced past a bundle whose framing breaks off: what came before it is still submitted.
    if (!(err instanceof BundleError) || !options.force) throw err;
  }
  await flush();
  report.ms = performance.now() - started;
  return report;
}

function tally(report: ImportReport, batch: ReadonlyArray<{ item: number }>, answer: BatchAnswer): void {
  answer.results.forEach((r, i) => {
    report.records++;
    if ("error" in r) {
      report.rejected++;
      if (report.rejections.length < rejectionsKept)
        report.rejections.push({ item: batch[i]?.item ?? 0, code: r.error.code, detail: r.error.detail });
    } else if (r.duplicate) report.duplicates++;
    else {
      report.accepted++;
      if (r.status === "quarantined") report.quarantined++;
    }
  });
}
