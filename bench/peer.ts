/**
 * `make bench-peer` (issue 14 item 4): StemeDB against "a table in PostgreSQL and a small
 * service that verifies signatures" (bench/peer/service.ts), side by side on this machine.
 * See bench/README.md for what it does and what each figure means.
 *
 *   bun bench/peer.ts
 *
 * Environment: BENCH_RECORDS (200000), BENCH_PER_PAIR (10), BENCH_KEYS (1000),
 * BENCH_SINGLE_RECORDS (60000), BENCH_SECONDS (10), BENCH_ROUNDS (2), BENCH_SAMPLE (250),
 * BENCH_PEER_POOL (16 connections per service process), BENCH_PG_SHARED_BUFFERS (512MB),
 * BENCH_KEEP=1 (keep .bench/peer-<date>/).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { RawConnection } from "./http.ts";
import { benchSeeds } from "./records.ts";
import { expectedConsensus, type Layout, layoutFor, queryRequest, type Signed, signParallel } from "./peer/data.ts";
import { mix32 } from "./records.ts";
import { drive, judgeBatch, judgeQuery, judgeSingle, MemorySampler, type PhaseResult, round } from "./peer/load.ts";
import { initCluster, type Pg, settingsOf, startPg, stopPg } from "./peer/pg.ts";
import { freePort, running, startPeer, startStemeDB, type Target } from "./peer/targets.ts";
import { report, type RunResult, writeResults } from "./peer/report.ts";

const log = (msg: string) => console.error(`[bench-peer] ${msg}`);

function num(env: string, dflt: number): number {
  const raw = process.env[env];
  const n = raw === undefined || raw === "" ? dflt : Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new RangeError(`${env}: expected a positive number, got ${raw}`);
  return Math.floor(n);
}

export function readConfig() {
  return {
    records: num("BENCH_RECORDS", 200_000),
    perPair: num("BENCH_PER_PAIR", 10),
    keys: num("BENCH_KEYS", 1000),
    singles: num("BENCH_SINGLE_RECORDS", 60_000),
    seconds: num("BENCH_SECONDS", 10),
    rounds: num("BENCH_ROUNDS", 2),
    sample: num("BENCH_SAMPLE", 250),
    pool: num("BENCH_PEER_POOL", 16),
    keep: process.env.BENCH_KEEP === "1",
    batchConcurrency: 4,
    singleConcurrency: 64,
    queryConcurrency: 32,
  };
}
export type Config = ReturnType<typeof readConfig>;

/** A seeded shuffle of 0..n-1 (mulberry32), so both servers are asked the same pairs in the same order. */
function shuffled(n: number, seed: number): Uint32Array {
  const out = Uint32Array.from({ length: n }, (_, i) => i);
  let a = seed >>> 0;
  for (let i = n - 1; i > 0; i--) {
    a = (a + 0x6d2b79f5) >>> 0;
    const j = mix32(a) % (i + 1);
    const t = out[i] as number;
    out[i] = out[j] as number;
    out[j] = t;
  }
  return out;
}

export interface Prepared {
  L: Layout;
  load: Signed;
  singles: Signed;
  /** Cold queries: every pair once, in a fixed random order. */
  queries: Uint8Array[];
  /** Contested pairs (two or more camps after one agent, one voice) for the cross-check. */
  sample: number[];
  signSeconds: number;
}

async function prepare(cfg: Config): Promise<Prepared> {
  const L = layoutFor(cfg.records, cfg.perPair, cfg.keys, cfg.singles);
  const seeds = benchSeeds(cfg.keys, "stemedb-bench-peer");
  const threads = os.availableParallelism();
  const t = performance.now();
  const load = await signParallel({ seeds, layout: L, kind: "load", perRequest: 1000 }, 0, L.records, threads);
  const singles = await signParallel({ seeds, layout: L, kind: "single", perRequest: 1 }, 0, L.singles, threads);
  const signSeconds = round((performance.now() - t) / 1000, 1);
  const order = shuffled(L.pairs, 0x5eed);
  const sample: number[] = [];
  for (const p of shuffled(L.pairs, 0xc4ec)) {
    if (sample.length >= cfg.sample) break;
    if (expectedConsensus(p, L).camps >= 2) sample.push(p);
  }
  log(
    `signed ${L.records + L.singles} records (${cfg.keys} agents) in ${signSeconds} s; ${L.pairs} pairs, ${sample.length} contested sampled`,
  );
  return { L, load, singles, queries: Array.from(order, queryRequest), sample, signSeconds };
}

/** Each sampled pair's winner (value and id) as a server answers it. */
async function answersOf(t: Target, sample: number[]): Promise<Array<{ value: unknown; id: string | null }>> {
  const conns = await Promise.all(
    Array.from({ length: 8 }, (_, i) => RawConnection.open("127.0.0.1", t.ports[i % t.ports.length] as number)),
  );
  const out: Array<{ value: unknown; id: string | null }> = new Array(sample.length);
  let next = 0;
  await Promise.all(
    conns.map(async (c) => {
      while (next < sample.length) {
        const i = next++;
        const res = await c.request(queryRequest(sample[i] as number));
        if (res.status !== 200)
          throw new Error(`${t.name}: cross-check query answered ${res.status}: ${res.body.toString().slice(0, 300)}`);
        const a = JSON.parse(res.body.toString("utf8")) as { value: unknown; winner: { id: string } | null };
        out[i] = { value: a.value, id: a.winner?.id ?? null };
      }
    }),
  );
  for (const c of conns) c.close();
  return out;
}

