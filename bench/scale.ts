/**
 * `make bench-scale`: the scale curve of issue 14 — one store grown step by step (the documented
 * run: 1M, 5M, 10M assertions), and at each size the ingest rate of that step, the server's RSS
 * after loading, the restart time and its peak RSS, cold consensus queries (rate, p50, p99) and
 * the RSS after them, and disk bytes per record. See bench/README.md ("Scale curve").
 *
 *   bun bench/scale.ts
 *
 * Settings (environment): BENCH_SIZES (store sizes in assertions, ascending, default
 * 200000,500000; multiples of 50), BENCH_QUERIES (cold queries at each size, distinct pairs,
 * default 20,000), BENCH_CONCURRENCY (32), BENCH_ARGS (serve flags of every server),
 * BENCH_CACHE (where signed requests are kept between runs, default .bench/scale-cache),
 * BENCH_KEEP=1 keeps the data dir, BENCH_SIGN_ONLY=1 signs (into the cache) and stops.
 *
 * The data set is bench/claims.ts's (the shape); a step adds the pairs the new size
 * needs, all 10 assertions of each. Every step's requests are signed on worker threads before
 * anything is timed, and cached on disk (a 10M run signs ≈ 3 GB of requests once).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { batchSize, host, pairKey, perPair, predicates, readRequests, shuffled, signCached, sourcesRequest } from "./claims.ts";
import { encodeRequest, RawConnection } from "./http.ts";
import { diskBytes, envInt, mb, metrics, round, type Server, start, stop, vm, waitIndexed } from "./serve-proc.ts";

const log = (msg: string) => console.error(`[bench-scale ${new Date().toISOString().slice(11, 19)}] ${msg}`);
const loadavg = () => os.loadavg().map((x) => round(x, 2));

function readConfig() {
  const sizes = (process.env.BENCH_SIZES ?? "200000,500000").split(",").map((s) => Number(s.trim()));
  const unit = perPair * predicates.length;
  sizes.forEach((n, i) => {
    if (!Number.isInteger(n) || n <= 0 || n % unit !== 0)
      throw new RangeError(`BENCH_SIZES: ${n} is not a positive multiple of ${unit}`);
    if (i > 0 && n <= (sizes[i - 1] as number)) throw new RangeError("BENCH_SIZES: sizes must ascend");
  });
  return {
    sizes,
    queries: envInt("BENCH_QUERIES", 20_000),
    concurrency: envInt("BENCH_CONCURRENCY", 32),
    args: (process.env.BENCH_ARGS ?? "").split(/\s+/).filter((a) => a !== ""),
    cache: path.resolve(process.env.BENCH_CACHE ?? path.join(import.meta.dir, "../.bench/scale-cache")),
    keep: process.env.BENCH_KEEP === "1",
    signOnly: process.env.BENCH_SIGN_ONLY === "1",
  };
}
type Config = ReturnType<typeof readConfig>;

/**
 * Sends the requests of `files`, 4 connections, one request in flight on each; returns the
 * seconds until indexed and how often the server shed a request (`503 overloaded`: it sheds
 * writes when fdatasync is slow, as on a shared disk): such a request is sent again after its
 * Retry-After, as a client would, and the wait counts in the time.
 */
async function load(s: Server, files: string[], first: boolean): Promise<{ seconds: number; shed: number }> {
  const requests = files.flatMap(readRequests); // read before the clock starts
  const conns = await Promise.all(Array.from({ length: 4 }, () => RawConnection.open(host, s.port)));
  if (first) {
    const src = await (conns[0] as RawConnection).request(sourcesRequest());
    if (src.status !== 200) throw new Error(`sources: ${src.status} ${src.body.toString().slice(0, 300)}`);
  }
  const t0 = performance.now();
  let next = 0;
  let shed = 0;
  await Promise.all(
    conns.map(async (c) => {
      while (next < requests.length) {
        const req = requests[next++] as Uint8Array;
        for (;;) {
          const res = await c.request(req);
          if (res.status === 200) break;
          const problem = JSON.parse(res.body.toString()) as { code?: string; retry_after_s?: number };
          if (res.status !== 503 || problem.code !== "overloaded")
            throw new Error(`load: ${res.status} ${res.body.toString().slice(0, 300)}`);
          shed++;
          await Bun.sleep(1000 * (problem.retry_after_s ?? 1));
        }
      }
    }),
  );
  for (const c of conns) c.close();
  await waitIndexed(s);
  return { seconds: (performance.now() - t0) / 1000, shed };
}

