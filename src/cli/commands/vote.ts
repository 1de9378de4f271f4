/** `stemedb vote`: endorse (+1) or dispute (-1) an assertion, signed with a key file. */
import { signClaim } from "../../client/index.ts";
import { keyFlag, loadKey } from "../agent-key.ts";
import { connect } from "../client.ts";
import { defineCommand } from "../command.ts";
import { serverFlag, text, usage } from "../flags.ts";

export const vote = defineCommand({
  name: "vote",
  summary: "endorse (+1) or dispute (-1) an assertion, signed with a key file",
  usage: ["stemedb vote --key FILE TARGET_ID +1|-1 [--reason TEXT] [--server URL]"],
  about: "up and down work too. Prints the server's answer.",
  flags: { key: keyFlag, reason: text({ help: "why", value: "TEXT" }), server: serverFlag },
  args: [{ name: "TARGET_ID" }, { name: "+1|-1" }],
  // "-1" looks like a flag to parseArgs: name the values before parsing.
  prepare: (argv) => argv.map((a) => (a === "-1" ? "down" : a === "+1" || a === "1" ? "up" : a)),
  async run({ values, args }, io) {
    const [target, value] = args as [string, string];
    if (value !== "up" && value !== "down") throw usage(`the vote is +1 or -1 (up or down), got ${JSON.stringify(value)}`);
    const key = loadKey(values.key);
    const signed = signClaim(key, {
      kind: "vote",
      target,
      value: value === "down" ? -1 : 1,
      ...(values.reason !== undefined ? { reason: values.reason } : {}),
    });
    io.out(JSON.stringify(await connect(values.server, io.env).vote(signed)));
    return 0;
  },
});
