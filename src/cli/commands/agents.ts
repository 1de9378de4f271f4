/** `stemedb agents`: agents by TrustRank, or one agent's trust, counts and recent records. */
import { listLimitMax } from "../../core/limits.ts";
import { connect } from "../client.ts";
import { defineCommand } from "../command.ts";
import { choice, jsonFlag, number, serverFlag } from "../flags.ts";
import type { Io } from "../io.ts";
import { json, table } from "../output.ts";
import type { StemeClient } from "../../client/index.ts";

export const agents = defineCommand({
  name: "agents",
  summary: "agents by TrustRank, or one agent's trust, counts and recent records",
  usage: ["stemedb agents [KEY] [--sort trust|key] [--limit N] [--json] [--server URL]"],
  about: `Without KEY: every agent that signed a record, highest τ first. With KEY: that agent's τ, how
it came about (seeded, endorsements, disputes, gold agreement), record counts, recent records.`,
  flags: {
    sort: choice({ help: "the order", values: ["trust", "key"], default: "trust" }),
    limit: number({ help: "at most N agents", value: "N", integer: true, min: 1, max: listLimitMax }),
    json: jsonFlag,
    server: serverFlag,
  },
  args: [{ name: "KEY", optional: true }],
  async run({ values, args }, io) {
    const client = connect(values.server, io.env);
    const key = args[0];
    if (key !== undefined) return oneAgent(client, key, values.json, io);
    const page = await client.agents({ sort: values.sort, ...(values.limit !== undefined ? { limit: values.limit } : {}) });
    if (values.json) io.out(json(page));
    else
      io.out(
        table(
          ["agent", "trust", "role", "endorsed by", "disputed by"],
          page.items.map((a) => [
            a.agent,
            a.trust.toFixed(3),
            a.authority ? "authority" : a.seeded ? "seeded" : "",
            String(a.endorsed_by),
            String(a.disputed_by),
          ]),
        ),
      );
    return 0;
  },
});

async function oneAgent(client: StemeClient, key: string, asJson: boolean, io: Io): Promise<number> {
  const a = await client.agent(key);
  if (asJson) {
    io.out(json(a));
    return 0;
  }
  const counts = Object.entries(a.counts)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${n} ${k}`)
    .join(", ");
  io.out(`agent      ${a.agent}`);
  io.out(`trust      ${a.trust.toFixed(3)}${a.authority ? " (authority)" : a.seeded ? " (seeded)" : ""}`);
  io.out(`endorsed   by ${a.endorsed_by}, disputed by ${a.disputed_by}`);
  io.out(`gold       ${a.gold.agree} agree, ${a.gold.contradict} contradict`);
  io.out(`records    ${counts || "none"}`);
  return 0;
}
