/**
 * `stemedb sim cluster`: the cluster's membership protocol over a simulated network and clock,
 * in one process, deterministic for a seed (docs/CLUSTER.md#the-simulator).
 *
 * `sim` is a family: `sim truth` (agent personas against a server, sim-truth.ts) lives beside
 * this one; the `sim` parent is sim.ts.
 */
import { type PresetName, presetNames, presets, simulateCluster, type SimReport } from "../../cluster/index.ts";
import { defineCommand } from "../command.ts";
import { choice, jsonFlag, number, usage } from "../flags.ts";
import { count, json } from "../output.ts";

export const simCluster = defineCommand({
  name: "sim cluster",
  summary: "simulate the cluster's membership protocol: convergence, false deaths, traffic per node",
  usage: [
    "stemedb sim cluster [--nodes N] [--seed S] [--loss P] [--preset lan|wan|local] [--duration SECONDS] [--crash N] [--json]",
  ],
  about: `Runs N members on an in-memory network under a simulated clock: they join through the first,
run for the simulated duration, and at half time the last --crash members crash. The same seed
gives the same run. Reports how long membership took to converge, how many times a member
declared a running member dead (false deaths), how long the crash took to be seen everywhere,
and the traffic each node sent. No server, no sockets; nothing is written.`,
  flags: {
    nodes: number({ help: "members", integer: true, min: 1, max: 500, default: 5 }),
    seed: number({
      help: "the seed: the same seed gives the same run",
      value: "S",
      integer: true,
      min: 0,
      max: 2 ** 32 - 1,
      default: 1,
    }),
    loss: number({ help: "the share of packets lost on every link", value: "P", min: 0, max: 0.9, default: 0 }),
    preset: choice({ help: "the membership timings", values: presetNames, default: "lan" }),
    duration: number({ help: "simulated seconds", value: "SECONDS", integer: true, min: 10, max: 86_400, default: 300 }),
    crash: number({ help: "members to crash at half time (to measure detection)", integer: true, min: 0, default: 1 }),
    json: jsonFlag,
  },
  async run({ values }, io) {
    if (values.crash >= values.nodes)
      throw usage(
        `--crash ${values.crash}: at most ${values.nodes - 1} of ${values.nodes} members can crash`,
        "one member at least must survive to see the others",
      );
    const started = performance.now();
    const report = simulateCluster({
      nodes: values.nodes,
      seed: values.seed,
      lossRate: values.loss,
      preset: values.preset as PresetName,
      durationMs: values.duration * 1000,
      crash: values.crash,
    });
    const wallMs = performance.now() - started;
    io.out(values.json ? json({ ...report, wall_ms: Math.round(wallMs) }) : describe(report, wallMs));
    return 0;
  },
});

const seconds = (ms: number | null) => (ms === null ? "never" : `${(ms / 1000).toFixed(2)} s`);

function describe(r: SimReport, wallMs: number): string {
  const t = r.traffic;
  const probe = presets[r.preset as PresetName]?.probeIntervalMs ?? 0;
  return [
    `${r.nodes} members, seed ${r.seed}, ${(r.lossRate * 100).toFixed(1)}% packet loss, ${r.preset} preset (probe every ${probe} ms), ${count(r.durationMs / 1000)} s simulated in ${(wallMs / 1000).toFixed(1)} s`,
    `convergence       ${seconds(r.convergenceMs)} (from the first join until every member saw every member)`,
    `false deaths      ${r.falseDeaths}`,
    `false suspicions  ${r.falseSuspicions} (members suspected while running; refutations ${r.refutations})`,
    r.crashed === 0
      ? "crash detection   no crash asked for"
      : `crash detection   ${seconds(r.detectionMs)} (${r.crashed} crashed at ${count(r.durationMs / 2000)} s; until every member saw it dead)`,
    `traffic per node  ${t.packetsPerSecond.toFixed(2)} packets/s, ${Math.round(t.bytesPerSecond)} B/s (busiest ${Math.round(t.maxBytesPerSecond)} B/s; push-pull ${Math.round(t.streamBytesPerSecond)} B/s of it)`,
    `probes            ${count(r.probes)} (${count(r.probesFailed)} unanswered), packets dropped ${count(r.dropped)}`,
  ].join("\n");
}
