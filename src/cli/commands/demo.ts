/** `stemedb demo`: the pharma living review and its five moments against a running server (src/demo). */
import { demoServerDefault, runDemo } from "../../demo/moments.ts";
import { reachingFetch } from "../client.ts";
import { defineCommand } from "../command.ts";
import { jsonFlag, number, text } from "../flags.ts";
import { json } from "../output.ts";

export const demo = defineCommand({
  name: "demo",
  summary: "load a pharma living review and walk the five moments (against a running server)",
  usage: ["stemedb demo [--server URL] [--seed N] [--prefix P] [--api-key KEY] [--json]"],
  about: `Loads a generated pharma "living review" into a running server (start one with \`make run\`
or \`stemedb serve\`): 12 drugs, a regulator's labels, trials, meta-analyses, guidelines, grey
literature and patient-forum anecdotes, each agent with its own Ed25519 key, claims linked by
depends_on, about 850 signed records in one CBOR batch; the node's authority then confirms the
tier 1–3 sources (a tier is a claim: an admin key when the server has keys). Then it walks five moments with
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

Exit status: 0 when every moment answered as expected, 1 when a check failed, 4 when the
server could not be reached.`,
  flags: {
    server: text({ help: "the server", kind: "server", env: "STEMEDB_URL", default: demoServerDefault }),
    seed: number({ help: "replay this run", value: "N", integer: true, min: 0, max: 2 ** 32 - 1 }),
    prefix: text({
      help: "the namespace of the data",
      value: "P",
      check: (v) => (/^[^/]+(\/[^/]+)*$/.test(v) ? null : 'a concept path like "pharma"'),
    }),
    "api-key": text({
      help: 'sent as "Authorization: Bearer KEY"; an admin key (the demo confirms its sources)',
      value: "KEY",
      env: "STEMEDB_API_KEY",
    }),
    json: jsonFlag,
  },
  async run({ values }, io) {
    const print = values.json ? undefined : (line: string) => io.out(line);
    const key = values["api-key"];
    const result = await runDemo({
      server: values.server,
      fetch: reachingFetch(values.server),
      ...(values.seed !== undefined ? { seed: values.seed } : {}),
      ...(values.prefix !== undefined ? { prefix: values.prefix } : {}),
      ...(key ? { headers: { authorization: `Bearer ${key}` } } : {}),
      ...(print ? { print } : {}),
    });
    if (values.json) io.out(json(result));
    return result.ok ? 0 : 1;
  },
});
