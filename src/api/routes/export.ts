/**
 * `GET /v1/export?subject_prefix=&predicate=&since=&until=&format=ndjson|cbor` (docs/PROVENANCE.md#audit-bundles): an
 * audit bundle of the selection and its provenance closure, streamed as a download. The
 * manifest is known before the first byte, so its record count and Merkle root are also sent
 * as headers; a client that reads the body to the end finds the same manifest there.
 */
import { type BundleFormat, bundleFormats, type BundleSelection, contentTypes, exportBundle } from "../../bundle/index.ts";
import { labelBytesMax, predicateBytesMax, subjectBytesMax } from "../../core/limits.ts";
import { parseSubjectMatch } from "../../index/list.ts";
import type { Store } from "../../store/store.ts";
import { type OperationDoc, query, timeParam } from "../openapi/operation.ts";
import { int, oneOfEnum, str } from "../openapi/schema.ts";
import { knownParams, parseText, parseTime } from "../params.ts";
import { badQuery } from "../problem.ts";

/** The selection a query string asks for. */
export function parseExportParams(q: URLSearchParams): { selection: BundleSelection; format: BundleFormat } {
  knownParams(q, ["subject_prefix", "predicate", "since", "until", "format"]);
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

export async function exportHandler(store: Store, q: URLSearchParams): Promise<Response> {
  const { selection, format } = parseExportParams(q);
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

export const exportDoc: OperationDoc = {
  id: "exportBundle",
  tag: "provenance",
  summary: "An audit bundle: the selection, its provenance closure and a manifest",
  description:
    "Streams the full signed records of the assertions the selection matches, their depends_on closure, the votes, retractions, reviews and superseders that target them, their sources and those sources' retractions, and the epochs — then a manifest (counts, BLAKE3 Merkle root over the sorted ids, export time). Check it offline with `stemedb verify-bundle` (docs/FORMAT.md, Audit bundles).",
  parameters: [
    query("subject_prefix", "an exact subject, `a/b/*` (descendants) or `*/b` (default: every subject)"),
    query("predicate", "only assertions with this predicate"),
    timeParam("since", "only assertions stated at or after"),
    timeParam("until", "only assertions stated at or before"),
    query("format", "ndjson (default) or cbor (an RFC 8742 CBOR sequence)", oneOfEnum(["ndjson", "cbor"])),
  ],
  answers: {
    200: {
      description: "the bundle, as an attachment (Content-Disposition); the manifest is the last item",
      content: { "application/x-ndjson": { schema: str() }, "application/cbor-seq": { schema: str() } },
      headers: {
        "X-Bundle-Records": { description: "records in the bundle (the manifest's `records`)", schema: int() },
        "X-Bundle-Merkle-Root": { description: "the manifest's `merkle_root`", schema: str() },
        "X-Bundle-Lsn": { description: "the log position the bundle reflects", schema: int() },
      },
    },
  },
  errors: ["invalid_query", "export_too_large"],
};