/**
 * Stops the server (SIGTERM, a clean stop; or SIGKILL, a crash), starts it again and times
 * spawn → `/v1/ready` answering 200.
 */
async function restart(s: Server, dataDir: string, cfg: Config, name: string, how: "stop" | "kill" = "stop") {
  if (how === "stop") await stop(s);
  else {
    s.proc.kill("SIGKILL");
    await s.proc.exited;
  }
  const t0 = performance.now();
  const next = await start(dataDir, cfg.args, name, { readyPath: "/v1/ready", pollMs: 10, logLevel: "info" });
  const seconds = (performance.now() - t0) / 1000;
  const at = vm(next.proc.pid);
  return { server: next, seconds, ready: at, phases: startupPhases(`${dataDir}-${name}.err`) };
}

/** What the server logged about start-up with a duration (`ms`): the id table, replay, … */
function startupPhases(file: string): Record<string, number> {
  const out: Record<string, number> = {};
  if (!fs.existsSync(file)) return out;
  for (const line of fs.readFileSync(file, "utf8").split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      const e = JSON.parse(line) as Record<string, unknown>;
      if (typeof e.msg !== "string") continue;
      for (const [k, v] of Object.entries(e)) if (k.endsWith("ms") && typeof v === "number") out[`${e.msg} ${k}`] = v;
    } catch {}
  }
  return out;
}

