/** `stemedb keygen`: an Ed25519 key pair for an agent, to a file (mode 0600) or stdout. */
import fs from "node:fs";
import { toHex } from "../../core/hex.ts";
import { StemeError } from "../../core/errors.ts";
import { generateKeyPair } from "../../crypto/sign.ts";
import { writeKeyFile } from "../../store/datadir.ts";
import { defineCommand } from "../command.ts";
import { text } from "../flags.ts";
import { json } from "../output.ts";
import { errnoCode, fsError, outputFile } from "../paths.ts";

export const keygen = defineCommand({
  name: "keygen",
  summary: "generate an agent key pair",
  usage: ["stemedb keygen [--out FILE]"],
  about: "Writes {public_key, secret_key} (hex) to FILE with mode 0600, or prints it when no FILE is given.",
  flags: { out: text({ help: "the key file to write (never overwritten)", value: "FILE", kind: "out-file" }) },
  async run({ values }, io) {
    const key = generateKeyPair();
    const file = values.out;
    if (file === undefined) {
      io.out(json({ public_key: toHex(key.publicKey), secret_key: toHex(key.secretKey) }));
      return 0;
    }
    outputFile(file, "--out");
    if (fs.existsSync(file))
      throw new StemeError("exists", `--out ${file} already exists; not overwriting a key`, {
        hint: "give another file, or move the old key away first",
      });
    try {
      writeKeyFile(file, key);
    } catch (err) {
      if (errnoCode(err)) throw fsError(err, "cannot write", file);
      throw err;
    }
    io.out(`wrote ${file}`);
    io.out(`public key: ${toHex(key.publicKey)}`);
    return 0;
  },
});
