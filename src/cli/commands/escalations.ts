/**
 * `stemedb escalations`: escalations opened by contested queries; `escalations resolve ID`
 * closes one (the older `--resolve ID` still works).
 */
import { connect } from "../client.ts";
import { defineCommand } from "../command.ts";
import { choice, jsonFlag, serverFlag, text } from "../flags.ts";
import type { Io } from "../io.ts";
import { json, table } from "../output.ts";

const noteFlag = text({ help: "the resolution's note", value: "TEXT" });
const goldFlag = text({ help: "also mark this assertion a gold standard (an authority decision)", value: "ASSERTION_ID" });

async function resolve(server: string, id: string, note: string | undefined, gold: string | undefined, io: Io) {
  const r = await connect(server, io.env).resolveEscalation(id, note, gold ? { gold } : {});
  io.out(`resolved ${r.escalation.id} (record ${r.resolution_id}, lsn ${r.lsn})`);
  if (r.gold_id) io.out(`gold standard ${gold} (record ${r.gold_id})`);
  return 0;
}

const resolveCommand = defineCommand({
  name: "escalations resolve",
  summary: "resolve an escalation, optionally marking the right assertion gold",
  usage: ["stemedb escalations resolve ID [--note TEXT] [--gold ASSERTION_ID] [--server URL]"],
  flags: { note: noteFlag, gold: goldFlag, server: serverFlag },
  args: [{ name: "ID" }],
  run: ({ values, args }, io) => resolve(values.server, args[0] as string, values.note, values.gold, io),
});

export const escalations = defineCommand({
  name: "escalations",
  summary: "list escalations opened by contested queries, or resolve one",
  usage: [
    "stemedb escalations [--status open|resolved|all] [--json] [--server URL]",
    "stemedb escalations resolve ID [--note TEXT] [--gold ASSERTION_ID] [--server URL]",
  ],
  about: "--gold also marks that assertion a gold standard. --resolve ID is the older form of `escalations resolve ID`.",
  flags: {
    status: choice({ help: "which escalations", values: ["open", "resolved", "all"], default: "open" }),
    resolve: text({ help: "resolve this escalation (as `escalations resolve ID`)", value: "ID" }),
    note: noteFlag,
    gold: goldFlag,
    json: jsonFlag,
    server: serverFlag,
  },
  subcommands: [resolveCommand],
  async run({ values }, io) {
    if (values.resolve !== undefined) return resolve(values.server, values.resolve, values.note, values.gold, io);
    const { items } = await connect(values.server, io.env).escalations(values.status);
    if (values.json) {
      io.out(json(items));
      return 0;
    }
    const rows = items.map((e) => {
      const c = (typeof e.context === "object" && e.context) || {};
      return [e.id, e.status, e.opened_at, ...[c.subject, c.predicate, c.lens, c.conflict].map((v) => String(v ?? ""))];
    });
    io.out(table(["id", "status", "opened", "subject", "predicate", "lens", "κ"], rows));
    return 0;
  },
});