/**
 * Before anything is timed: a record whose signature has one bit flipped must be refused (so
 * the server really verifies), and nothing of it stored.
 */
async function sanity(t: Target, data: Prepared): Promise<string[]> {
  const good = data.singles.requests[0] as Uint8Array;
  const bad = good.slice();
  bad[bad.length - 1] = (bad[bad.length - 1] as number) ^ 1; // the last byte of the CBOR {body, sig} is the signature's
  const conn = await RawConnection.open("127.0.0.1", t.ports[0] as number);
  const res = await conn.request(bad);
  conn.close();
  return res.status >= 400 && res.status < 500 ? [] : [`${t.name}: a tampered signature was answered ${res.status}, not 4xx`];
}

async function oneRun(cfg: Config, data: Prepared, t: Target, round_: number): Promise<RunResult> {
  const problems = await sanity(t, data);
  const mem = new MemorySampler(t.pids);
  mem.start();
  const load0 = os.loadavg();
  log(`${t.name} run ${round_}: batch ingest of ${data.L.records} records`);
  const batch = await drive(t.ports, t.pids, {
    requests: data.load.requests,
    concurrency: cfg.batchConcurrency,
    seconds: 3600,
    judge: judgeBatch,
  });
  const settleSeconds = await t.settle();
  const memAfterLoad = mem.sample();
  log(`${t.name}: ${batch.per_s}/s batch (reads caught up ${settleSeconds} s later); single-record ingest`);
  const single = await drive(t.ports, t.pids, {
    requests: data.singles.requests,
    concurrency: cfg.singleConcurrency,
    seconds: cfg.seconds,
    judge: judgeSingle,
  });
  await t.settle();
  log(`${t.name}: ${single.per_s}/s single; cold consensus queries`);
  const cold = await drive(t.ports, t.pids, {
    requests: data.queries,
    concurrency: cfg.queryConcurrency,
    seconds: cfg.seconds,
    judge: judgeQuery(50),
  });
  log(`${t.name}: ${cold.per_s}/s cold queries, p99 ${cold.p99_ms} ms; cross-check answers`);
  const answers = await answersOf(t, data.sample);
  mem.stop();
  let disk = t.name === "PostgreSQL" ? await t.disk() : null;
  problems.push(...(await t.stop()));
  disk ??= await t.disk();
  for (const [what, r] of Object.entries({ batch, single, cold }) as Array<[string, PhaseResult]>)
    if (r.errors.length > 0) problems.push(`${t.name} ${what}: ${r.errors.join(" | ")}`);
  if (batch.records !== data.L.records)
    problems.push(`${t.name}: batch ingest acknowledged ${batch.records} of ${data.L.records} records`);
  return {
    target: t.name,
    round: round_,
    loadavg_before: load0.map((x) => round(x, 2)),
    loadavg_after: os.loadavg().map((x) => round(x, 2)),
    batch,
    settle_seconds: settleSeconds,
    single,
    cold,
    disk: { ...disk, bytes_per_record: Math.round(disk.bytes / Math.max(1, disk.records)) },
    memory: {
      after_load_rss_mb: round(memAfterLoad.rss / 2 ** 20),
      after_load_pss_mb: round(memAfterLoad.pss / 2 ** 20),
      peak_rss_mb: round(mem.peakRss / 2 ** 20),
      peak_pss_mb: round(mem.peakPss / 2 ** 20),
    },
    answers,
    problems,
  };
}

/** The PostgreSQL server running now, stopped on any failure or interrupt. */
const live: { pg: Pg | null } = { pg: null };

async function cleanUp(): Promise<void> {
  for (const p of running) p.kill("SIGKILL");
  if (live.pg) await stopPg(live.pg);
  live.pg = null;
}

async function main(): Promise<number> {
  const cfg = readConfig();
  const root = path.resolve(import.meta.dir, "..");
  const started = new Date();
  const stamp = started.toISOString().replace(/[:.]/g, "-").replace(/Z$/, "");
  const runDir = path.join(root, ".bench", `peer-${stamp}`);
  fs.mkdirSync(runDir, { recursive: true });
  const data = await prepare(cfg);
  initCluster(path.join(runDir, "pg"));
  const runs: RunResult[] = [];
  let pgSettings: Record<string, string> = {};
  try {
    for (let r = 1; r <= cfg.rounds; r++) {
      runs.push(await oneRun(cfg, data, await startStemeDB(runDir), r));
      const pg = await startPg(path.join(runDir, "pg"), await freePort());
      live.pg = pg;
      pgSettings = await settingsOf(pg);
      runs.push(await oneRun(cfg, data, await startPeer(runDir, pg, cfg.pool), r));
      await stopPg(pg);
      live.pg = null;
    }
  } finally {
    await cleanUp();
  }
  const summary = report(cfg, data, runs, { started, pgSettings });
  const outFile = writeResults(root, stamp, {
    config: cfg,
    pg_settings: pgSettings,
    runs,
    summary,
    sign_seconds: data.signSeconds,
  });
  if (!cfg.keep) fs.rmSync(runDir, { recursive: true, force: true });
  console.log(`results: ${path.relative(process.cwd(), outFile)}`);
  const problems = [...runs.flatMap((r) => r.problems), ...summary.problems];
  if (problems.length > 0) {
    console.log("\nPROBLEMS (the figures above are not trustworthy):");
    for (const p of problems) console.log(`  - ${p}`);
    return 1;
  }
  return 0;
}

if (import.meta.main) {
  for (const signal of ["SIGINT", "SIGTERM"] as const)
    process.on(signal, async () => {
      await cleanUp();
      process.exit(130);
    });
  process.exitCode = await main();
}
