/** `stemedb reindex`: rebuild the index from the log (server stopped). */
import { Store } from "../../store/store.ts";
import { defineCommand } from "../command.ts";
import { openNode } from "../datadir.ts";
import { dataDirFlag } from "../flags.ts";
import { progressBar } from "../output.ts";
import { inFiles } from "../paths.ts";

export const reindex = defineCommand({
  name: "reindex",
  summary: "rebuild the index from the log",
  usage: ["stemedb reindex [--data-dir DIR]"],
  about: `The server must be stopped (the directory lock is held throughout). The index is deleted and rebuilt
from the log with a progress bar; if the rebuild is interrupted, the next start finishes it.`,
  flags: { "data-dir": dataDirFlag },
  async run({ values }, io) {
    const dir = values["data-dir"];
    openNode(dir);
    const started = performance.now();
    const bar = progressBar(io, "reindex");
    const store = await inFiles(`reindexing ${dir}: cannot use`, () =>
      Store.open(dir, { rebuildIndex: true, ...(bar ? { onReplayProgress: bar } : {}) }),
    );
    const lsn = store.log.lastLsn;
    await store.close();
    if (bar) io.err("\n");
    io.out(`reindexed ${lsn} records in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    return 0;
  },
});
