/** `stemedb root`: the Merkle root over every record id in a data directory. */
import { dataDirRoot } from "../../backup/root.ts";
import { defineCommand } from "../command.ts";
import { openNode } from "../datadir.ts";
import { dataDirFlag, jsonFlag } from "../flags.ts";

export const root = defineCommand({
  name: "root",
  summary: "the Merkle root over every record id in a data directory (compare two nodes or a backup)",
  usage: ["stemedb root [--data-dir DIR] [--json]"],
  about: "Read-only; safe beside a running server.",
  flags: { "data-dir": dataDirFlag, json: jsonFlag },
  async run({ values }, io) {
    const dir = values["data-dir"];
    openNode(dir);
    const r = dataDirRoot(dir);
    io.out(values.json ? JSON.stringify(r) : `${r.root}  ${r.records} records, LSN ${r.lsn}`);
    return 0;
  },
});
