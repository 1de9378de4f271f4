/** `stemedb backup`: an online backup of a data directory, consistent at one log position. */
import os from "node:os";
import path from "node:path";
import { recordBackupStatus } from "../../backup/status.ts";
import { takeBackup } from "../../backup/take.ts";
import { defineCommand } from "../command.ts";
import { openNode } from "../datadir.ts";
import { dataDirFlag, text } from "../flags.ts";
import { progressBar } from "../output.ts";
import { inFiles, outputDir } from "../paths.ts";

export const backup = defineCommand({
  name: "backup",
  summary: "an online backup of a data directory, consistent at one log position",
  usage: ["stemedb backup --data-dir D --out DIR"],
  about: `Works beside a running server (nothing is locked or stopped). DIR must be new or empty; it
gets the log up to one LSN, the index and audit trail (SQLite online copies), the node's keys
and a manifest with every file's BLAKE3 and the Merkle root over the record ids. The backup
holds the node's private key: store it as safely as the data directory.`,
  flags: {
    "data-dir": dataDirFlag,
    out: text({ help: "the new (or empty) directory to write the backup to", value: "DIR", kind: "out-dir", required: true }),
  },
  async run({ values }, io) {
    const dir = values["data-dir"];
    openNode(dir);
    outputDir(values.out, "--out", { empty: "a backup goes into a new directory" });
    // A backup runs beside a live server: yield the CPU to it (the hashing processes inherit this).
    try {
      os.setPriority(10);
    } catch {
      // not permitted here: run at normal priority
    }
    const bar = progressBar(io, "backup");
    const result = await inFiles(`backing up ${dir} to ${values.out}: cannot use`, () =>
      takeBackup({ dataDir: dir, outDir: values.out, ...(bar ? { onProgress: bar } : {}) }),
    );
    if (bar) io.err("\n");
    const m = result.manifest;
    recordBackupStatus(dir, { last_backup: { at: m.created_at, dir: path.resolve(values.out), lsn: m.lsn } });
    const mb = result.bytes / 1e6;
    const s = result.ms / 1000;
    io.out(
      `backup ${values.out}: ${m.records} records to LSN ${m.lsn}, ${m.files.length} files, ${mb.toFixed(1)} MB in ${s.toFixed(1)} s (${(mb / s).toFixed(0)} MB/s)`,
    );
    io.out(`merkle root ${m.merkle_root}`);
    return 0;
  },
});
