/**
 * `GET /v1/export?subject_prefix=&predicate=&since=&until=&format=ndjson|cbor` (SPEC §5): an
 * audit bundle of the selection and its provenance closure, streamed as a download. The
 * manifest is known before the first byte, so its record count and Merkle root are also sent
 * as headers; a client that reads the body to the end finds the same manifest there.
 */
import { labelBytesMax, predicateBytesMax, subjectBytesMax } from "../core/limits.ts";
import { type BundleFormat, bundleFormats, type BundleSelection, contentTypes, exportBundle } from "../bundle/index.ts";
import { parseSubjectMatch } from "../index/list.ts";
import type { Store } from "../store/store.ts";
import { parseText, parseTime } from "./params.ts";
import { badQuery } from "./problem.ts";

const known = new Set(["subject_prefix", "predicate", "since", "until", "format"]);

/** The selection a query string asks for. */
export function parseExportParams(q: URLSearchParams): { selection: BundleSelection; format: BundleFormat } {
  for (const key of q.keys())
    if (!known.has(key)) throw badQuery(key, `unknown parameter; expected one of ${[...known].join(", ")}`);
  const selection: BundleSelection = {};
  const subject = parseText("subject_prefix", q.get("subject_prefix"), subjectBytesMax + 2);
  if (subject !== undefined) {
    try {
      parseSubjectMatch(subject);
    } catch {
      throw badQuery("subject_prefix", `"${subject.slice(0, 80)}" is not a subject, "prefix/*" or "*/tail"`);
    }
    selection.subject_prefix = subject;
  }
  const predicate = parseText("predicate", q.get("predicate"), predicateBytesMax);
  if (predicate !== undefined) selection.predicate = predicate;
  const since = parseTime("since", q.get("since"));
  if (since !== undefined) selection.since = since;
  const until = parseTime("until", q.get("until"));
  if (until !== undefined) selection.until = until;
  if (since !== undefined && until !== undefined && since > until) throw badQuery("until", "must not be before since");
  const format = parseText("format", q.get("format"), labelBytesMax) ?? "ndjson";
  if (!bundleFormats.includes(format as BundleFormat)) throw badQuery("format", `expected ${bundleFormats.join(" or ")}`);
  return { selection, format: format as BundleFormat };
}

export async function exportHandler(store: Store, request: Request): Promise<Response> {
  const { selection, format } = parseExportParams(new URL(request.url).searchParams);
  const bundle = await exportBundle(store, selection, format);
  const m = bundle.manifest;
  const name = `stemedb-${m.node_id}-lsn${m.lsn}.${format === "cbor" ? "cbor-seq" : "ndjson"}`;
  return new Response(bundle.stream, {
    headers: {
      "content-type": contentTypes[format],
      "content-disposition": `attachment; filename="${name}"`,
      "x-bundle-records": String(m.records),
      "x-bundle-merkle-root": m.merkle_root,
      "x-bundle-lsn": String(m.lsn),
    },
  });
}