/** `count` cold consensus queries over distinct pairs, `concurrency` at a time. */
async function coldQueries(s: Server, pairs: number, count: number, concurrency: number) {
  const order = shuffled(pairs);
  const conns = await Promise.all(Array.from({ length: concurrency }, () => RawConnection.open(host, s.port)));
  const latency = new Float64Array(count);
  let next = 0;
  let failed = 0;
  const t0 = performance.now();
  await Promise.all(
    conns.map(async (c) => {
      while (next < count) {
        const k = next++;
        const { subject, predicate } = pairKey(order[k] as number);
        const req = encodeRequest(
          "GET",
          `/v1/query?subject=${encodeURIComponent(subject)}&predicate=${predicate}&lens=consensus`,
          host,
          "application/json",
          "",
        );
        const t = performance.now();
        const res = await c.request(req);
        latency[k] = performance.now() - t;
        if (res.status !== 200) failed++;
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  for (const c of conns) c.close();
  latency.sort();
  const pct = (p: number) => round(latency[Math.min(count - 1, Math.floor(count * p))] as number, 2);
  return { per_s: Math.round(count / seconds), p50_ms: pct(0.5), p99_ms: pct(0.99), failed };
}

async function heapMb(s: Server): Promise<number> {
  return mb((await metrics(s)).get("nodejs_heap_size_used_bytes"));
}

function table(rows: Array<Record<string, unknown>>): string {
  const cols = Object.keys(rows[0] ?? {}).filter((c) => typeof rows[0]?.[c] !== "object");
  const lines = [`| ${cols.join(" | ")} |`, `| ${cols.map(() => "---:").join(" | ")} |`];
  for (const r of rows) lines.push(`| ${cols.map((c) => String(r[c] ?? "")).join(" | ")} |`);
  return lines.join("\n");
}

/** One step: grow the store from `from` to `to` assertions and measure it there. */
async function step(s: Server, dataDir: string, cfg: Config, from: number, to: number, files: string[]) {
  const uptimeBefore = loadavg();
  const { seconds: loadS, shed } = await load(s, files, from === 0);
  const loaded = { ...vm(s.proc.pid), heap_mb: await heapMb(s) };
  log(`${to}: loaded ${to - from} in ${round(loadS)} s (${Math.round((to - from) / loadS)}/s), ${JSON.stringify(loaded)}`);
  const r = await restart(s, dataDir, cfg, `n${to}`);
  log(`${to}: restarted in ${round(r.seconds, 2)} s, ${JSON.stringify(r.ready)} ${JSON.stringify(r.phases)}`);
  const pairs = to / perPair;
  const q = await coldQueries(r.server, pairs, Math.min(cfg.queries, pairs), cfg.concurrency);
  await Bun.sleep(1000);
  const after = { ...vm(r.server.proc.pid), heap_mb: await heapMb(r.server) };
  const disk = diskBytes(dataDir);
  // A crash restart: no id table file (the table is built from the index), recovery, replay.
  const k = await restart(r.server, dataDir, cfg, `n${to}-kill`, "kill");
  log(`${to}: restarted after SIGKILL in ${round(k.seconds, 2)} s, ${JSON.stringify(k.ready)} ${JSON.stringify(k.phases)}`);
  const row = {
    assertions: to,
    ingest_per_s: Math.round((to - from) / loadS),
    shed_requests: shed,
    rss_after_load_mb: loaded.rss_mb,
    restart_s: round(r.seconds, 2),
    restart_peak_mb: r.ready.hwm_mb,
    rss_ready_mb: r.ready.rss_mb,
    cold_per_s: q.per_s,
    cold_p50_ms: q.p50_ms,
    cold_p99_ms: q.p99_ms,
    failed: q.failed,
    rss_after_queries_mb: after.rss_mb,
    anon_after_queries_mb: after.anon_mb,
    peak_mb: after.hwm_mb,
    disk_bytes_per_record: Math.round(disk / to),
    restart_after_kill_s: round(k.seconds, 2),
    kill_restart_peak_mb: k.ready.hwm_mb,
    loadavg_before: uptimeBefore.join(" "),
    loadavg_after: loadavg().join(" "),
    detail: {
      loaded,
      ready: r.ready,
      after,
      startup_phases: r.phases,
      disk_bytes: disk,
      queries: q,
      kill_ready: k.ready,
      kill_startup_phases: k.phases,
    },
  };
  log(`${to}: ${JSON.stringify(row)}`);
  return { server: k.server, row };
}

async function main() {
  const cfg = readConfig();
  const benchDir = path.resolve(import.meta.dir, "../.bench");
  fs.mkdirSync(benchDir, { recursive: true });
  const machine = {
    nproc: os.availableParallelism(),
    memory_gb: round(os.totalmem() / 2 ** 30),
    bun: Bun.version,
    loadavg_at_start: loadavg(),
  };
  log(
    `sizes ${cfg.sizes.join(", ")}; ${cfg.queries} cold queries at c=${cfg.concurrency}; load ${machine.loadavg_at_start.join(" ")}`,
  );
  const t = performance.now();
  const steps: Array<{ from: number; to: number; files: string[] }> = [];
  let from = 0;
  for (const to of cfg.sizes) {
    const files = await signCached(cfg.cache, to - from, (to - from) / perPair, from / perPair);
    steps.push({ from, to, files });
    from = to;
  }
  log(`requests ready (signed or cached) in ${round((performance.now() - t) / 1000)} s, ${batchSize} a request`);
  if (cfg.signOnly) return;
  const runDir = fs.mkdtempSync(path.join(benchDir, "scale-"));
  const dataDir = path.join(runDir, "data");
  const rows: Array<Record<string, unknown>> = [];
  let s = await start(dataDir, cfg.args, "n0");
  try {
    for (const st of steps) {
      const r = await step(s, dataDir, cfg, st.from, st.to, st.files);
      s = r.server;
      rows.push(r.row);
    }
  } finally {
    await stop(s);
    if (!cfg.keep) fs.rmSync(runDir, { recursive: true, force: true });
  }
  const report = { machine: { ...machine, loadavg_at_end: loadavg() }, config: cfg, rows };
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  fs.writeFileSync(path.join(benchDir, `scale-${stamp}.json`), `${JSON.stringify(report, null, 2)}\n`);
  console.log(table(rows));
  console.log();
  console.log(JSON.stringify(report.machine));
}

if (Bun.isMainThread) await main();
