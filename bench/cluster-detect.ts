/**
 * Failure detection on real processes (make bench-cluster-detect; docs/BENCHMARKS.md#cluster-failure-detection-make-bench-cluster-detect):
 * N nodes (`stemedb serve --cluster-bind`, the lan preset) on loopback; each run kills one with
 * SIGKILL and times, from the kill, when the first other node holds it suspect, when the first
 * holds it dead, and when **every** other node holds it dead (detection). The victim is then
 * restarted and the cluster left to become whole before the next run. Figures: each run, then
 * p50 and max of detection against the preset's bound (failureDetectionBoundMs), with the load
 * average, since the machine is shared.
 *
 * The nodes' views are read through GET /v1/cluster/members every 50 ms, so times carry up to
 * ~50 ms of polling (plus an HTTP round trip on a loaded machine). The process harness is the
 * integration tests' (test/support/cluster-procs.ts).
 *
 * Environment: BENCH_NODES (5), BENCH_RUNS (5), BENCH_PRESET (lan).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { failureDetectionBoundMs, type PresetName, presets } from "../src/cluster/config.ts";
import {
  allAlive,
  ClusterProc,
  freeClusterPort,
  killAll,
  type NodeSpec,
  randomKeyHex,
  statesAt,
  waitFor,
  writeKeyFile,
} from "../test/support/cluster-procs.ts";

const nodesWanted = Number(process.env.BENCH_NODES ?? 5);
const runs = Number(process.env.BENCH_RUNS ?? 5);
const preset = (process.env.BENCH_PRESET ?? "lan") as PresetName;
const pollMs = 50;

interface Run {
  victim: string;
  firstSuspectMs: number | null;
  firstDeadMs: number | null;
  allDeadMs: number | null;
  /** How long the restarted victim took to be alive on every node again. */
  rejoinMs: number | null;
}

function freeApiPort(): number {
  const s = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") });
  const port = s.port as number;
  s.stop(true);
  return port;
}

async function startCluster(dir: string): Promise<ClusterProc[]> {
  const keyFile = path.join(dir, "cluster.key");
  writeKeyFile(keyFile, [randomKeyHex()]);
  const specs: NodeSpec[] = [];
  for (let i = 1; i <= nodesWanted; i++)
    specs.push({
      name: `n${i}`,
      dataDir: path.join(dir, `n${i}`),
      keyFile,
      apiHost: "127.0.0.1",
      apiPort: freeApiPort(),
      clusterHost: "127.0.0.1",
      clusterPort: await freeClusterPort(),
      seeds: [],
      preset,
    });
  const seeds = specs.slice(0, 2).map((s) => `127.0.0.1:${s.clusterPort}`);
  for (const s of specs) s.seeds = seeds;
  const nodes = specs.map((s) => new ClusterProc(s));
  await Promise.all(nodes.map((n) => n.listening()));
  return nodes;
}

/** Kills `victim`, polls the others until every one holds it dead (or `limitMs` passes). */
async function detect(nodes: ClusterProc[], victim: ClusterProc, limitMs: number): Promise<Run> {
  const others = nodes.filter((n) => n !== victim);
  const run: Run = { victim: victim.spec.name, firstSuspectMs: null, firstDeadMs: null, allDeadMs: null, rejoinMs: null };
  const dead = new Set<string>();
  const killedAt = performance.now();
  await victim.kill();
  while (performance.now() - killedAt < limitMs && dead.size < others.length) {
    const views = await Promise.all(others.map(statesAt));
    const at = Math.round(performance.now() - killedAt);
    views.forEach((v, i) => {
      const state = v?.[victim.spec.name];
      if (state === "suspect" && run.firstSuspectMs === null) run.firstSuspectMs = at;
      if (state === "dead") {
        if (run.firstDeadMs === null) run.firstDeadMs = at;
        dead.add((others[i] as ClusterProc).spec.name);
      }
    });
    if (dead.size === others.length) run.allDeadMs = at;
    await Bun.sleep(pollMs);
  }
  return run;
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stemedb-bench-cluster-"));
  const bound = failureDetectionBoundMs(presets[preset], nodesWanted);
  const load: number[][] = [os.loadavg()];
  let nodes = await startCluster(dir);
  const names = nodes.map((n) => n.spec.name);
  if (!(await waitFor(() => allAlive(nodes, names), 60_000))) throw new Error("the cluster did not converge in 60 s");
  console.error(`${nodesWanted} nodes, ${preset} preset, bound ${bound} ms; ${runs} runs`);
  const results: Run[] = [];
  for (let r = 0; r < runs; r++) {
    // Settle: a fresh join's gossip and push-pulls are done, no suspicion in flight.
    await Bun.sleep(5000);
    const victim = nodes[(r + 2) % nodes.length] as ClusterProc;
    const run = await detect(nodes, victim, bound + 15_000);
    const again = new ClusterProc(victim.spec);
    await again.listening();
    nodes = nodes.map((n) => (n === victim ? again : n));
    const restartedAt = performance.now();
    if (await waitFor(() => allAlive(nodes, names), 60_000, pollMs)) run.rejoinMs = Math.round(performance.now() - restartedAt);
    results.push(run);
    load.push(os.loadavg());
    console.error(
      `run ${r + 1}: killed ${run.victim}; first suspect ${run.firstSuspectMs} ms, first dead ${run.firstDeadMs} ms, dead everywhere ${run.allDeadMs} ms; alive everywhere again ${run.rejoinMs} ms after its restart`,
    );
  }
  await killAll();
  fs.rmSync(dir, { recursive: true, force: true });
  report(results, bound, load);
}

function report(results: Run[], bound: number, load: number[][]): void {
  const detected = results
    .map((r) => r.allDeadMs)
    .filter((x): x is number => x !== null)
    .sort((a, b) => a - b);
  const summary = {
    nodes: nodesWanted,
    preset,
    runs: results.length,
    bound_ms: bound,
    detection_ms: { p50: quantile(detected, 0.5), max: detected.at(-1) ?? null, missed: results.length - detected.length },
    first_suspect_ms_p50: quantile(
      results.map((r) => r.firstSuspectMs ?? Number.NaN).sort((a, b) => a - b),
      0.5,
    ),
    rejoin_ms_max: Math.max(...results.map((r) => r.rejoinMs ?? Number.NaN)),
    loadavg_1m: load.map((l) => Math.round((l[0] ?? 0) * 10) / 10),
    cpus: os.cpus().length,
    results,
  };
  console.log("| run | killed | first suspect ms | first dead ms | dead everywhere ms | rejoined ms |");
  console.log("| ---: | --- | ---: | ---: | ---: | ---: |");
  for (const [i, r] of results.entries())
    console.log(`| ${i + 1} | ${r.victim} | ${r.firstSuspectMs} | ${r.firstDeadMs} | ${r.allDeadMs} | ${r.rejoinMs} |`);
  console.log(
    `\ndetection (dead on every other node): p50 ${summary.detection_ms.p50} ms, max ${summary.detection_ms.max} ms, bound ${bound} ms; load average ${summary.loadavg_1m.join(" → ")} on ${summary.cpus} CPUs`,
  );
  fs.mkdirSync(".bench", { recursive: true });
  const file = `.bench/cluster-detect-${new Date().toISOString().slice(0, 19).replace(/[:T]/g, "-")}.json`;
  fs.writeFileSync(file, `${JSON.stringify(summary, null, 2)}\n`);
  console.error(`wrote ${file}`);
}

await main().catch(async (err) => {
  await killAll();
  console.error(err);
  process.exit(1);
});
