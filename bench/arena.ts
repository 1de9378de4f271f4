/**
 * The arena at scale (docs/ARENA.md#how-fast): `stemedb sim truth` with 1,000 agents over 50
 * ticks (the rest of the goal scenario: 30 % trolls, a 50-key sybil ring, 5 forgers, 5
 * backdaters, 200 subjects) against a server of its own, timed end to end — writing, the
 * 200 × 7-lens queries after every tick, the known_at / as_of re-asks and the log check.
 *
 * Prints wall time, this process's CPU time (client and server share it: the arena runs its
 * server in-process), records written, queries asked, and the load average around the run, so
 * a figure taken on a shared machine says how shared it was. Usage:
 * `bun bench/arena.ts` or `make bench-arena`; BENCH_AGENTS, BENCH_TICKS, BENCH_SEED override.
 */
import os from "node:os";
import { runArena } from "../src/sim/arena.ts";
import { startEmbedded } from "../src/sim/embedded.ts";
import { arenaLenses } from "../src/sim/measure.ts";
import { scenarioDefaults, withOverrides } from "../src/sim/scenario.ts";

const scenario = {
  ...withOverrides(scenarioDefaults, {
    agents: Number(process.env.BENCH_AGENTS ?? 1000),
    ticks: Number(process.env.BENCH_TICKS ?? 50),
    seed: Number(process.env.BENCH_SEED ?? 1),
  }),
  name: "bench",
};
const load = () =>
  os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(" ");
console.log(
  `arena bench: ${scenario.agents} agents × ${scenario.ticks} ticks, ${scenario.subjects} subjects, seed ${scenario.seed}`,
);
console.log(`load average before: ${load()} (${os.cpus().length} cores)`);
const server = await startEmbedded();
const cpu0 = process.cpuUsage();
const t0 = performance.now();
let report: Awaited<ReturnType<typeof runArena>>;
try {
  report = await runArena({ scenario, server: server.url, authorityKey: server.authorityKey, sameClock: true });
} finally {
  await server.stop();
}
const wallMs = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
const checkpoints = report.known_at.checkpoints;
const queries = scenario.subjects * (scenario.ticks + 3 * checkpoints);
console.log(`load average after:  ${load()}`);
console.log(
  `wall ${(wallMs / 1000).toFixed(1)} s; CPU ${(cpu.user / 1e6).toFixed(1)} s user + ${(cpu.system / 1e6).toFixed(1)} s system`,
);
console.log(
  `${report.records.total} records written (${((report.records.total as number) / (wallMs / 1000)).toFixed(0)}/s over the run); ${queries} queries of ${arenaLenses.length} lenses (${(wallMs / queries).toFixed(1)} ms each, all in)`,
);
console.log(
  `final accuracy: ${arenaLenses.map((l) => `${l} ${((report.lenses[l].final ?? 0) * 100).toFixed(1)} %`).join(", ")}; authority on sourced subjects ${((report.lenses.authority.sourced.final ?? 0) * 100).toFixed(1)} %`,
);
console.log(`known_at changed: ${report.known_at.changed}; log holds every record: ${report.log.holds_all}`);
