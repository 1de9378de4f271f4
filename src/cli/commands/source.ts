/** `stemedb source`: a source's entry, or what retracting it would take down. */
import { connect } from "../client.ts";
import { defineCommand } from "../command.ts";
import { flag, jsonFlag, serverFlag } from "../flags.ts";
import { json, table } from "../output.ts";

export const source = defineCommand({
  name: "source",
  summary: "a source's entry and citations, or what retracting it would take down (--impact)",
  usage: ["stemedb source ID [--impact] [--json] [--server URL]"],
  flags: { impact: flag("what retracting it would flag (a dry run)"), json: jsonFlag, server: serverFlag },
  args: [{ name: "ID" }],
  async run({ values, args }, io) {
    const id = args[0] as string;
    const client = connect(values.server, io.env);
    if (values.impact) {
      const first = await client.sourceImpact(id, { limit: 1000 });
      if (values.json) {
        io.out(json(first));
        return 0;
      }
      io.out(
        `retracting ${id} would flag ${first.source_retracted} citing assertions and ${first.cascade} more through depends_on`,
      );
      for (const i of first.items.slice(0, 20))
        io.out(`  ${i.flag.padEnd(16)} depth ${i.depth}  ${i.id.slice(0, 12)}…  ${i.subject} ${i.predicate}`);
      if (first.total > 20) io.out(`  … ${first.total - 20} more (--json for the first 1000)`);
      return 0;
    }
    const s = await client.source(id);
    io.out(
      values.json
        ? json(s)
        : table(
            ["field", "value"],
            Object.entries(s).map(([k, v]) => [k, typeof v === "object" ? JSON.stringify(v) : String(v)]),
          ),
    );
    return 0;
  },
});
