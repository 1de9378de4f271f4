/**
 * `stemedb export`, `stemedb import` and `stemedb verify-bundle`: audit bundles (src/bundle,
 * docs/FORMAT.md "Audit bundles"). Kept apart from commands.ts, which spreads
 * `bundleCommands` into its table.
 */
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import {
  BundleError,
  type BundleManifest,
  BundleReader,
  type BundleSummary,
  type ImportReport,
  importBundle,
  verifyBundle,
} from "../bundle/index.ts";
import { StemeClient } from "../client/index.ts";
import type { Command } from "./commands.ts";

const serverDefault = process.env.STEMEDB_URL ?? "http://127.0.0.1:18180";
const serverOption = { server: { type: "string" as const, default: serverDefault } };
const helpOption = { help: { type: "boolean" as const, short: "h" } };

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

function clientFor(server: string): StemeClient {
  const key = process.env.STEMEDB_API_KEY;
  return new StemeClient({ url: server, ...(key ? { headers: { authorization: `Bearer ${key}` } } : {}) });
}

/** Bad usage or an operating error: said on stderr, exit status 2. */
function fail(command: string, message: string, usage?: string): number {
  process.stderr.write(`stemedb ${command}: ${message}\n${usage ? `Usage: ${usage}\n` : ""}`);
  return 2;
}

const n = (x: number) => x.toLocaleString("en-US");

function kindsLine(kinds: Record<string, number>): string {
  const parts = Object.entries(kinds)
    .filter(([, count]) => count > 0)
    .map(([kind, count]) => `${kind} ${n(count)}`);
  return parts.length ? parts.join(", ") : "none";
}

function selectionLine(m: BundleManifest): string {
  const parts = Object.entries(m.selection).map(([k, v]) => `${k}=${v}`);
  return parts.length ? parts.join(" ") : "everything";
}

function printSummary(file: string, s: BundleSummary): void {
  const m = s.manifest;
  const seconds = s.ms / 1000;
  out(`ok: ${file} (${s.format === "cbor" ? "CBOR sequence" : "NDJSON"}, ${n(s.bytes)} bytes)`);
  out(`records      ${n(s.records)}  (${kindsLine(s.kinds)})`);
  out(`merkle root  ${s.merkleRoot}`);
  out(`exported     ${m.exported_at} by node ${m.node_id} at LSN ${n(m.lsn)}`);
  out(`selection    ${selectionLine(m)}  (${n(m.selected)} selected, the rest their provenance; ${n(m.dangling)} dangling)`);
  const rate = seconds >= 0.5 ? ` (${n(Math.round(s.records / seconds))} records/s)` : "";
  out(`checked      every item, id and signature and the manifest in ${seconds.toFixed(2)} s${rate}`);
}

const exportUsage = `stemedb export --out FILE [--subject-prefix P] [--predicate P] [--since T] [--until T]
                      [--format ndjson|cbor] [--server URL]

Downloads an audit bundle (GET /v1/export): the full signed records of the assertions the
selection matches, their provenance closure (depends_on, votes, retractions, reviews,
superseders, their sources and those sources' retractions, epochs), and a manifest (counts,
BLAKE3 Merkle root over the sorted ids, export time). --subject-prefix takes an exact subject,
"a/b/*" or "*/b"; times are milliseconds since the epoch or ISO 8601. NDJSON by default; cbor
writes an RFC 8742 CBOR sequence. The file appears only once the whole bundle has arrived.
Check it anywhere, offline, with \`stemedb verify-bundle FILE\`.`;

const importUsage = `stemedb import FILE [--force] [--batch N] [--server URL]

Verifies the bundle (as verify-bundle does), then submits its records to the server in
batches of at most N (default and maximum 10,000) through POST /v1/assert/batch as exact
signed bytes, and reports how many were accepted, already held (duplicates) or rejected.
A bundle that fails verification is refused and nothing is sent, unless --force.
Note: decisions signed by another node's authority key count here only if that key is in this
node's authority set. Exit status: 0 all accepted or duplicates, 1 refused or some rejected.`;

const verifyUsage = `stemedb verify-bundle FILE [--threads N] [--json]

Offline: no server, no data directory. Checks that every item parses, each record body is
canonical CBOR decoding to a valid record, id = BLAKE3(body), every Ed25519 signature
(strict RFC 8032), no record twice, and that exactly one manifest comes last with the right
counts, kinds and Merkle root. Prints a summary and exits 0; on the first bad item prints its
number (for NDJSON, its line), its byte offset and what is wrong, and exits 1.
--threads: signature-checking threads (default: one per core; 0 checks on the main thread).`;

