/** `stemedb export`: download an audit bundle (src/bundle, docs/FORMAT.md "Audit bundles"). */
import fs from "node:fs";
import { BundleError, type BundleManifest, BundleReader } from "../../bundle/index.ts";
import { StemeError } from "../../core/errors.ts";
import { connect } from "../client.ts";
import { defineCommand } from "../command.ts";
import { choice, serverFlag, text, time } from "../flags.ts";
import { count, kindsLine } from "../output.ts";
import { errnoCode, fsError, outputFile } from "../paths.ts";
import { selectionLine } from "./verify-bundle.ts";

export const exportCommand = defineCommand({
  name: "export",
  summary: "download an audit bundle: a selection, its provenance closure and a manifest",
  usage: [
    "stemedb export --out FILE [--subject-prefix P] [--predicate P] [--since T] [--until T]",
    "               [--format ndjson|cbor] [--server URL]",
  ],
  about: `Downloads an audit bundle (GET /v1/export): the full signed records of the assertions the
selection matches, their provenance closure (depends_on, votes, retractions, reviews,
superseders, their sources and those sources' retractions, epochs), and a manifest (counts,
BLAKE3 Merkle root over the sorted ids, export time). --subject-prefix takes an exact subject,
"a/b/*" or "*/b"; times are milliseconds since the epoch or ISO 8601. NDJSON by default; cbor
writes an RFC 8742 CBOR sequence. The file appears only once the whole bundle has arrived.
Check it anywhere, offline, with \`stemedb verify-bundle FILE\`.`,
  flags: {
    out: text({ help: "the bundle file to write", value: "FILE", kind: "out-file", required: true }),
    "subject-prefix": text({ help: 'an exact subject, "a/b/*" or "*/b"', value: "P" }),
    predicate: text({ help: "only this predicate", value: "P" }),
    since: time("only assertions with ts ≥ T"),
    until: time("only assertions with ts ≤ T"),
    format: choice({ help: "the bundle's encoding", values: ["ndjson", "cbor"], default: "ndjson" }),
    server: serverFlag,
  },
  async run({ values }, io) {
    const file = values.out;
    outputFile(file, "--out");
    const started = performance.now();
    const res = await connect(values.server, io.env).exportBundle({
      subject_prefix: values["subject-prefix"],
      predicate: values.predicate,
      since: values.since,
      until: values.until,
      format: values.format,
    });
    await download(res, `${file}.partial`);
    const manifest = lastManifest(`${file}.partial`);
    if (manifest === null) {
      fs.rmSync(`${file}.partial`, { force: true });
      throw new StemeError(
        "io_error",
        "the server's bundle ended without a manifest (the export broke off); nothing was written",
        {
          hint: "see the server's log, and try again",
        },
      );
    }
    fs.renameSync(`${file}.partial`, file);
    const seconds = (performance.now() - started) / 1000;
    io.out(
      `wrote ${file}: ${count(manifest.records)} records (${kindsLine(manifest.kinds)}), ${count(fs.statSync(file).size)} bytes in ${seconds.toFixed(2)} s`,
    );
    io.out(`merkle root  ${manifest.merkle_root}`);
    io.out(
      `selection    ${selectionLine(manifest)}  (${count(manifest.selected)} selected; ${count(manifest.dangling)} dangling)`,
    );
    io.out(`check it with: stemedb verify-bundle ${file}`);
    return 0;
  },
});

/** Streams the answer's body into `partial`; a broken download removes it. */
async function download(res: Response, partial: string): Promise<void> {
  let sink: ReturnType<ReturnType<typeof Bun.file>["writer"]> | undefined;
  try {
    sink = Bun.file(partial).writer();
    if (res.body) for await (const chunk of res.body) sink.write(chunk);
    await sink.end();
  } catch (err) {
    await Promise.resolve(sink?.end()).catch(() => {});
    fs.rmSync(partial, { force: true });
    if (errnoCode(err)) throw fsError(err, "cannot write", partial);
    throw new StemeError("io_error", `the download broke off: ${(err as Error).message}; nothing was written`, { cause: err });
  }
}

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
