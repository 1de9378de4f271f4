/**
 * Opening the data directory for an offline command (verify, root, repair, reindex, backup,
 * archive, keys): a missing or empty one is `not_initialized` with the `init` hint, a file
 * where the directory belongs is `bad_path`, and a damaged meta.json, node.key or
 * authorities.json is `data_file_corrupt` (from the store layer).
 */
import { StemeError } from "../core/errors.ts";
import { type DataDir, isInitialized, openDataDir } from "../store/datadir.ts";
import { kindOf, outputDir } from "./paths.ts";

function notInitialized(dir: string, why: string): StemeError {
  return new StemeError("not_initialized", `${dir} ${why}`, {
    hint: `make one with \`stemedb init --data-dir ${dir}\`, or point --data-dir (or $STEMEDB_DATA_DIR) at a node`,
  });
}

function notADirectory(dir: string): StemeError {
  return new StemeError("bad_path", `--data-dir ${dir}: a file, not a directory`);
}

/** The directory holds a node: checked, not opened (for commands that open it themselves). */
export function requireNode(dir: string): void {
  const kind = kindOf(dir);
  if (kind === "missing") throw notInitialized(dir, "does not exist: no StemeDB node there");
  if (kind === "file") throw notADirectory(dir);
  if (!isInitialized(dir)) throw notInitialized(dir, "is not a StemeDB data directory (no meta.json)");
}

/** The node in `dir`, opened and checked (meta.json, node.key, authorities.json). */
export function openNode(dir: string): DataDir {
  requireNode(dir);
  return openDataDir(dir);
}

/** A directory `init` or `serve` may make a node in: absent, or a directory. */
export function nodeDirAllowed(dir: string): void {
  outputDir(dir, "--data-dir");
}