export const bundleCommands: Record<string, Command> = {
  export: {
    summary: "download an audit bundle: a selection, its provenance closure and a manifest",
    usage: exportUsage,
    async run(argv) {
      const { values } = parseArgs({
        args: argv,
        options: {
          out: { type: "string" },
          "subject-prefix": { type: "string" },
          predicate: { type: "string" },
          since: { type: "string" },
          until: { type: "string" },
          format: { type: "string", default: "ndjson" },
          ...serverOption,
          ...helpOption,
        },
      });
      if (!values.out) return fail("export", "--out FILE is required", exportUsage);
      if (values.format !== "ndjson" && values.format !== "cbor")
        return fail("export", '--format is "ndjson" or "cbor"', exportUsage);
      const outDir = path.dirname(path.resolve(values.out));
      if (!fs.existsSync(outDir) || !fs.statSync(outDir).isDirectory()) return fail("export", `--out: no directory ${outDir}`);
      const started = performance.now();
      const res = await clientFor(values.server).exportBundle({
        subject_prefix: values["subject-prefix"],
        predicate: values.predicate,
        since: values.since,
        until: values.until,
        format: values.format,
      });
      const partial = `${values.out}.partial`;
      const sink = Bun.file(partial).writer();
      try {
        if (res.body) for await (const chunk of res.body) sink.write(chunk);
        await sink.end();
      } catch (err) {
        await Promise.resolve(sink.end()).catch(() => {});
        fs.rmSync(partial, { force: true });
        return fail("export", `the download broke off: ${(err as Error).message}; nothing was written`);
      }
      const manifest = lastManifest(partial);
      if (manifest === null) {
        fs.rmSync(partial, { force: true });
        return fail(
          "export",
          "the server's bundle ended without a manifest (the export broke off); see the server's log, and try again",
        );
      }
      fs.renameSync(partial, values.out);
      const seconds = (performance.now() - started) / 1000;
      out(
        `wrote ${values.out}: ${n(manifest.records)} records (${kindsLine(manifest.kinds)}), ${n(fs.statSync(values.out).size)} bytes in ${seconds.toFixed(2)} s`,
      );
      out(`merkle root  ${manifest.merkle_root}`);
      out(`selection    ${selectionLine(manifest)}  (${n(manifest.selected)} selected; ${n(manifest.dangling)} dangling)`);
      out(`check it with: stemedb verify-bundle ${values.out}`);
      return 0;
    },
  },

  import: {
    summary: "verify an audit bundle, then submit its records to a server",
    usage: importUsage,
    async run(argv) {
      const { values, positionals } = parseArgs({
        args: argv,
        allowPositionals: true,
        options: { force: { type: "boolean" }, batch: { type: "string" }, ...serverOption, ...helpOption },
      });
      const file = positionals[0];
      if (!file) return fail("import", "give the bundle FILE", importUsage);
      const batch = values.batch === undefined ? undefined : Number(values.batch);
      if (batch !== undefined && !(Number.isInteger(batch) && batch >= 1 && batch <= 10_000))
        return fail("import", "--batch is an integer 1–10,000", importUsage);
      const client = clientFor(values.server);
      let report: ImportReport;
      try {
        report = await importBundle(file, (records) => client.submitSigned(records), {
          ...(values.force ? { force: true } : {}),
          ...(batch !== undefined ? { batchRecordsMax: batch } : {}),
          onProgress: (done) => process.stderr.write(`\rimport: ${n(done)} records submitted`),
        });
      } catch (err) {
        if (!(err instanceof BundleError)) throw err;
        process.stderr.write(`stemedb import: refused ${file}: ${err.message}\n  nothing was sent; --force submits it anyway\n`);
        return 1;
      }
      if (report.batches > 0) process.stderr.write("\n");
      if (report.verifyError)
        out(`warning: ${file} failed verification (${report.verifyError.message}); submitted anyway (--force)`);
      out(
        `imported ${file} into ${values.server}: ${n(report.records)} records — ${n(report.accepted)} accepted${report.quarantined ? ` (${n(report.quarantined)} quarantined)` : ""}, ${n(report.duplicates)} duplicates, ${n(report.rejected)} rejected, ${report.batches} batches, ${(report.ms / 1000).toFixed(2)} s`,
      );
      if (report.verified) out(`merkle root  ${report.verified.merkleRoot} (verified)`);
      for (const r of report.rejections) out(`  rejected item ${r.item}: ${r.code}: ${r.detail}`);
      if (report.rejected > report.rejections.length) out(`  … ${n(report.rejected - report.rejections.length)} more rejected`);
      return report.rejected > 0 ? 1 : 0;
    },
  },

  "verify-bundle": {
    summary: "check an audit bundle offline: every id, every signature, the manifest",
    usage: verifyUsage,
    async run(argv) {
      const { values, positionals } = parseArgs({
        args: argv,
        allowPositionals: true,
        options: { threads: { type: "string" }, json: { type: "boolean" }, ...helpOption },
      });
      const file = positionals[0];
      if (!file) return fail("verify-bundle", "give the bundle FILE", verifyUsage);
      const threads = values.threads === undefined ? undefined : Number(values.threads);
      if (threads !== undefined && !(Number.isInteger(threads) && threads >= 0 && threads <= 64))
        return fail("verify-bundle", "--threads is an integer 0–64", verifyUsage);
      try {
        const summary = await verifyBundle(file, threads !== undefined ? { threads } : {});
        if (values.json) out(JSON.stringify({ ok: true, file, ...summary, ms: Math.round(summary.ms) }, null, 2));
        else printSummary(file, summary);
        return 0;
      } catch (err) {
        if (!(err instanceof BundleError)) throw err;
        if (values.json) out(JSON.stringify({ ok: false, file, item: err.item, offset: err.offset, error: err.reason }, null, 2));
        else out(`FAILED: ${file}: ${err.message}`);
        return 1;
      }
    },
  },
};

/** The manifest that ends a bundle file, or null when it ends without one. */
function lastManifest(file: string): BundleManifest | null {
  try {
    const last = new BundleReader(file).last();
    return last?.type === "manifest" ? (last.manifest as unknown as BundleManifest) : null;
  } catch (err) {
    if (err instanceof BundleError) return null;
    throw err;
  }
}
