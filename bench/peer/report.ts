/**
 * The report of `make bench-peer`: the issue's table (StemeDB | PostgreSQL | ratio, means over
 * the rounds), every run's figures, and the cross-check of answers on contested pairs, which
 * fails the run on any mismatch.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Config, Prepared } from "../peer.ts";
import { expectedConsensus, pairKey } from "./data.ts";
import { type PhaseResult, round } from "./load.ts";

export interface RunResult {
  target: "StemeDB" | "PostgreSQL";
  round: number;
  loadavg_before: number[];
  loadavg_after: number[];
  batch: PhaseResult;
  settle_seconds: number;
  single: PhaseResult;
  cold: PhaseResult;
  disk: { bytes: number; records: number; what: string; bytes_per_record: number };
  memory: { after_load_rss_mb: number; after_load_pss_mb: number; peak_rss_mb: number; peak_pss_mb: number };
  answers: Array<{ value: unknown; id: string | null }>;
  problems: string[];
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const fmt = (x: number) => Math.round(x).toLocaleString("en");

function machine() {
  const cpuinfo = fs.readFileSync("/proc/cpuinfo", "utf8");
  const memKb = Number(/MemTotal:\s*(\d+)/.exec(fs.readFileSync("/proc/meminfo", "utf8"))?.[1] ?? 0);
  return {
    nproc: os.availableParallelism(),
    cpu_model: /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? "unknown",
    memory_gb: round(memKb / 2 ** 20, 1),
    kernel: `${os.type()} ${os.release()}`,
    bun: Bun.version,
  };
}

/** Compares every run's answers with the first StemeDB run's and with the data set's own answer. */
function crossCheck(data: Prepared, runs: RunResult[]) {
  const key = (v: unknown) => JSON.stringify(v);
  const ref = runs.find((r) => r.target === "StemeDB");
  const problems: string[] = [];
  const perRun = runs.map((r) => {
    let sameValue = 0;
    let sameId = 0;
    let asExpected = 0;
    r.answers.forEach((a, i) => {
      const pair = data.sample[i] as number;
      const mine = ref?.answers[i];
      if (mine && key(mine.value) === key(a.value)) sameValue++;
      else if (mine && problems.length < 10) {
        const { subject, predicate } = pairKey(pair);
        const exp = key(expectedConsensus(pair, data.L).value);
        problems.push(
          `${r.target} run ${r.round}: ${subject} ${predicate}: ${key(a.value)}, StemeDB ${key(mine.value)}, data set ${exp}`,
        );
      }
      if (mine && mine.id === a.id) sameId++;
      if (key(a.value) === key(expectedConsensus(pair, data.L).value)) asExpected++;
    });
    return {
      target: r.target,
      round: r.round,
      same_value_as_stemedb: sameValue,
      same_winner_id: sameId,
      as_data_set_says: asExpected,
    };
  });
  if (data.sample.length < Math.min(200, data.L.pairs / 4))
    problems.push(
      `only ${data.sample.length} contested pairs to cross-check (at least 200 wanted: raise BENCH_SAMPLE or BENCH_RECORDS)`,
    );
  for (const c of perRun)
    if (c.same_winner_id !== data.sample.length && c.same_value_as_stemedb === data.sample.length)
      problems.push(
        `${c.target} run ${c.round}: same values but ${data.sample.length - c.same_winner_id} different winning records`,
      );
  return { pairs: data.sample.length, per_run: perRun, problems };
}

function summarise(runs: RunResult[], who: RunResult["target"]) {
  const rs = runs.filter((r) => r.target === who);
  const m = (f: (r: RunResult) => number) => mean(rs.map(f));
  return {
    batch: m((r) => r.batch.per_s),
    single: m((r) => r.single.per_s),
    singleP99: m((r) => r.single.p99_ms),
    cold: m((r) => r.cold.per_s),
    coldP50: m((r) => r.cold.p50_ms),
    coldP99: m((r) => r.cold.p99_ms),
    disk: m((r) => r.disk.bytes_per_record),
    rss: m((r) => r.memory.peak_rss_mb),
    pss: m((r) => r.memory.peak_pss_mb),
  };
}

function printTable(rows: string[][]): void {
  const widths = (rows[0] ?? []).map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length)));
  const line = (r: string[]) =>
    `| ${r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c] ?? 0) : cell.padStart(widths[c] ?? 0))).join(" | ")} |`;
  console.log(line(rows[0] as string[]));
  console.log(`| ${widths.map((w, c) => (c === 0 ? "-".repeat(w) : `${"-".repeat(w - 1)}:`)).join(" | ")} |`);
  for (const r of rows.slice(1)) console.log(line(r));
}

