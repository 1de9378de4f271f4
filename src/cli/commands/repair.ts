/** `stemedb repair`: cut a damaged log back to its last good record; what is cut is set aside. */
import path from "node:path";
import { applyRepair, planRepair, verifyLog } from "../../log/index.ts";
import { lockDataDir } from "../../store/lock.ts";
import { defineCommand } from "../command.ts";
import { openNode } from "../datadir.ts";
import { dataDirFlag, flag } from "../flags.ts";

export const repair = defineCommand({
  name: "repair",
  summary: "cut a damaged log back to its last good record (set aside, never deleted)",
  usage: ["stemedb repair [--data-dir DIR] [--yes]"],
  about: `Without --yes, only says what it would do (exit 1 when there is damage). With --yes (server
stopped): the bytes from the first damaged record on, and every later segment, are moved to
DIR/log-quarantine/<time>/, the log is cut there, and the index drops what the log no longer has
at the next start. Records after the damage are lost to the node: restore the segment from a
backup instead if you have one.`,
  flags: { "data-dir": dataDirFlag, yes: flag("do it (the server must be stopped)") },
  async run({ values }, io) {
    const dir = values["data-dir"];
    const logDir = openNode(dir).logDir;
    const unlock = lockDataDir(dir);
    try {
      const plan = planRepair(logDir);
      if (plan.clean || !plan.cut) {
        io.out("the log is clean; nothing to repair");
        return 0;
      }
      io.out(`damage: ${plan.cut.file} at byte ${plan.cut.offset}: ${plan.cut.message}`);
      const aside = plan.setAside.map((f) => path.basename(f)).join(", ");
      io.out(
        `would cut ${plan.cut.bytes} bytes there${plan.setAside.length ? ` and set aside ${plan.setAside.length} segment file(s): ${aside}` : ""}`,
      );
      if (!values.yes) {
        io.out("nothing changed; run again with --yes to do it");
        return 1;
      }
      const quarantine = path.join(dir, "log-quarantine", new Date().toISOString().replaceAll(":", "-"));
      applyRepair(plan, quarantine);
      const after = verifyLog(logDir);
      io.out(
        `repaired: the log now ends at LSN ${after.lastLsn} (${after.records} records); the removed bytes are in ${quarantine}`,
      );
      return after.ok ? 0 : 1;
    } finally {
      unlock();
    }
  },
});
