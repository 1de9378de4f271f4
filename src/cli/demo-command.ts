/**
 * `stemedb demo`: the pharma living review and its five moments against a running server
 * (src/demo). Kept apart from commands.ts, which spreads `demoCommands` into its table.
 */
import { parseArgs } from "node:util";
import { demoServerDefault, runDemo } from "../demo/moments.ts";
import type { Command } from "./commands.ts";

const usage = `stemedb demo [--server URL] [--seed N] [--prefix P] [--api-key KEY] [--json]

Loads a generated pharma "living review" into a running server (start one with \`make run\`
or \`stemedb serve\`): 12 drugs, a regulator's labels, trials, meta-analyses, guidelines, grey
literature and patient-forum anecdotes, each agent with its own Ed25519 key, claims linked by
depends_on, about 850 signed records in one CBOR batch. Then it walks five moments with
real HTTP calls, printing the CLI command for each and the answer:

  1. the regulator's 0.2 % against the forum's 12 %: authority vs consensus, κ, skeptic
  2. a mega-trial is retracted: the impact dry run, then the cascade to 120 dependants
  3. the audit trail from a leaflet back to the trial, ids and signatures checked client-side
  4. time travel: the same question as of 2023 and as of 2025
  5. three lenses, three different winners, each with its explanation

Every run is new: a random seed gives fresh agent keys and its own namespace,
pharma-demo-<seed hex>/drug/<name> (sources likewise), so running it again on the same server
works and touches nothing of earlier runs. --seed N replays a run exactly (same keys, same
record ids); on a server that already has that seed, the records are duplicates and the
retraction is answered as already made. --prefix P puts the data under P/ instead.

  --server URL    the server (default $STEMEDB_URL or ${demoServerDefault})
  --api-key KEY   sent as "Authorization: Bearer KEY" (default $STEMEDB_API_KEY)
  --json          print the structured result instead of the walk

Exit status: 0 when every moment answered as expected, 1 when a check failed, 2 when the
server could not be used.`;

export const demoCommands: Record<string, Command> = {
  demo: {
    summary: "load a pharma living review and walk the five moments (against a running server)",
    usage,
    async run(argv) {
      const { values } = parseArgs({
        args: argv,
        options: {
          server: { type: "string", default: process.env.STEMEDB_URL ?? demoServerDefault },
          seed: { type: "string" },
          prefix: { type: "string" },
          "api-key": { type: "string", default: process.env.STEMEDB_API_KEY ?? "" },
          json: { type: "boolean" },
          help: { type: "boolean", short: "h" },
        },
      });
      const seed = values.seed === undefined ? undefined : Number(values.seed);
      if (seed !== undefined && !(Number.isInteger(seed) && seed >= 0 && seed < 2 ** 32)) {
        process.stderr.write(`stemedb demo: --seed must be an integer in [0, 2^32), got ${values.seed}\n`);
        return 2;
      }
      if (values.prefix !== undefined && !/^[^/]+(\/[^/]+)*$/.test(values.prefix)) {
        process.stderr.write(`stemedb demo: --prefix must be a concept path like "pharma", got "${values.prefix}"\n`);
        return 2;
      }
      const print = values.json ? undefined : (line: string) => process.stdout.write(`${line}\n`);
      const result = await runDemo({
        server: values.server,
        ...(seed !== undefined ? { seed } : {}),
        ...(values.prefix ? { prefix: values.prefix } : {}),
        ...(values["api-key"] ? { headers: { authorization: `Bearer ${values["api-key"]}` } } : {}),
        ...(print ? { print } : {}),
      });
      if (values.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      return result.ok ? 0 : 1;
    },
  },
};
