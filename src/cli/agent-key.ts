/** `--key FILE`: the agent key a client command signs with (assert, vote, retract). */
import type { KeyPair } from "../crypto/sign.ts";
import { readKeyFile } from "../store/datadir.ts";
import { text } from "./flags.ts";
import { inputFile } from "./paths.ts";

/** What to do without a key file. */
export const keyFlagHint = "make one with `stemedb keygen --out FILE`";

export const keyFlag = text({
  help: "the agent's key file, as `stemedb keygen --out FILE` writes it",
  value: "FILE",
  kind: "in-file",
  required: true,
  requiredHint: keyFlagHint,
});

/** The key pair in `file`; a missing file, a directory or not a key is said plainly. */
export function loadKey(file: string): KeyPair {
  inputFile(file, "--key");
  return readKeyFile(file);
}
