/**
 * `make bench-memory`: what the server's memory does as the store fills and as cold queries
 * run (issue 14, "memory that does not grow with the store or the queries"). See
 * bench/README.md for what each number means.
 *
 *   bun bench/memory.ts
 *
 * Settings (environment): BENCH_RECORDS (assertions loaded, default 200,000), BENCH_QUERIES
 * (cold queries per variant, default 20,000), BENCH_CONCURRENCY (32), BENCH_SAMPLE_MS (2000),
 * BENCH_VARIANTS (servers to compare, `name=--flag value --flag value;name2@/other/tree=…`: a
 * name, optionally the source tree whose src/main.ts to run (default this one), and serve
 * flags, `bun:FLAG` for the runtime's, e.g. `bun:--smol`; default `default=`), BENCH_LOAD_ARGS (serve flags of the loading server), BENCH_ROUNDS (rounds over the variants, alternating, default 1), BENCH_KEEP=1
 * keeps the data dir, BENCH_IDLE_MS (a variant's server sits idle, sampled, this long before
 * its first query; default 0).
 *
 * The data set (bench/claims.ts, the shape): 1,000 agents, subjects × 5 predicates, 10 assertions a pair
 * from distinct agents; on 3 pairs in 4 about a third of the agents dissent (twice the number),
 * so most pairs have two camps; 5 in 6 assertions cite one of 10 registered sources. Records are
 * built and signed on worker threads before anything is timed.
 *
 * The run: one server (the first variant's tree, default settings) loads the records (1,000 a request, 4 concurrent) and its memory is read
 * once the index has caught up. Then each variant, in turn, starts a server on that data dir
 * and asks K cold queries — each (subject, predicate, lens) once; the consensus lens first, then
 * authority, recency, … when K exceeds the pairs — 32 at a time, sampling the server's VmRSS and
 * VmHWM (/proc/PID/status) and its own metrics every BENCH_SAMPLE_MS.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  agents,
  batchSize,
  benchSeeds,
  host,
  pairKey,
  perPair,
  predicates,
  shuffled,
  signAll,
  sourcesRequest,
} from "./claims.ts";
import { encodeRequest, RawConnection } from "./http.ts";
import {
  cpuSeconds,
  envInt,
  mb,
  metrics,
  round,
  type Server,
  start as startServer,
  stop,
  thisTree,
  vm,
  waitIndexed,
} from "./serve-proc.ts";

const lensOrder = ["consensus", "authority", "recency", "vote", "skeptic"];
const log = (msg: string) => console.error(`[bench-memory] ${msg}`);
const start = (dataDir: string, args: string[], name: string, root = thisTree) => startServer(dataDir, args, name, { root });

/** Cache gauges the server exports (whichever of them this build has). */
const cacheGauges: Array<[string, string]> = [
  ["views", "stemedb_views"],
  ["views_mb", "stemedb_views_bytes"],
  ["records", "stemedb_record_cache_records"],
  ["records_mb", "stemedb_record_cache_bytes"],
  ["heap_mb", "nodejs_heap_size_used_bytes"],
];

interface Sample {
  variant: string;
  at: string;
  queries: number;
  rss_mb: number;
  hwm_mb: number;
  anon_mb: number;
  file_mb: number;
  [gauge: string]: string | number;
}

async function sample(s: Server, variant: string, at: string, queries: number): Promise<Sample> {
  const m = await metrics(s);
  const row: Sample = { variant, at, queries, ...vm(s.proc.pid) };
  for (const [name, metric] of cacheGauges) {
    const v = m.get(metric);
    if (v !== undefined) row[name] = name.endsWith("_mb") ? mb(v) : v;
  }
  return row;
}

// ---------- the phases ----------

/** Loads the records; the loading server is sampled every `sampleMs` meanwhile (rows "loading"). */
async function load(s: Server, requests: Uint8Array[], out: Sample[], sampleMs: number): Promise<number> {
  let sampling = Promise.resolve();
  let sent = 0;
  const timer = setInterval(() => {
    sampling = sampling.then(async () => {
      out.push(await sample(s, "load", "loading", sent * batchSize));
    });
  }, sampleMs);
  try {
    return await loadAll(s, requests, () => sent++);
  } finally {
    clearInterval(timer);
    await sampling;
  }
}