function mainTable(cfg: Config, s: ReturnType<typeof summarise>, p: ReturnType<typeof summarise>): string[][] {
  const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
  const n = cfg.records >= 1e6 ? `${cfg.records / 1e6}M` : `${cfg.records / 1e3}k`;
  return [
    ["", "StemeDB", "PostgreSQL", "ratio"],
    [
      `batch ingest, 1,000 a request, ${cfg.batchConcurrency} concurrent`,
      `${fmt(s.batch)}/s`,
      `${fmt(p.batch)}/s`,
      ratio(s.batch, p.batch),
    ],
    [
      `single-record ingest, ${cfg.singleConcurrency} concurrent`,
      `${fmt(s.single)}/s, p99 ${round(s.singleP99)} ms`,
      `${fmt(p.single)}/s, p99 ${round(p.singleP99)} ms`,
      ratio(s.single, p.single),
    ],
    [
      `cold consensus query at ${n}, ${cfg.queryConcurrency} concurrent`,
      `${fmt(s.cold)}/s, p99 ${round(s.coldP99)} ms`,
      `${fmt(p.cold)}/s, p99 ${round(p.coldP99)} ms`,
      ratio(s.cold, p.cold),
    ],
    ["disk bytes per record", fmt(s.disk), `${fmt(p.disk)} (table + indexes)`, ratio(s.disk, p.disk)],
    [
      "server memory, peak RSS (PSS)",
      `${fmt(s.rss)} MB (${fmt(s.pss)})`,
      `${fmt(p.rss)} MB (${fmt(p.pss)}), all processes`,
      `${ratio(s.pss, p.pss)} PSS`,
    ],
  ];
}

function runTable(runs: RunResult[]): string[][] {
  return [
    [
      "run",
      "batch/s",
      "batch p99",
      "caught up s",
      "single/s",
      "single p50/p99",
      "cold/s",
      "cold p50/p99",
      "cores b/s/q",
      "main thread b/s/q",
      "CPU µs b/s/q",
      "others b/s/q",
      "B/rec",
      "RSS MB",
      "PSS MB",
      "load before",
    ],
    ...runs.map((r) => [
      `${r.target} ${r.round}`,
      fmt(r.batch.per_s),
      `${r.batch.p99_ms} ms`,
      String(r.settle_seconds),
      fmt(r.single.per_s),
      `${r.single.p50_ms}/${r.single.p99_ms}`,
      fmt(r.cold.per_s),
      `${r.cold.p50_ms}/${r.cold.p99_ms}`,
      `${r.batch.server_cores}/${r.single.server_cores}/${r.cold.server_cores}`,
      `${r.batch.main_thread_cores}/${r.single.main_thread_cores}/${r.cold.main_thread_cores}`,
      [r.batch, r.single, r.cold].map((x) => Math.round((x.server_cores / Math.max(1, x.per_s)) * 1e6)).join("/"),
      `${r.batch.other_cores}/${r.single.other_cores}/${r.cold.other_cores}`,
      fmt(r.disk.bytes_per_record),
      fmt(r.memory.peak_rss_mb),
      fmt(r.memory.peak_pss_mb),
      r.loadavg_before.join(" "),
    ]),
  ];
}

export function report(
  cfg: Config,
  data: Prepared,
  runs: RunResult[],
  meta: { started: Date; pgSettings: Record<string, string> },
) {
  const m = machine();
  const s = summarise(runs, "StemeDB");
  const p = summarise(runs, "PostgreSQL");
  const check = crossCheck(data, runs);
  console.log("");
  console.log(
    `StemeDB against PostgreSQL — ${meta.started.toISOString()} — ${m.nproc} × ${m.cpu_model}, ${m.memory_gb} GB, Bun ${m.bun} — load ${runs[0]?.loadavg_before.join(" ")} before, ${os
      .loadavg()
      .map((x) => round(x, 2))
      .join(" ")} after`,
  );
  console.log(
    `${cfg.records.toLocaleString("en")} assertions (${data.L.subjects.toLocaleString("en")} subjects × 5 predicates, ${cfg.perPair} a pair, ${cfg.keys} agents), ${cfg.singles.toLocaleString("en")} single records at most; ${cfg.rounds} rounds alternated (StemeDB, PostgreSQL, …), means below`,
  );
  console.log(
    `PostgreSQL: ${Object.entries(meta.pgSettings)
      .map(([k, v]) => `${k}=${v}`)
      .join(", ")}; the service: 2 Bun processes × ${cfg.pool} connections`,
  );
  console.log("");
  printTable(mainTable(cfg, s, p));
  console.log("");
  printTable(runTable(runs));
  console.log("");
  const byRun = check.per_run.map(
    (c) =>
      `${c.target} ${c.round}: ${c.same_value_as_stemedb}/${check.pairs} same value as StemeDB 1, ${c.same_winner_id} same winning record, ${c.as_data_set_says} as the data set says`,
  );
  for (const r of runs)
    for (const [what, x] of [
      ["batch", r.batch],
      ["single", r.single],
      ["cold", r.cold],
    ] as const)
      if (x.shed_retries > 0)
        console.log(
          `${r.target} ${r.round} ${what}: ${x.shed_retries} answers 503 (load shed), retried after their retry_after_s`,
        );
  console.log(`answers on ${check.pairs} contested pairs — ${byRun.join("; ")}`);
  return { machine: m, stemedb: s, postgresql: p, cross_check: check, problems: check.problems };
}

export function writeResults(root: string, stamp: string, out: object): string {
  const file = path.join(root, ".bench", `peer-${stamp}.json`);
  fs.writeFileSync(file, `${JSON.stringify({ bench: "peer", date: new Date().toISOString(), ...out }, null, 2)}\n`);
  return file;
}
