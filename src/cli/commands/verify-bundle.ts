/** `stemedb verify-bundle`: check an audit bundle offline — every item, id, signature, the manifest. */
import { BundleError, type BundleManifest, type BundleSummary, verifyBundle } from "../../bundle/index.ts";
import { defineCommand } from "../command.ts";
import { jsonFlag, number } from "../flags.ts";
import type { Io } from "../io.ts";
import { count, json, kindsLine } from "../output.ts";
import { inputFile } from "../paths.ts";

export function selectionLine(m: BundleManifest): string {
  const parts = Object.entries(m.selection).map(([k, v]) => `${k}=${v}`);
  return parts.length ? parts.join(" ") : "everything";
}

export function printSummary(file: string, s: BundleSummary, io: Io): void {
  const m = s.manifest;
  const seconds = s.ms / 1000;
  io.out(`ok: ${file} (${s.format === "cbor" ? "CBOR sequence" : "NDJSON"}, ${count(s.bytes)} bytes)`);
  io.out(`records      ${count(s.records)}  (${kindsLine(s.kinds)})`);
  io.out(`merkle root  ${s.merkleRoot}`);
  io.out(`exported     ${m.exported_at} by node ${m.node_id} at LSN ${count(m.lsn)}`);
  io.out(
    `selection    ${selectionLine(m)}  (${count(m.selected)} selected, the rest their provenance; ${count(m.dangling)} dangling)`,
  );
  const rate = seconds >= 0.5 ? ` (${count(Math.round(s.records / seconds))} records/s)` : "";
  io.out(`checked      every item, id and signature and the manifest in ${seconds.toFixed(2)} s${rate}`);
}

export const verifyBundleCommand = defineCommand({
  name: "verify-bundle",
  summary: "check an audit bundle offline: every id, every signature, the manifest",
  usage: ["stemedb verify-bundle FILE [--threads N] [--json]"],
  about: `Offline: no server, no data directory. Checks that every item parses, each record body is
canonical CBOR decoding to a valid record, id = BLAKE3(body), every Ed25519 signature
(strict RFC 8032), no record twice, and that exactly one manifest comes last with the right
counts, kinds and Merkle root. Prints a summary and exits 0; on the first bad item prints its
number (for NDJSON, its line), its byte offset and what is wrong, and exits 1.`,
  flags: {
    threads: number({
      help: "signature-checking threads (default: one per core; 0 checks on the main thread)",
      value: "N",
      integer: true,
      min: 0,
      max: 64,
    }),
    json: jsonFlag,
  },
  args: [{ name: "FILE", kind: "in-file" }],
  async run({ values, args }, io) {
    const file = args[0] as string;
    inputFile(file, "the bundle");
    try {
      const summary = await verifyBundle(file, values.threads !== undefined ? { threads: values.threads } : {});
      if (values.json) io.out(json({ ok: true, file, ...summary, ms: Math.round(summary.ms) }));
      else printSummary(file, summary, io);
      return 0;
    } catch (err) {
      if (!(err instanceof BundleError)) throw err;
      if (values.json) io.out(json({ ok: false, file, item: err.item, offset: err.offset, error: err.reason }));
      else io.out(`FAILED: ${file}: ${err.message}`);
      return 1;
    }
  },
});
