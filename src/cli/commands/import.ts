/** `stemedb import`: verify an audit bundle, then submit its records to a server. */
import { BundleError, type ImportReport, importBundle } from "../../bundle/index.ts";
import { batchRecordsMax } from "../../core/limits.ts";
import { StemeError } from "../../core/errors.ts";
import { connect } from "../client.ts";
import { defineCommand } from "../command.ts";
import { flag, number, serverFlag } from "../flags.ts";
import { count } from "../output.ts";
import { inputFile } from "../paths.ts";

export const importCommand = defineCommand({
  name: "import",
  summary: "verify an audit bundle, then submit its records to a server",
  usage: ["stemedb import FILE [--force] [--batch N] [--server URL]"],
  about: `Verifies the bundle (as verify-bundle does), then submits its records to the server in
batches of at most N (default and maximum 10,000) through POST /v1/assert/batch as exact
signed bytes, and reports how many were accepted, already held (duplicates) or rejected.
A bundle that fails verification is refused and nothing is sent, unless --force.
Note: decisions signed by another node's authority key count here only if that key is in this
node's authority set. Exit status: 0 all accepted or duplicates, 1 refused or some rejected.`,
  flags: {
    force: flag("submit a bundle that fails verification anyway"),
    batch: number({ help: "records per request", value: "N", integer: true, min: 1, max: batchRecordsMax }),
    server: serverFlag,
  },
  args: [{ name: "FILE", kind: "in-file" }],
  async run({ values, args }, io) {
    const file = args[0] as string;
    inputFile(file, "the bundle");
    const client = connect(values.server, io.env);
    let report: ImportReport;
    try {
      report = await importBundle(file, (records) => client.submitSigned(records), {
        ...(values.force ? { force: true } : {}),
        ...(values.batch !== undefined ? { batchRecordsMax: values.batch } : {}),
        onProgress: (done) => io.err(`\rimport: ${count(done)} records submitted`),
      });
    } catch (err) {
      if (!(err instanceof BundleError)) throw err;
      throw new StemeError("bad_bundle", `refused ${file}: ${err.message}`, {
        hint: "nothing was sent; `stemedb verify-bundle FILE` says more, --force submits it anyway",
      });
    }
    if (report.batches > 0) io.err("\n");
    if (report.verifyError)
      io.out(`warning: ${file} failed verification (${report.verifyError.message}); submitted anyway (--force)`);
    io.out(
      `imported ${file} into ${values.server}: ${count(report.records)} records — ${count(report.accepted)} accepted${report.quarantined ? ` (${count(report.quarantined)} quarantined)` : ""}, ${count(report.duplicates)} duplicates, ${count(report.rejected)} rejected, ${report.batches} batches, ${(report.ms / 1000).toFixed(2)} s`,
    );
    if (report.verified) io.out(`merkle root  ${report.verified.merkleRoot} (verified)`);
    for (const r of report.rejections) io.out(`  rejected item ${r.item}: ${r.code}: ${r.detail}`);
    if (report.rejected > report.rejections.length)
      io.out(`  … ${count(report.rejected - report.rejections.length)} more rejected`);
    return report.rejected > 0 ? 1 : 0;
  },
});
