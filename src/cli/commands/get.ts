/** `stemedb get`: one record by id. */
import { connect } from "../client.ts";
import { defineCommand } from "../command.ts";
import { serverFlag } from "../flags.ts";
import { json } from "../output.ts";

export const get = defineCommand({
  name: "get",
  summary: "fetch a record by id",
  usage: ["stemedb get ID [--server URL]"],
  about: "Prints the record's fields, its signature, its canonical body (hex) and its LSN as JSON.",
  flags: { server: serverFlag },
  args: [{ name: "ID" }],
  async run({ values, args }, io) {
    io.out(json(await connect(values.server, io.env).get(args[0] as string)));
    return 0;
  },
});
