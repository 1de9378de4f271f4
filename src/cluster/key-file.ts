/**
 * The cluster key file (`--cluster-key-file`, docs/CLUSTER-WIRE.md#keys-and-rotation): one key
 * per line as 64 hex digits, the primary first, older keys after it (accepted, never sent
 * under), `#` comments. Like the node's own key (node.key), a key file that others may read is
 * refused: whoever reads it can join the cluster and speak for any member.
 */
import fs from "node:fs";
import { StemeError } from "../core/errors.ts";
import { type Keyring, parseKeyring } from "./keyring.ts";

export function readClusterKeyFile(file: string): Keyring {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch (err) {
    throw new StemeError(
      "bad_key_file",
      `--cluster-key-file: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      {
        hint: "make one with `openssl rand -hex 32 > FILE && chmod 600 FILE`, and give every member a copy",
      },
    );
  }
  if (!stat.isFile()) throw new StemeError("bad_key_file", `--cluster-key-file: ${file} is not a file`);
  const mode = stat.mode & 0o777;
  if (mode & 0o077)
    throw new StemeError("key_permissions", `cluster key file ${file} is readable by others (mode ${mode.toString(8)})`, {
      hint: `chmod 600 ${file}`,
    });
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    throw new StemeError("bad_key_file", `--cluster-key-file: cannot read ${file} (${(err as Error).message})`);
  }
  try {
    return parseKeyring(text);
  } catch (err) {
    throw new StemeError("bad_key_file", `--cluster-key-file ${file}: ${(err as Error).message}`);
  }
}
