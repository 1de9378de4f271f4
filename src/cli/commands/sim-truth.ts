/**
 * `stemedb sim truth`: the arena (src/sim, docs/ARENA.md) — personas play against a real server
 * around a planted truth, and every lens is scored on how often it names it.
 */
import fs from "node:fs";
import { StemeClient } from "../../client/index.ts";
import type { KeyPair } from "../../crypto/sign.ts";
import { runArena } from "../../sim/arena.ts";
import { arenaChart } from "../../sim/chart.ts";
import { startEmbedded } from "../../sim/embedded.ts";
import { arenaText } from "../../sim/report.ts";
import { parseScenario, type Scenario, scenarioDefaults, scenarioFields, withOverrides } from "../../sim/scenario.ts";
import { loadKey } from "../agent-key.ts";
import { authHeaders, reachingFetch } from "../client.ts";
import { defineCommand } from "../command.ts";
import { flag, jsonFlag, number, text, usage } from "../flags.ts";
import type { Io } from "../io.ts";
import { json, table } from "../output.ts";
import { fsError, outputFile, readInputText } from "../paths.ts";

const field = (key: keyof typeof scenarioFields, value: string) => {
  const f = scenarioFields[key];
  return number({
    help: `${f.help} (default ${scenarioDefaults[key]})`,
    value,
    min: f.min,
    max: f.max,
    ...(f.integer ? { integer: true as const } : {}),
  });
};

export const simTruth = defineCommand({
  name: "sim truth",
  summary: "play personas against a server around a planted truth; score every lens on it",
  usage: [
    "stemedb sim truth [--server URL --authority-key FILE] [--seed N] [--agents N] [--trolls FRACTION] [--sybils N]",
    "                  [--forgers N] [--backdaters N] [--subjects N] [--ticks N] [--scenario FILE] [--json] [--chart FILE]",
  ],
  about: `Scientists (truthful, noisy, some uncertain), trolls (the lie, with confidence), believers
(copy the consensus), a sybil ring (fresh keys endorsing each other and the trolls), source
forgers (tier-1 sources of their own), backdaters (claims and registrations dated in the past)
and an authority (seeds trust in a few scientists, marks gold standards, confirms real sources)
write signed records over ticks, in CBOR batches through the HTTP API. After each tick every
subject is asked through every lens; a numeric answer within --tolerance of the truth counts as
the truth. Reports per lens the share of subjects it answers truly, mean τ per persona, records
by kind, whether known_at answers stayed the same after backdated writes (they must), and
whether the log kept every record. The same seed gives the same run.

Without --server (or $STEMEDB_URL), a server of its own runs on a temporary data directory
(removed after). With one, --authority-key names a key in that server's authority set (its
node.key), and $STEMEDB_API_KEY a writer key when it has keys. --scenario FILE reads the fields from JSON
(sim/scenarios/ holds the kept ones); flags given on the line win. Exit status 0, or 1 when the
scenario's expectations (its "expect") are not met.`,
  flags: {
    server: text({ help: "a running server (default: a server of its own)", kind: "server", value: "URL", env: "STEMEDB_URL" }),
    "authority-key": text({ help: "with --server: a key in its authority set", value: "FILE", kind: "in-file" }),
    scenario: text({ help: "a scenario file (JSON)", value: "FILE", kind: "in-file" }),
    seed: field("seed", "N"),
    agents: field("agents", "N"),
    trolls: field("trolls", "FRACTION"),
    sybils: field("sybils", "N"),
    forgers: field("forgers", "N"),
    backdaters: field("backdaters", "N"),
    subjects: field("subjects", "N"),
    ticks: field("ticks", "N"),
    json: jsonFlag,
    chart: text({ help: "write the chart (SVG) here", value: "FILE", kind: "out-file" }),
    quiet: flag("no progress lines on stderr"),
  },
  async run({ values }, io) {
    const base = values.scenario ? readScenario(values.scenario) : scenarioDefaults;
    const scenario = withOverrides(base, {
      seed: values.seed,
      agents: values.agents,
      trolls: values.trolls,
      sybils: values.sybils,
      forgers: values.forgers,
      backdaters: values.backdaters,
      subjects: values.subjects,
      ticks: values.ticks,
    });
    if (values.chart !== undefined) outputFile(values.chart, "--chart");
    const authorityKey = values["authority-key"] === undefined ? undefined : loadKey(values["authority-key"]);
    const progress = values.quiet || values.json ? undefined : (line: string) => io.err(`${line}\n`);
    const report = await play(scenario, values.server, authorityKey, io, progress);
    if (values.chart !== undefined) {
      try {
        fs.writeFileSync(values.chart, arenaChart(report));
      } catch (err) {
        throw fsError(err, "--chart: cannot write", values.chart);
      }
    }
    if (values.json) io.out(json(report));
    else for (const line of arenaText(report, table)) io.out(line);
    return report.ok ? 0 : 1;
  },
});

async function play(
  scenario: Scenario,
  server: string | undefined,
  authorityKey: KeyPair | undefined,
  io: Io,
  progress: ((line: string) => void) | undefined,
) {
  const options = progress ? { progress } : {};
  if (server !== undefined) {
    const headers = authHeaders(io.env);
    const fetch = reachingFetch(server);
    await new StemeClient({ url: server, headers, fetch }).health(); // unreachable, or not StemeDB: said before anything else
    if (authorityKey === undefined)
      throw usage("--server needs --authority-key FILE: the authority persona signs with a key in that server's authority set");
    return runArena({ scenario, server, authorityKey, headers, fetch, ...options });
  }
  const embedded = await startEmbedded();
  try {
    return await runArena({ scenario, server: embedded.url, authorityKey: embedded.authorityKey, sameClock: true, ...options });
  } finally {
    await embedded.stop();
  }
}

function readScenario(file: string): Scenario {
  const text = readInputText(file, "--scenario");
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw usage(`--scenario ${file}: not JSON (${(err as Error).message})`);
  }
  return parseScenario(parsed, `--scenario ${file}`);
}
