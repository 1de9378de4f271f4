/** `stemedb archive`: one pass copying the log's sealed segments (and the active tail) to an archive. */
import path from "node:path";
import { archiveOnce, parseS3Url } from "../../backup/archive.ts";
import { recordBackupStatus } from "../../backup/status.ts";
import { defineCommand } from "../command.ts";
import { openNode } from "../datadir.ts";
import { dataDirFlag, text } from "../flags.ts";
import { inFiles, outputDir } from "../paths.ts";

export const archive = defineCommand({
  name: "archive",
  summary: "copy the log's sealed segments (and the active tail) to an archive, for point-in-time restore",
  usage: ["stemedb archive --data-dir D --archive-dir A [--s3 s3://bucket/prefix]"],
  about: `One pass; run it on a timer (deploy/systemd), or let the server do it with --archive-dir.
Safe beside a running server.`,
  flags: {
    "data-dir": dataDirFlag,
    "archive-dir": text({ help: "the archive (made if missing)", value: "A", kind: "out-dir", required: true }),
    s3: text({ help: "also upload to this bucket (AWS_* variables for credentials)", value: "s3://BUCKET/PREFIX" }),
  },
  async run({ values }, io) {
    const dir = values["data-dir"];
    const to = values["archive-dir"];
    const s3 = values.s3 !== undefined ? parseS3Url(values.s3) : undefined;
    openNode(dir);
    outputDir(to, "--archive-dir");
    const pass = await inFiles(`archiving ${dir} to ${to}: cannot use`, () => archiveOnce(dir, to, s3));
    recordBackupStatus(dir, { last_archive: { at: new Date().toISOString(), dir: path.resolve(to), lsn: pass.lsn } });
    io.out(`archived ${pass.sealed} sealed segments (${(pass.bytes / 1e6).toFixed(1)} MB); the archive reaches LSN ${pass.lsn}`);
    return 0;
  },
});