async function loadAll(s: Server, requests: Uint8Array[], onSent: () => void): Promise<number> {
  const conns = await Promise.all(Array.from({ length: 4 }, () => RawConnection.open(host, s.port)));
  const src = await (conns[0] as RawConnection).request(sourcesRequest());
  if (src.status !== 200) throw new Error(`sources: ${src.status} ${src.body.toString().slice(0, 300)}`);
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    conns.map(async (c) => {
      while (next < requests.length) {
        const res = await c.request(requests[next++] as Uint8Array);
        if (res.status !== 200) throw new Error(`load: ${res.status} ${res.body.toString().slice(0, 300)}`);
        onSent();
      }
    }),
  );
  for (const c of conns) c.close();
  await waitIndexed(s);
  return (performance.now() - t0) / 1000;
}

function queryRequest(k: number, pairs: number, order: Uint32Array): Uint8Array {
  const { subject, predicate } = pairKey(order[k % pairs] as number);
  const lens = lensOrder[Math.floor(k / pairs) % lensOrder.length];
  return encodeRequest(
    "GET",
    `/v1/query?subject=${encodeURIComponent(subject)}&predicate=${predicate}&lens=${lens}`,
    host,
    "application/json",
    "",
  );
}

/** K cold queries, `concurrency` at a time; a sample every `sampleMs` and at every 5,000 answered. */
async function coldQueries(s: Server, variant: string, cfg: Config, pairs: number, order: Uint32Array, out: Sample[]) {
  const conns = await Promise.all(Array.from({ length: cfg.concurrency }, () => RawConnection.open(host, s.port)));
  let next = 0;
  let done = 0;
  let failed = 0;
  let mark = 5000;
  let sampling = Promise.resolve();
  const timer = setInterval(() => {
    sampling = sampling.then(async () => {
      out.push(await sample(s, variant, "tick", done));
    });
  }, cfg.sampleMs);
  const latencies = new Float64Array(cfg.queries);
  const cpu0 = cpuSeconds(s.proc.pid);
  const t0 = performance.now();
  await Promise.all(
    conns.map(async (c) => {
      while (next < cfg.queries) {
        const k = next++;
        const asked = performance.now();
        const res = await c.request(queryRequest(k, pairs, order));
        latencies[k] = performance.now() - asked;
        if (res.status !== 200) failed++;
        if (++done >= mark) {
          mark += 5000;
          const at = done;
          sampling = sampling.then(async () => {
            out.push(await sample(s, variant, `${at} queries`, at));
          });
        }
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const cpu1 = cpuSeconds(s.proc.pid);
  clearInterval(timer);
  await sampling;
  for (const c of conns) c.close();
  latencies.sort();
  return {
    seconds,
    failed,
    p99Ms: latencies[Math.floor(latencies.length * 0.99)] ?? Number.NaN,
    /** Server CPU per query, µs: every thread, and the event loop's alone. */
    cpuUs: ((cpu1.all - cpu0.all) / cfg.queries) * 1e6,
    mainCpuUs: ((cpu1.main - cpu0.main) / cfg.queries) * 1e6,
  };
}

// ---------- configuration and report ----------

function readConfig() {
  const variants = (process.env.BENCH_VARIANTS ?? "default=")
    .split(";")
    .filter((v) => v.trim() !== "")
    .map((v) => {
      const eq = v.indexOf("=");
      if (eq <= 0) throw new RangeError(`BENCH_VARIANTS: "${v}" is not name[@tree]=args`);
      const [name, tree] = v.slice(0, eq).trim().split("@") as [string, string | undefined];
      const root = path.resolve(tree ?? thisTree);
      if (!fs.existsSync(path.join(root, "src/main.ts"))) throw new RangeError(`BENCH_VARIANTS: no src/main.ts under ${root}`);
      return {
        name,
        root,
        args: v
          .slice(eq + 1)
          .trim()
          .split(/\s+/)
          .filter((a) => a !== ""),
      };
    });
  return {
    records: envInt("BENCH_RECORDS", 200_000),
    queries: envInt("BENCH_QUERIES", 20_000),
    concurrency: envInt("BENCH_CONCURRENCY", 32),
    sampleMs: envInt("BENCH_SAMPLE_MS", 2000),
    rounds: envInt("BENCH_ROUNDS", 1),
    /** How long a variant's server sits idle (sampled) between ready and the first query. */
    idleMs: process.env.BENCH_IDLE_MS ? envInt("BENCH_IDLE_MS", 0) : 0,
    variants,
    /** Serve flags of the loading server (e.g. a small --segment-bytes, so a small store has sealed segments). */
    loadArgs: (process.env.BENCH_LOAD_ARGS ?? "").split(/\s+/).filter((a) => a !== ""),
    keep: process.env.BENCH_KEEP === "1",
  };
}
type Config = ReturnType<typeof readConfig>;

function table(rows: Sample[]): string {
  const cols = [
    "variant",
    "at",
    "queries",
    "rss_mb",
    "hwm_mb",
    "anon_mb",
    "file_mb",
    ...cacheGauges.map(([n]) => n).filter((n) => rows.some((r) => n in r)),
  ];
  const lines = [`| ${cols.join(" | ")} |`, `| ${cols.map(() => "---").join(" | ")} |`];
  for (const r of rows) lines.push(`| ${cols.map((c) => String(r[c] ?? "")).join(" | ")} |`);
  return lines.join("\n");
}

async function main() {
  const cfg = readConfig();
  if (cfg.records % (perPair * predicates.length) !== 0)
    throw new RangeError(`BENCH_RECORDS: a multiple of ${perPair * predicates.length}`);
  const pairs = cfg.records / perPair;
  const benchDir = path.resolve(import.meta.dir, "../.bench");
  fs.mkdirSync(benchDir, { recursive: true });
  const dataDir = fs.mkdtempSync(path.join(benchDir, "memory-"));
  const machine = {
    nproc: os.availableParallelism(),
    memory_gb: round(os.totalmem() / 2 ** 30),
    bun: Bun.version,
    loadavg_at_start: os.loadavg().map((x) => round(x, 2)),
  };
  log(
    `${cfg.records} assertions (${pairs / predicates.length} subjects × ${predicates.length} predicates × ${perPair}), ${cfg.queries} cold queries a variant at c=${cfg.concurrency}; load ${machine.loadavg_at_start.join(" ")}`,
  );
  const t = performance.now();
  const requests = await signAll(benchSeeds(agents), cfg.records, pairs);
  log(`signed in ${round((performance.now() - t) / 1000)} s`);
  const rows: Sample[] = [];
  const results: Array<Record<string, unknown>> = [];
  try {
    const loader = await start(dataDir, cfg.loadArgs, "load", cfg.variants[0]?.root);
    rows.push(await sample(loader, "load", "empty", 0));
    const loadS = await load(loader, requests, rows, cfg.sampleMs);
    requests.length = 0;
    rows.push(await sample(loader, "load", "after load", 0));
    log(`loaded in ${round(loadS)} s (${Math.round(cfg.records / loadS)}/s): ${JSON.stringify(rows.at(-1))}`);
    await stop(loader);
    const order = shuffled(pairs);
    for (let round_ = 0; round_ < cfg.rounds; round_++) {
      for (const v of cfg.variants) {
        const s = await start(dataDir, v.args, v.name, v.root);
        rows.push(await sample(s, v.name, "ready", 0));
        for (let idle = 0; idle < cfg.idleMs; idle += cfg.sampleMs) {
          await Bun.sleep(cfg.sampleMs);
          rows.push(await sample(s, v.name, "idle", 0));
        }
        const q = await coldQueries(s, v.name, cfg, pairs, order, rows);
        await Bun.sleep(cfg.sampleMs);
        rows.push(await sample(s, v.name, "end", cfg.queries));
        const mine = rows.filter((r) => r.variant === v.name && r.at !== "ready");
        const peak = Math.max(...mine.map((r) => r.hwm_mb));
        results.push({
          variant: v.name,
          round: round_ + 1,
          args: v.args.join(" "),
          queries_per_s: Math.round(cfg.queries / q.seconds),
          p99_ms: round(q.p99Ms),
          cpu_us_per_query: Math.round(q.cpuUs),
          event_loop_cpu_us_per_query: Math.round(q.mainCpuUs),
          failed: q.failed,
          rss_end_mb: rows.at(-1)?.rss_mb,
          peak_mb: peak,
          loadavg: os.loadavg().map((x) => round(x, 2)),
        });
        log(`${v.name}: ${JSON.stringify(results.at(-1))}`);
        await stop(s);
      }
    }
  } finally {
    if (!cfg.keep) fs.rmSync(dataDir, { recursive: true, force: true });
    for (const f of fs.readdirSync(benchDir))
      if (f.startsWith(`${path.basename(dataDir)}-`) && !cfg.keep) fs.rmSync(path.join(benchDir, f), { force: true });
  }
  const report = {
    machine: { ...machine, loadavg_at_end: os.loadavg().map((x) => round(x, 2)) },
    config: { ...cfg, pairs },
    results,
    samples: rows,
  };
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  fs.writeFileSync(path.join(benchDir, `memory-${stamp}.json`), `${JSON.stringify(report, null, 2)}\n`);
  console.log(table(rows));
  console.log();
  console.log(JSON.stringify({ machine: report.machine, results }, null, 2));
}

if (Bun.isMainThread) await main();
