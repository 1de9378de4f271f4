/** `stemedb init`: a new data directory with a node key, an authority list and an empty log. */
import path from "node:path";
import { toHex } from "../../core/hex.ts";
import { initDataDir } from "../../store/datadir.ts";
import { defineCommand } from "../command.ts";
import { nodeDirAllowed } from "../datadir.ts";
import { dataDirFlag } from "../flags.ts";
import { errnoCode, fsError } from "../paths.ts";

export const init = defineCommand({
  name: "init",
  summary: "create a data directory with a node key",
  usage: ["stemedb init [--data-dir DIR]"],
  about: `Makes DIR (if needed) with meta.json, node.key (mode 0600), authorities.json and an empty log/.
Refuses a directory that already holds a node.`,
  flags: { "data-dir": dataDirFlag },
  async run({ values }, io) {
    const dir = values["data-dir"];
    nodeDirAllowed(dir);
    let dd: ReturnType<typeof initDataDir>;
    try {
      dd = initDataDir(dir);
    } catch (err) {
      if (errnoCode(err)) throw fsError(err, "cannot make the data directory", dir);
      throw err;
    }
    io.out(`initialised ${dir}`);
    io.out(`node id:        ${dd.meta.node_id}`);
    io.out(`authority key:  ${toHex(dd.nodeKey.publicKey)}  (secret in ${path.join(dir, "node.key")}, mode 0600)`);
    return 0;
  },
});
