/** `stemedb restore`: a backup into a new data directory, optionally rolled forward and cut at a point in time. */
import { restoreBackup } from "../../backup/restore.ts";
import { defineCommand } from "../command.ts";
import { number, text, time, usage } from "../flags.ts";
import { inFiles, inputDir, outputDir } from "../paths.ts";

export const restore = defineCommand({
  name: "restore",
  summary: "restore a backup into a new data directory, optionally rolled forward and cut at a point in time",
  usage: ["stemedb restore --from BACKUP --data-dir NEW [--archive-dir A] [--target-lsn N | --target-time T]"],
  about: `The backup is verified first and refused if anything is wrong. --archive-dir rolls it forward
with archived segments; --target-lsn keeps records up to LSN N, --target-time those the node
received at or before T (ms since the epoch or ISO 8601). Then: stemedb serve --data-dir NEW.`,
  flags: {
    from: text({ help: "the backup directory", value: "BACKUP", kind: "in-dir", required: true }),
    "data-dir": text({ help: "the new (or empty) data directory", value: "NEW", kind: "out-dir", required: true }),
    "archive-dir": text({ help: "roll forward with the segments archived here", value: "A", kind: "in-dir" }),
    "target-lsn": number({ help: "keep records up to this log position", value: "N", integer: true, min: 0 }),
    "target-time": time("keep records the node received at or before T"),
  },
  async run({ values }, io) {
    const targetLsn = values["target-lsn"];
    const targetTime = values["target-time"];
    if (targetLsn !== undefined && targetTime !== undefined) throw usage("give --target-lsn or --target-time, not both");
    inputDir(values.from, "--from");
    if (values["archive-dir"] !== undefined) inputDir(values["archive-dir"], "--archive-dir");
    outputDir(values["data-dir"], "--data-dir", { empty: "restore into a new directory" });
    const r = await inFiles(`restoring into ${values["data-dir"]}: cannot use`, () =>
      restoreBackup({
        from: values.from,
        dataDir: values["data-dir"],
        ...(values["archive-dir"] !== undefined ? { archiveDir: values["archive-dir"] } : {}),
        ...(targetLsn !== undefined ? { targetLsn } : {}),
        ...(targetTime !== undefined ? { targetTime } : {}),
      }),
    );
    io.out(
      `restored ${r.records} records (to LSN ${r.lsn}) into ${values["data-dir"]}${r.archivedSegments ? `, ${r.archivedSegments} segments from the archive` : ""}; the index ${r.indexKept ? "catches up" : "is rebuilt"} when the server starts`,
    );
    return 0;
  },
});
