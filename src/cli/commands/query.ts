/** `stemedb query`: resolve SUBJECT PREDICATE through one or more lenses. */
import { connect } from "../client.ts";
import { defineCommand } from "../command.ts";
import { flag, jsonFlag, many, number, serverFlag, text, time } from "../flags.ts";
import { json, table } from "../output.ts";

export const query = defineCommand({
  name: "query",
  summary: "resolve SUBJECT PREDICATE through lenses (a table, or --json)",
  usage: [
    "stemedb query SUBJECT PREDICATE [--lens L]... [--as-of T] [--known-at T] [--valid-at T] [--tolerance X] [--include FLAGS]",
    "              [--layers L,L] [--fresh] [--escalate K] [--json] [--server URL]",
  ],
  about: `Lenses: recency, consensus, vote, authority, trust, skeptic, layered (default: consensus).
Several --lens flags answer side by side. Times are milliseconds since the epoch or ISO 8601.
--as-of T counts the records the agents dated by T; --known-at T those the server had received
by T (what it knew then, whatever was backdated since; node-local). They combine.
--fresh resolves now (index and TrustRank current) instead of reading a materialized view;
--escalate K opens an escalation for human review when κ ≥ K.`,
  flags: {
    lens: many({ help: "a lens; repeat for several side by side", value: "L" }),
    "as-of": time("time travel: only records with ts ≤ T count"),
    "known-at": time("only records the server had received by T count (its recorded_at)"),
    "valid-at": time("only claims valid at T"),
    tolerance: number({ help: "relative tolerance under which numbers agree", value: "X", min: 0, max: 1 }),
    include: text({ help: "also count flagged records (comma-separated flags)", value: "FLAGS" }),
    layers: text({ help: "the layered lens's order (comma-separated lenses)", value: "L,L" }),
    fresh: flag("resolve now instead of reading a materialized view"),
    escalate: number({ help: "open an escalation when κ ≥ K", value: "K", min: 0, max: 1 }),
    json: jsonFlag,
    server: serverFlag,
  },
  args: [{ name: "SUBJECT" }, { name: "PREDICATE" }],
  async run({ values, args }, io) {
    const [subject, predicate] = args as [string, string];
    const lenses = values.lens.length ? values.lens : ["consensus"];
    const options = {
      ...(values["as-of"] !== undefined ? { asOf: values["as-of"] } : {}),
      ...(values["known-at"] !== undefined ? { knownAt: values["known-at"] } : {}),
      ...(values["valid-at"] !== undefined ? { validAt: values["valid-at"] } : {}),
      ...(values.tolerance !== undefined ? { tolerance: values.tolerance } : {}),
      ...(values.include !== undefined ? { include: values.include.split(",") } : {}),
      ...(values.layers !== undefined ? { layers: values.layers.split(",") } : {}),
      ...(values.fresh ? { fresh: true } : {}),
      ...(values.escalate !== undefined ? { escalate: values.escalate } : {}),
    };
    const { results } = await connect(values.server, io.env).queryLenses(subject, predicate, lenses, options);
    if (values.json) {
      io.out(json(results));
      return 0;
    }
    const rows = lenses.map((lens) => {
      const r = results[lens];
      return [
        lens,
        r?.winner ? JSON.stringify(r.value) : "(none)",
        r ? r.support.toFixed(2) : "",
        r ? r.conflict.toFixed(2) : "",
        r?.verdict ?? "",
        r?.explain.join("; ") ?? "",
      ];
    });
    io.out(table(["lens", "value", "support", "κ", "verdict", "why"], rows));
    for (const lens of lenses) {
      const e = results[lens]?.escalation;
      if (e) io.out(`escalation ${e.id} ${e.opened ? "opened" : "already open"} (${lens})`);
    }
    return 0;
  },
});
