/** `--key FILE`: the agent key a client command signs with (assert, vote, retract). */
import type { KeyPair } from "../crypto/sign.ts";
import { readKeyFile } from "../store/datadir.ts";
import { text } from "./flags.ts";
import { inputFile } from "./paths.ts";

export const keyFlag = text({
  help: "the agent's key file, as `stemedb keygen --out FILE` writes it",
  value: "FILE",
  kind: "in-file",
  required: true,
  requiredHint: "make one with `stemedb keygen --out FILE`",
});

/** The key pair in `file`; a missing file, a directory or not a key is said plainly. */
export function loadKey(file: string): KeyPair {
  inputFile(file, "--key");
  return readKeyFile(file);
}
