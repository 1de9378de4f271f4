/**
 * `stemedb quarantine`: assertions held by content defense; `quarantine approve ID` and
 * `quarantine reject ID` decide one (the older `--approve ID` / `--reject ID` still work).
 */
import { connect } from "../client.ts";
import { defineCommand } from "../command.ts";
import { jsonFlag, serverFlag, text, usage } from "../flags.ts";
import type { Io } from "../io.ts";
import { json, table } from "../output.ts";

const noteFlag = text({ help: "why (kept in the review record)", value: "TEXT" });

async function decide(server: string, id: string, action: "approve" | "reject", note: string | undefined, io: Io) {
  const r = await connect(server, io.env).decideQuarantine(id, action, note);
  io.out(`${action === "approve" ? "approved" : "rejected"} ${id} (record ${String(r.id)})`);
  return 0;
}

const decision = (action: "approve" | "reject") =>
  defineCommand({
    name: `quarantine ${action}`,
    summary: `${action} a held assertion (a review record signed by the node's authority key)`,
    usage: [`stemedb quarantine ${action} ID [--note TEXT] [--server URL]`],
    flags: { note: noteFlag, server: serverFlag },
    args: [{ name: "ID" }],
    run: ({ values, args }, io) => decide(values.server, args[0] as string, action, values.note, io),
  });

export const quarantine = defineCommand({
  name: "quarantine",
  summary: "assertions held by content defense: list them, approve or reject one (admin)",
  usage: [
    "stemedb quarantine [--json] [--server URL]",
    "stemedb quarantine approve ID [--note TEXT] [--server URL]",
    "stemedb quarantine reject ID [--note TEXT] [--server URL]",
  ],
  about: `Each decision is a review record signed by the node's authority key. Needs an admin key in
$STEMEDB_API_KEY when the server has keys. --approve ID and --reject ID are the older forms.`,
  flags: {
    approve: text({ help: "approve this held assertion (as `quarantine approve ID`)", value: "ID" }),
    reject: text({ help: "reject this held assertion (as `quarantine reject ID`)", value: "ID" }),
    note: noteFlag,
    json: jsonFlag,
    server: serverFlag,
  },
  subcommands: [decision("approve"), decision("reject")],
  async run({ values }, io) {
    if (values.approve !== undefined && values.reject !== undefined) throw usage("--approve or --reject, not both");
    if (values.approve !== undefined) return decide(values.server, values.approve, "approve", values.note, io);
    if (values.reject !== undefined) return decide(values.server, values.reject, "reject", values.note, io);
    const page = await connect(values.server, io.env).quarantine({ limit: 1000 });
    if (values.json) io.out(json(page));
    else
      io.out(
        table(
          ["id", "subject", "predicate", "rules"],
          page.items.map((i) => {
            const a = (i.assertion ?? {}) as { subject?: string; predicate?: string };
            return [i.id, a.subject ?? "", a.predicate ?? "", ((i.rules as string[]) ?? []).join(", ")];
          }),
        ),
      );
    return 0;
  },
});
