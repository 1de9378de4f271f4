/** `stemedb retract`: withdraw an assertion, signed with a key file. */
import { signClaim } from "../../client/index.ts";
import { keyFlag, loadKey } from "../agent-key.ts";
import { connect } from "../client.ts";
import { defineCommand } from "../command.ts";
import { serverFlag, text } from "../flags.ts";

export const retract = defineCommand({
  name: "retract",
  summary: "withdraw an assertion (your own, or any as an authority), signed with a key file",
  usage: ["stemedb retract --key FILE TARGET_ID [--reason TEXT] [--server URL]"],
  flags: { key: keyFlag, reason: text({ help: "why", value: "TEXT" }), server: serverFlag },
  args: [{ name: "TARGET_ID" }],
  async run({ values, args }, io) {
    const key = loadKey(values.key);
    const signed = signClaim(key, {
      kind: "retraction",
      target: args[0] as string,
      ...(values.reason !== undefined ? { reason: values.reason } : {}),
    });
    io.out(JSON.stringify(await connect(values.server, io.env).retract(signed)));
    return 0;
  },
});
