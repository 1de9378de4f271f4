/**
 * `make bench-query`: lens queries over HTTP against the real server (a separate process, on
 * loopback) holding a realistic data set, and ingest while queries run (issue 3). See
 * bench/README.md for what each number means.
 *
 *   bun bench/query.ts [--assertions N] [--subjects N] [--seconds S] [--latency-seconds S]
 *                      [--concurrency C] [--keys K] [--hot-keys H] [--ingest-records N]
 *                      [--lenses a,b] [--server-root DIR] [--profile]
 *
 * Every flag also reads an environment variable: BENCH_ASSERTIONS, BENCH_SUBJECTS,
 * BENCH_SECONDS, BENCH_LATENCY_SECONDS, BENCH_CONCURRENCY, BENCH_KEYS, BENCH_HOT_KEYS,
 * BENCH_INGEST_RECORDS, BENCH_LENSES, BENCH_SERVER_ROOT, BENCH_PROFILE=1; BENCH_KEEP=1 keeps
 * the data dir.
 *
 * The data set: 2 predicates per subject, `assertions / (2 × subjects)` assertions per
 * (subject, predicate) pair from as many distinct agents, 1 pair in 5 with a dissenting camp
 * (a different number), 10 registered sources of tiers 1–5 cited by most assertions. The
 * records are built, hashed and signed before anything is timed, on worker threads running
 * this same file.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import type { Subprocess } from "bun";
import { encode as encodeCbor } from "cbor-x";
import { validateRecord } from "../src/core/record.ts";
import { recordId } from "../src/crypto/hash.ts";
import { encodeBody } from "../src/crypto/signed.ts";
import { encodeRequest, RawConnection, type RawResponse } from "./http.ts";
import { type BenchKey, benchSeeds, keyFromSeed, mix32 } from "./records.ts";

// ---------- the data set (shared by the main thread and the signing workers) ----------

const predicateNames = ["risk_pct", "dose_mg"] as const;
const sourceCount = 10;
/** One pair in `conflictEvery` has a dissenting camp. */
const conflictEvery = 5;
const host = "127.0.0.1";

interface Layout {
  subjects: number;
  pairs: number;
  /** Assertions per pair in the load (the last round may be partial). */
  perPair: number;
  loadRecords: number;
  keys: number;
  /** Stated time of load record 0; record n states tsBase + n, ingest record m tsBase + loadRecords + m. */
  tsBase: number;
  /** Pairs read by the hot scenarios; a share of the ingest records updates them. */
  hot: Uint32Array;
}

interface PairKey {
  subject: string;
  predicate: string;
}

function pairKey(pair: number): PairKey {
  return {
    subject: `bench/q/drug/d${Math.floor(pair / predicateNames.length)}`,
    predicate: predicateNames[pair % predicateNames.length] as string,
  };
}

const sourceId = (i: number) => `bench-src-${i}`;
const sourceTier = (i: number) => 1 + (i % 5);

/** Distinct agents for the assertions of one pair (while perPair ≤ keys). */
function agentOf(pair: number, j: number, L: Layout): number {
  const stride = Math.max(1, Math.floor(L.keys / L.perPair));
  return (pair * 7 + j * stride) % L.keys;
}

/** The pair's number; dissenters (the last ~40 % of its agents, on 1 pair in 5) say twice as much. */
function claimedValue(pair: number, j: number, L: Layout): number {
  const base = 10 + (pair % 90);
  const dissent = pair % conflictEvery === 0 && j >= Math.ceil(L.perPair * 0.6);
  return dissent ? base * 2 : base;
}

function isConflictPair(pair: number): boolean {
  return pair % conflictEvery === 0;
}

function assertionFields(pair: number, j: number, ts: number, L: Layout, agentHex: string[], confidenceStep: number) {
  const { subject, predicate } = pairKey(pair);
  const s = (pair + j) % 6;
  const agent = agentOf(pair, j, L);
  const fields = {
    v: 1,
    kind: "assertion",
    agent: agentHex[agent],
    ts,
    subject,
    predicate,
    object: claimedValue(pair, j, L),
    confidence: Math.round((0.5 + 0.1 * ((pair + j + confidenceStep) % 5)) * 100) / 100,
    // One assertion in six cites no source (tier 6 for the authority lens).
    ...(s === 5 ? {} : { source: sourceId((pair * 3 + j) % sourceCount) }),
  };
  return { fields, agent };
}

/**
 * Load record n: pair n mod pairs, its j-th agent (j = n div pairs), so a batch spreads over
 * many subjects as independent agents' submissions would. Ingest record m: an update by one of
 * the pair's agents (so a pair keeps perPair candidates), to a hot pair with probability
 * hotShare, else to a pair outside the hot set.
 */
function recordFields(kind: "load" | "ingest", n: number, L: Layout, agentHex: string[], hotShare: number, hot: Set<number>) {
  if (kind === "load") return assertionFields(n % L.pairs, Math.floor(n / L.pairs), L.tsBase + n, L, agentHex, 0);
  let pair = mix32(n * 2) % L.pairs;
  if (mix32(n * 2 + 1) / 2 ** 32 < hotShare) pair = L.hot[mix32(n) % L.hot.length] as number;
  else for (let k = 1; hot.has(pair) && k < 64; k++) pair = mix32(n * 2 + k * 0x10001) % L.pairs;
  const j = mix32(n * 3 + 7) % L.perPair;
  return assertionFields(pair, j, L.tsBase + L.loadRecords + n, L, agentHex, 1 + (n % 4));
}

interface SignJob {
  seeds: Uint8Array[];
  layout: Layout;
  kind: "load" | "ingest";
  from: number;
  to: number;
  batchSize: number;
  /** Share of ingest records that update a hot pair. */
  hotShare: number;
}

interface SignedBatches {
  /** Whole HTTP requests: POST /v1/assert/batch with a CBOR body `{records: [{body, sig}]}`. */
  requests: Uint8Array[];
  records: number[];
}

function signBatches(job: SignJob): SignedBatches {
  const keys = job.seeds.map(keyFromSeed);
  const agentHex = keys.map((k) => Buffer.from(k.publicKey).toString("hex"));
  const out: SignedBatches = { requests: [], records: [] };
  const hot = new Set(job.layout.hot);
  for (let s = job.from; s < job.to; s += job.batchSize) {
    const e = Math.min(job.to, s + job.batchSize);
    const records: Array<{ body: Uint8Array; sig: Uint8Array }> = [];
    for (let n = s; n < e; n++) {
      const { fields, agent } = recordFields(job.kind, n, job.layout, agentHex, job.hotShare, hot);
      records.push(signFields(fields, keys[agent] as BenchKey));
    }
    out.requests.push(cborBatchRequest(records));
    out.records.push(e - s);
  }
  return out;
}

function signFields(fields: object, key: BenchKey): { body: Uint8Array; sig: Uint8Array } {
  const body = encodeBody(validateRecord(fields, "json"));
  return { body, sig: new Uint8Array(crypto.sign(null, recordId(body), key.privateKey)) };
}

function cborBatchRequest(records: Array<{ body: Uint8Array; sig: Uint8Array }>): Uint8Array {
  return encodeRequest("POST", "/v1/assert/batch", host, "application/cbor", new Uint8Array(encodeCbor({ records })));
}

// ---------- worker mode: this file signs a slice when started as a Worker ----------

if (!Bun.isMainThread) {
  const scope = globalThis as unknown as Worker;
  scope.onmessage = (e: MessageEvent<SignJob>) => {
    const out = signBatches(e.data);
    scope.postMessage(out, out.requests.map((r) => r.buffer) as Bun.Transferable[]);
  };
}

async function signParallel(job: Omit<SignJob, "from" | "to">, from: number, to: number, threads: number) {
  const batches = Math.ceil((to - from) / job.batchSize);
  const perThread = Math.ceil(batches / threads) * job.batchSize;
  const parts = await Promise.all(
    Array.from({ length: threads }, (_, t) => {
      const s = from + t * perThread;
      const e = Math.min(to, s + perThread);
      if (s >= e) return Promise.resolve<SignedBatches>({ requests: [], records: [] });
      return new Promise<SignedBatches>((resolve, reject) => {
        const worker = new Worker(import.meta.url);
        worker.onmessage = (m: MessageEvent<SignedBatches>) => {
          resolve(m.data);
          worker.terminate();
        };
        worker.onerror = (err) => reject(new Error(`sign worker failed: ${err.message}`));
        worker.postMessage({ ...job, from: s, to: e } satisfies SignJob);
      });
    }),
  );
  return { requests: parts.flatMap((p) => p.requests), records: parts.flatMap((p) => p.records) };
}

// ---------- configuration ----------

const allLenses = ["recency", "consensus", "vote", "authority", "trust", "skeptic", "layered"];
const multiLenses = ["authority", "consensus", "skeptic"];
const hotLenses = ["consensus", "authority"];
const goals = { coldP99Ms: 5, coldQueriesPerSec: 5_000, hotQueriesPerSec: 40_000, ingestSlowdownPctMax: 20 };

function readConfig() {
  const { values: flags } = parseArgs({
    args: process.argv.slice(2),
    options: {
      assertions: { type: "string" },
      subjects: { type: "string" },
      seconds: { type: "string" },
      "latency-seconds": { type: "string" },
      concurrency: { type: "string" },
      keys: { type: "string" },
      "hot-keys": { type: "string" },
      "ingest-records": { type: "string" },
      lenses: { type: "string" },
      "server-root": { type: "string" },
      profile: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (flags.help) {
    console.log(
      "usage: bun bench/query.ts [--assertions N] [--subjects N] [--seconds S] [--latency-seconds S] [--concurrency C] [--keys K] [--hot-keys H] [--ingest-records N] [--lenses LIST] [--server-root DIR] [--profile]",
    );
    process.exit(0);
  }
  const num = (flag: string | undefined, env: string, dflt: number, zeroOk = false): number => {
    const raw = flag ?? process.env[env];
    const n = raw === undefined || raw === "" ? dflt : Number(raw);
    if (!Number.isFinite(n) || n < 0 || (n === 0 && !zeroOk))
      throw new RangeError(`${env}: expected a ${zeroOk ? "non-negative" : "positive"} number, got ${raw}`);
    return n;
  };
  const cfg = {
    assertions: Math.floor(num(flags.assertions, "BENCH_ASSERTIONS", 1_000_000)),
    subjects: Math.floor(num(flags.subjects, "BENCH_SUBJECTS", 100_000)),
    seconds: num(flags.seconds, "BENCH_SECONDS", 10),
    latencySeconds: num(flags["latency-seconds"], "BENCH_LATENCY_SECONDS", 3, true),
    concurrency: Math.floor(num(flags.concurrency, "BENCH_CONCURRENCY", 32)),
    keys: Math.floor(num(flags.keys, "BENCH_KEYS", 1000)),
    hotKeys: Math.floor(num(flags["hot-keys"], "BENCH_HOT_KEYS", 1000)),
    ingestRecords: Math.floor(num(flags["ingest-records"], "BENCH_INGEST_RECORDS", 150_000)),
    lenses: (flags.lenses ?? process.env.BENCH_LENSES ?? allLenses.join(",")).split(",").map((s) => s.trim()),
    /** The source tree whose `src/main.ts` is benchmarked (default: this one), e.g. another build to compare. */
    serverRoot: path.resolve(flags["server-root"] ?? process.env.BENCH_SERVER_ROOT ?? path.join(import.meta.dir, "..")),
    profile: flags.profile === true || process.env.BENCH_PROFILE === "1",
    keep: process.env.BENCH_KEEP === "1",
    loadBatch: 5000,
    loadConcurrency: 4,
    ingestBatch: 1000,
    ingestConcurrency: 4,
    /** Connections that read hot keys while the ingest-with-queries phase runs. */
    ingestQueryConcurrency: Math.floor(num(undefined, "BENCH_INGEST_QUERY_CONCURRENCY", 8)),
    /** Share of the ingest phases' records that update a hot pair (whose views exist). */
    hotShare: num(undefined, "BENCH_HOT_SHARE", 0.1, true),
    /** One answer in this many is parsed and checked. */
    checkEvery: 50,
  };
  for (const l of cfg.lenses) if (!allLenses.includes(l)) throw new RangeError(`--lenses: unknown lens "${l}"`);
  if (cfg.assertions < cfg.subjects * predicateNames.length)
    throw new RangeError("--assertions: at least one assertion per (subject, predicate) pair, i.e. 2 × --subjects");
  if (cfg.hotKeys > cfg.subjects * predicateNames.length) throw new RangeError("--hot-keys: at most 2 × --subjects");
  return cfg;
}
type Config = ReturnType<typeof readConfig>;

// ---------- small helpers ----------

const log = (msg: string) => console.error(`[bench-query] ${msg}`);
const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
const sh = (cmd: string[]): string => Bun.spawnSync(cmd, { stdout: "pipe", stderr: "ignore" }).stdout.toString().trim();
const clkTck = Number(sh(["getconf", "CLK_TCK"])) || 100;

function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}

/** A seeded PRNG (mulberry32) for the walk order, so runs are comparable. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

function shuffled(n: number, seed: number): Uint32Array {
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  const rand = prng(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = out[i] as number;
    out[i] = out[j] as number;
    out[j] = t;
  }
  return out;
}

function machineInfo(dataRoot: string) {
  const cpuinfo = fs.readFileSync("/proc/cpuinfo", "utf8");
  const memKb = Number(/MemTotal:\s*(\d+)/.exec(fs.readFileSync("/proc/meminfo", "utf8"))?.[1] ?? 0);
  return {
    nproc: os.availableParallelism(),
    cpu_model: /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? os.cpus()[0]?.model ?? "unknown",
    memory_gb: round(memKb / 1024 / 1024, 1),
    kernel: `${os.type()} ${os.release()}`,
    bun: Bun.version,
    data_dir: dataRoot,
    data_dir_fs: sh(["df", "--output=fstype", dataRoot]).split("\n")[1]?.trim() ?? "",
    loadavg_at_start: os.loadavg().map((x) => round(x, 2)),
  };
}

/** utime+stime (seconds) of a process, from /proc. */
function cpuSeconds(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / clkTck;
  } catch {
    return Number.NaN;
  }
}

function rssMb(pid: number): number {
  try {
    const kb = Number(/VmRSS:\s*(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
    return round(kb / 1024, 1);
  } catch {
    return Number.NaN;
  }
}

/** Server and load-generator CPU over a measured window, in cores. */
function cpuMeter(pid: number) {
  const srv0 = cpuSeconds(pid);
  const gen0 = process.cpuUsage();
  const t0 = performance.now();
  return () => {
    const s = (performance.now() - t0) / 1000;
    const gen = process.cpuUsage(gen0);
    return {
      server_cores: round((cpuSeconds(pid) - srv0) / s, 2),
      loadgen_cores: round((gen.user + gen.system) / 1e6 / s, 2),
    };
  };
}

// ---------- the server process ----------

interface ServerProc {
  proc: Subprocess;
  pid: number;
  port: number;
  url: string;
  errFile: string;
}

async function freePort(): Promise<number> {
  const l = Bun.listen({ hostname: host, port: 0, socket: { data() {} } });
  const port = l.port;
  l.stop(true);
  return port;
}

/** Whether this build's `serve` takes `--views-max` (the materialized-view cache bound). */
function serverHasViewsFlag(root: string): boolean {
  return sh([process.execPath, path.join(root, "src/main.ts"), "serve", "--help"]).includes("--views-max");
}

/** Servers started and not yet stopped, killed if the run fails. */
const running = new Set<ServerProc>();

async function startServer(
  root: string,
  dataDir: string,
  name: string,
  extraArgs: string[],
  profileDir: string | null,
): Promise<ServerProc> {
  const port = await freePort();
  const args = [process.execPath];
  if (profileDir) args.push("--cpu-prof-md", `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=server-${name}.md`);
  args.push(path.join(root, "src/main.ts"), "serve", "--data-dir", dataDir, "--bind", `${host}:${port}`, ...extraArgs);
  // One load generator on one address would drain the per-address token buckets: this bench
  // measures the engine, and the door's cost is bench/guard.ts's.
  if (sh([process.execPath, path.join(root, "src/main.ts"), "serve", "--help"]).includes("--rate-read"))
    args.push("--rate-read", "0", "--rate-write", "0");
  const errFile = `${dataDir}-${name}.err`;
  const proc = Bun.spawn(args, {
    cwd: root,
    stdout: Bun.file(`${dataDir}-${name}.log`),
    stderr: Bun.file(errFile),
    env: { ...process.env, STEMEDB_LOG_LEVEL: "warn" },
  });
  const server: ServerProc = { proc, pid: proc.pid, port, url: `http://${host}:${port}`, errFile };
  running.add(server);
  const deadline = performance.now() + 120_000; // a restart over 1M records rebuilds the id table
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`server exited with ${proc.exitCode}; see ${errFile}`);
    try {
      if ((await fetch(`${server.url}/v1/health`)).ok) break;
    } catch {}
    if (performance.now() > deadline) throw new Error(`server did not answer /v1/health within 120 s; see ${errFile}`);
    await Bun.sleep(100);
  }
  return server;
}

async function stopServer(s: ServerProc): Promise<number | null> {
  s.proc.kill("SIGTERM");
  const timer = setTimeout(() => s.proc.kill("SIGKILL"), 30_000);
  await s.proc.exited;
  clearTimeout(timer);
  running.delete(s);
  return s.proc.exitCode;
}

async function health(s: ServerProc): Promise<{ lsn: number; index_lsn: number }> {
  return (await (await fetch(`${s.url}/v1/health`)).json()) as { lsn: number; index_lsn: number };
}

/** How long each `GET /metrics` took (ms): a scrape runs on the server's event loop too. */
const scrapeMs: number[] = [];

/** The server's Prometheus metrics, as "name{labels}" → value. */
async function scrape(s: ServerProc): Promise<Map<string, number>> {
  const t = performance.now();
  const text = await (await fetch(`${s.url}/metrics`)).text();
  scrapeMs.push(performance.now() - t);
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line.startsWith("#") || line.length === 0) continue;
    const sp = line.lastIndexOf(" ");
    out.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return out;
}

/** What the view cache did over a window (deltas of the server's own counters; null without views). */
function viewStats(before: Map<string, number>, after: Map<string, number>) {
  if (!after.has("stemedb_views")) return null;
  const d = (k: string) => (after.get(k) ?? 0) - (before.get(k) ?? 0);
  return {
    hits: d('stemedb_view_reads_total{result="hit"}'),
    misses: d('stemedb_view_reads_total{result="miss"}'),
    invalidations: d("stemedb_view_invalidations_total"),
    views_held: after.get("stemedb_views") ?? 0,
  };
}
type ViewStats = ReturnType<typeof viewStats>;

/** The write path as the server saw it over a window: log commits and syncs, index batches. */
function writeStats(before: Map<string, number>, after: Map<string, number>, seconds: number) {
  const d = (k: string) => (after.get(k) ?? 0) - (before.get(k) ?? 0);
  const fsyncs = d("stemedb_wal_fsync_seconds_count");
  const indexBatches = d('stemedb_index_op_seconds_count{op="apply_batch"}');
  const indexSeconds = d('stemedb_index_op_seconds_sum{op="apply_batch"}');
  return {
    log_commits: d("stemedb_wal_batch_records_count"),
    fdatasync_avg_ms: fsyncs > 0 ? round((d("stemedb_wal_fsync_seconds_sum") * 1000) / fsyncs, 2) : null,
    fdatasync_share_of_wall: round(d("stemedb_wal_fsync_seconds_sum") / seconds, 3),
    index_batches: indexBatches,
    index_avg_ms: indexBatches > 0 ? round((indexSeconds * 1000) / indexBatches, 2) : null,
    index_share_of_wall: round(indexSeconds / seconds, 3),
  };
}

/**
 * Waits for the index to catch up and the server to go idle (below 0.15 cores over 0.5 s), so
 * work left behind by one scenario (index batches, views recomputed in the background) is not
 * charged to the next.
 */
async function settle(s: ServerProc): Promise<number> {
  const t0 = performance.now();
  await waitIndexed(s);
  for (;;) {
    const c0 = cpuSeconds(s.pid);
    await Bun.sleep(500);
    if (cpuSeconds(s.pid) - c0 < 0.075 || performance.now() - t0 > 300_000) break;
  }
  return round((performance.now() - t0) / 1000, 1);
}

/** Waits until the index holds every logged record, so queries read the whole data set. */
async function waitIndexed(s: ServerProc): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    const h = await health(s);
    if (h.index_lsn >= h.lsn) return (performance.now() - t0) / 1000;
    if (performance.now() - t0 > 300_000) throw new Error(`index stuck at ${h.index_lsn} of ${h.lsn}`);
    await Bun.sleep(100);
  }
}

// ---------- requests ----------

function queryGet(pair: number, lens: string): Uint8Array {
  const { subject, predicate } = pairKey(pair);
  return encodeRequest("GET", `/v1/query?subject=${subject}&predicate=${predicate}&lens=${lens}`, host, "application/json", "");
}

function queryPost(pair: number, lenses: string[]): Uint8Array {
  const { subject, predicate } = pairKey(pair);
  return encodeRequest("POST", "/v1/query", host, "application/json", JSON.stringify({ subject, predicate, lenses }));
}

async function openConnections(s: ServerProc, n: number): Promise<RawConnection[]> {
  return Promise.all(Array.from({ length: n }, () => RawConnection.open(host, s.port)));
}

/** Latencies in ms, growing as needed. */
class Latencies {
  private data = new Float64Array(1 << 16);
  length = 0;
  push(ms: number): void {
    if (this.length === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = ms;
  }
  sorted(): Float64Array {
    return this.data.slice(0, this.length).sort();
  }
}

interface LoopTally {
  lat: Latencies;
  non2xx: Map<number, number>;
  badAnswers: number;
  samples: string[];
}

function newTally(): LoopTally {
  return { lat: new Latencies(), non2xx: new Map(), badAnswers: 0, samples: [] };
}

type Check = (res: RawResponse) => string | null;

/**
 * A closed loop: each connection sends its next request as soon as the previous answer is in,
 * until `next` runs dry or the deadline passes. Every answer's latency is recorded; one in
 * `checkEvery` is parsed and checked.
 */
async function closedLoop(
  conns: RawConnection[],
  next: () => Uint8Array | null,
  until: () => boolean,
  tally: LoopTally,
  check: Check,
  checkEvery: number,
): Promise<void> {
  let n = 0;
  await Promise.all(
    conns.map(async (conn) => {
      while (!until()) {
        const bytes = next();
        if (bytes === null) return;
        const t = performance.now();
        const res = await conn.request(bytes);
        tally.lat.push(performance.now() - t);
        if (res.status !== 200) {
          tally.non2xx.set(res.status, (tally.non2xx.get(res.status) ?? 0) + 1);
          if (tally.samples.length < 3) tally.samples.push(`${res.status} ${res.body.toString("utf8").slice(0, 300)}`);
        } else if (n++ % checkEvery === 0) {
          const bad = check(res);
          if (bad !== null) {
            tally.badAnswers++;
            if (tally.samples.length < 3) tally.samples.push(bad);
          }
        }
      }
    }),
  );
}

/** A single-lens answer must name the lens and have a winner with a number. */
function checkSingle(lens: string): Check {
  return (res) => {
    const a = JSON.parse(res.body.toString("utf8")) as { lens?: string; winner?: unknown; value?: unknown };
    if (a.lens !== lens || a.winner === null || typeof a.value !== "number")
      return `bad ${lens} answer: ${res.body.toString("utf8").slice(0, 200)}`;
    return null;
  };
}

function checkMulti(lenses: string[]): Check {
  return (res) => {
    const a = JSON.parse(res.body.toString("utf8")) as { results?: Record<string, { winner?: unknown }> };
    for (const l of lenses)
      if (!a.results?.[l] || a.results[l]?.winner === null) return `bad multi-lens answer: ${res.body.toString().slice(0, 200)}`;
    return null;
  };
}

// ---------- scenarios ----------

interface QueryResult {
  scenario: string;
  kind: "cold" | "hot" | "multi-cold" | "multi-hot";
  concurrency: number;
  seconds: number;
  queries: number;
  queries_per_s: number;
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  max_ms: number;
  /** p50 / p99 with one connection (unloaded latency), when measured. */
  c1?: { queries: number; queries_per_s: number; p50_ms: number; p99_ms: number };
  server_cores: number;
  loadgen_cores: number;
  /** The view cache over the c=C window, from the server's metrics. */
  server_view: ViewStats;
  non_2xx: Record<string, number>;
  bad_answers: number;
  samples: string[];
  /** Distinct keys asked, for cold scenarios; every one asked for the first time with this lens. */
  distinct_keys?: number;
  note?: string;
}

/** Walks the pairs in a fixed random order: each walk starts at its own offset. */
class Walk {
  private i = 0;
  constructor(
    private readonly order: Uint32Array,
    private readonly start: number,
  ) {}
  next(): number | null {
    if (this.i >= this.order.length) return null; // every pair asked once: no cold key left
    return this.order[(this.start + this.i++) % this.order.length] as number;
  }
  get used(): number {
    return this.i;
  }
}

async function timedWindow(
  server: ServerProc,
  conns: RawConnection[],
  seconds: number,
  next: () => Uint8Array | null,
  check: Check,
  checkEvery: number,
) {
  const tally = newTally();
  const meter = cpuMeter(server.pid);
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  await closedLoop(conns, next, () => performance.now() >= deadline, tally, check, checkEvery);
  const elapsed = (performance.now() - t0) / 1000;
  const lat = tally.lat.sorted();
  return {
    elapsed,
    tally,
    cpu: meter(),
    queries: lat.length,
    qps: Math.round(lat.length / elapsed),
    p50: round(quantile(lat, 0.5), 2),
    p90: round(quantile(lat, 0.9), 2),
    p99: round(quantile(lat, 0.99), 2),
    max: round(quantile(lat, 1), 2),
  };
}

/** Asks once, before timing, whether the server knows the lens (trust may not exist yet). */
async function probe(conn: RawConnection, bytes: Uint8Array): Promise<string | null> {
  const res = await conn.request(bytes);
  if (res.status === 200) return null;
  const body = res.body.toString("utf8");
  const code = /"code"\s*:\s*"([^"]+)"/.exec(body)?.[1] ?? String(res.status);
  return `n/a (${code})`;
}

async function queryScenario(
  cfg: Config,
  server: ServerProc,
  spec: { name: string; kind: QueryResult["kind"]; next: () => Uint8Array | null; check: Check; distinct?: () => number },
): Promise<QueryResult> {
  const conns = await openConnections(server, cfg.concurrency);
  const base = {
    scenario: spec.name,
    kind: spec.kind,
    concurrency: cfg.concurrency,
  };
  try {
    const first = spec.next();
    const na = first === null ? "n/a (no keys)" : await probe(conns[0] as RawConnection, first);
    if (na !== null) {
      log(`${spec.name}: ${na}`);
      return { ...base, ...emptyFigures(), note: na };
    }
    let c1: QueryResult["c1"];
    if (cfg.latencySeconds > 0) {
      const w = await timedWindow(server, conns.slice(0, 1), cfg.latencySeconds, spec.next, spec.check, cfg.checkEvery);
      c1 = { queries: w.queries, queries_per_s: w.qps, p50_ms: w.p50, p99_ms: w.p99 };
    }
    const m0 = await scrape(server);
    const w = await timedWindow(server, conns, cfg.seconds, spec.next, spec.check, cfg.checkEvery);
    const serverView = viewStats(m0, await scrape(server));
    const res: QueryResult = {
      ...base,
      seconds: round(w.elapsed, 2),
      queries: w.queries,
      queries_per_s: w.qps,
      p50_ms: w.p50,
      p90_ms: w.p90,
      p99_ms: w.p99,
      max_ms: w.max,
      ...(c1 ? { c1 } : {}),
      server_cores: w.cpu.server_cores,
      loadgen_cores: w.cpu.loadgen_cores,
      server_view: serverView,
      non_2xx: Object.fromEntries(w.tally.non2xx),
      bad_answers: w.tally.badAnswers,
      samples: w.tally.samples,
      ...(spec.distinct ? { distinct_keys: spec.distinct() } : {}),
    };
    log(
      `${spec.name}: ${res.queries_per_s}/s, p50 ${res.p50_ms} ms, p99 ${res.p99_ms} ms (c=${cfg.concurrency})${c1 ? `; c=1: ${c1.queries_per_s}/s, p50 ${c1.p50_ms} ms, p99 ${c1.p99_ms} ms` : ""}; server ${res.server_cores} cores, generator ${res.loadgen_cores}; non-2xx ${JSON.stringify(res.non_2xx)}, bad ${res.bad_answers}`,
    );
    return res;
  } finally {
    for (const c of conns) c.close();
  }
}

function emptyFigures() {
  return {
    seconds: 0,
    queries: 0,
    queries_per_s: 0,
    p50_ms: Number.NaN,
    p90_ms: Number.NaN,
    p99_ms: Number.NaN,
    max_ms: Number.NaN,
    server_cores: Number.NaN,
    loadgen_cores: Number.NaN,
    server_view: null,
    non_2xx: {},
    bad_answers: 0,
    samples: [],
  };
}

/**
 * Asks every hot key twice through POST /v1/query with the hot lenses and the multi-lens set
 * (not timed): a view is kept at its key's second ask (src/query/doorkeeper.ts), so the hot
 * reads that follow find them all. Keys whose views are still there answer at once.
 */
async function warmHot(server: ServerProc, cfg: Config, hot: Uint32Array): Promise<number> {
  const t = performance.now();
  const lenses = [...new Set([...hotLenses, ...multiLenses])];
  const conns = await openConnections(server, Math.min(cfg.concurrency, 8));
  let i = 0;
  const tally = newTally();
  const next = () => (i < 2 * hot.length ? queryPost(hot[i++ % hot.length] as number, lenses) : null);
  await closedLoop(
    conns,
    next,
    () => false,
    tally,
    () => null,
    1e9,
  );
  for (const c of conns) c.close();
  if (tally.non2xx.size > 0) log(`warm-up: non-2xx ${JSON.stringify(Object.fromEntries(tally.non2xx))} ${tally.samples[0]}`);
  return round((performance.now() - t) / 1000, 1);
}

interface IngestResult {
  scenario: string;
  views: "off" | "on" | "unknown";
  with_queries: boolean;
  records: number;
  seconds: number;
  records_per_s: number;
  batch_p50_ms: number;
  batch_p99_ms: number;
  rejected: number;
  non_2xx: Record<string, number>;
  server_cores: number;
  loadgen_cores: number;
  /** Share of the records that updated a hot pair (whose views exist when views are on). */
  hot_share: number;
  server_view: ViewStats;
  /** Seconds the server stayed busy after the last batch was acknowledged (work left behind). */
  settle_s: number;
  server_write: ReturnType<typeof writeStats>;
  /** The concurrent hot-read load, when there was one. */
  queries?: { concurrency: number; queries: number; queries_per_s: number; p50_ms: number; p99_ms: number; non_2xx: number };
}

/** Batch inserts, 4 in flight, until the records or the seconds run out. */
async function sendBatches(
  server: ServerProc,
  reqs: Uint8Array[],
  counts: number[],
  concurrency: number,
  seconds: number,
): Promise<{ acked: number; rejected: number; non2xx: Map<number, number>; lat: Latencies; elapsed: number; samples: string[] }> {
  const conns = await openConnections(server, concurrency);
  const out = {
    acked: 0,
    rejected: 0,
    non2xx: new Map<number, number>(),
    lat: new Latencies(),
    elapsed: 0,
    samples: [] as string[],
  };
  let next = 0;
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  await Promise.all(
    conns.map(async (conn) => {
      while (next < reqs.length && performance.now() < deadline) {
        const i = next++;
        const t = performance.now();
        const res = await conn.request(reqs[i] as Uint8Array);
        out.lat.push(performance.now() - t);
        if (res.status < 200 || res.status >= 300) {
          out.non2xx.set(res.status, (out.non2xx.get(res.status) ?? 0) + 1);
          if (out.samples.length < 3) out.samples.push(`${res.status} ${res.body.toString("utf8").slice(0, 300)}`);
          continue;
        }
        const b = JSON.parse(res.body.toString("utf8")) as { accepted: number; rejected: number };
        out.acked += b.accepted;
        out.rejected += b.rejected;
        if (b.rejected > 0 && out.samples.length < 3) out.samples.push(res.body.toString("utf8").slice(0, 300));
        if (b.accepted + b.rejected !== counts[i]) out.rejected += (counts[i] as number) - b.accepted - b.rejected;
      }
    }),
  );
  out.elapsed = (performance.now() - t0) / 1000;
  for (const c of conns) c.close();
  return out;
}

/** One ingest phase: its records, whether views are on, and whether hot reads run meanwhile. */
interface IngestPhase {
  name: string;
  views: IngestResult["views"];
  hotShare: number;
  withQueries: boolean;
}

async function ingestScenario(
  cfg: Config,
  server: ServerProc,
  phase: IngestPhase,
  batches: SignedBatches,
  hotQuery: () => Uint8Array,
  hot: Uint32Array,
): Promise<IngestResult> {
  // Every phase starts from the same state: the hot keys' views present and just read.
  if (phase.views !== "off") log(`hot keys re-asked in ${await warmHot(server, cfg, hot)} s`);
  await settle(server);
  const m0 = await scrape(server);
  const meter = cpuMeter(server.pid);
  let stop = false;
  const qTally = newTally();
  const qConns = phase.withQueries ? await openConnections(server, cfg.ingestQueryConcurrency) : [];
  const queryLoop = closedLoop(
    qConns,
    hotQuery,
    () => stop,
    qTally,
    () => null,
    1e9,
  );
  const b = await sendBatches(server, batches.requests, batches.records, cfg.ingestConcurrency, cfg.seconds);
  stop = true;
  await queryLoop;
  for (const c of qConns) c.close();
  const cpu = meter();
  const serverWrite = writeStats(m0, await scrape(server), b.elapsed);
  const settleSeconds = await settle(server);
  const serverView = viewStats(m0, await scrape(server));
  const lat = b.lat.sorted();
  const ql = qTally.lat.sorted();
  const res: IngestResult = {
    scenario: phase.name,
    views: phase.views,
    with_queries: phase.withQueries,
    records: b.acked,
    seconds: round(b.elapsed, 2),
    records_per_s: Math.round(b.acked / b.elapsed),
    batch_p50_ms: round(quantile(lat, 0.5), 1),
    batch_p99_ms: round(quantile(lat, 0.99), 1),
    rejected: b.rejected,
    non_2xx: Object.fromEntries(b.non2xx),
    server_cores: cpu.server_cores,
    loadgen_cores: cpu.loadgen_cores,
    hot_share: phase.hotShare,
    server_view: serverView,
    settle_s: settleSeconds,
    server_write: serverWrite,
    ...(phase.withQueries
      ? {
          queries: {
            concurrency: cfg.ingestQueryConcurrency,
            queries: ql.length,
            queries_per_s: Math.round(ql.length / b.elapsed),
            p50_ms: round(quantile(ql, 0.5), 2),
            p99_ms: round(quantile(ql, 0.99), 2),
            non_2xx: [...qTally.non2xx.values()].reduce((x, y) => x + y, 0),
          },
        }
      : {}),
  };
  log(
    `${phase.name}: ${res.records} records in ${res.seconds} s = ${res.records_per_s}/s (batch p50 ${res.batch_p50_ms} ms, p99 ${res.batch_p99_ms} ms), server ${res.server_cores} cores, busy ${settleSeconds} s after; write path ${JSON.stringify(serverWrite)}${res.queries ? `; meanwhile ${res.queries.queries_per_s} hot queries/s, p99 ${res.queries.p99_ms} ms` : ""}; views ${JSON.stringify(serverView)}${b.samples.length ? `; ${b.samples.join(" | ")}` : ""}`,
  );
  return res;
}

// ---------- load ----------

function sourceBatch(seeds: Uint8Array[], tsBase: number): Uint8Array {
  const key = keyFromSeed(seeds[0] as Uint8Array);
  const agent = Buffer.from(key.publicKey).toString("hex");
  const records = Array.from({ length: sourceCount }, (_, i) =>
    signFields(
      {
        v: 1,
        kind: "source",
        agent,
        ts: tsBase - 1000 + i,
        source_id: sourceId(i),
        title: `Bench source ${i}`,
        tier: sourceTier(i),
      },
      key,
    ),
  );
  return cborBatchRequest(records);
}

async function load(server: ServerProc, cfg: Config, seeds: Uint8Array[], L: Layout, batches: SignedBatches) {
  const conn = (await openConnections(server, 1))[0] as RawConnection;
  const src = await conn.request(sourceBatch(seeds, L.tsBase));
  conn.close();
  const srcBody = JSON.parse(src.body.toString("utf8")) as { accepted?: number };
  if (src.status !== 200 || srcBody.accepted !== sourceCount)
    throw new Error(`registering sources: ${src.status} ${src.body.toString().slice(0, 300)}`);
  const meter = cpuMeter(server.pid);
  const b = await sendBatches(server, batches.requests, batches.records, cfg.loadConcurrency, Number.POSITIVE_INFINITY);
  const catchUp = await waitIndexed(server);
  const cpu = meter();
  if (b.acked !== L.loadRecords || b.non2xx.size > 0)
    throw new Error(
      `load: ${b.acked} of ${L.loadRecords} accepted, non-2xx ${JSON.stringify(Object.fromEntries(b.non2xx))}: ${b.samples.join(" | ")}`,
    );
  return {
    records: b.acked,
    seconds: round(b.elapsed, 1),
    records_per_s: Math.round(b.acked / b.elapsed),
    index_catch_up_s: round(catchUp, 1),
    server_cores: cpu.server_cores,
    server_rss_mb: rssMb(server.pid),
  };
}

/** The data set answers as built: a unanimous pair and a split pair, through consensus. */
async function sanity(server: ServerProc, L: Layout): Promise<string[]> {
  const problems: string[] = [];
  const ask = async (pair: number) => {
    const { subject, predicate } = pairKey(pair);
    const r = await fetch(`${server.url}/v1/query?subject=${subject}&predicate=${predicate}&lens=consensus`);
    return (await r.json()) as { value?: number; groups?: unknown[]; candidates?: unknown[] | number };
  };
  const plain = L.pairs > 1 ? 1 : 0;
  const a = await ask(plain);
  if (!isConflictPair(plain) && (a.value !== claimedValue(plain, 0, L) || a.groups?.length !== 1))
    problems.push(
      `sanity: pair ${plain} should be unanimous on ${claimedValue(plain, 0, L)}: ${JSON.stringify(a).slice(0, 300)}`,
    );
  if (L.perPair >= 3) {
    const b = await ask(0);
    if (b.groups?.length !== 2) problems.push(`sanity: pair 0 should have two camps: ${JSON.stringify(b).slice(0, 300)}`);
  }
  return problems;
}

// ---------- report ----------

function goalOfQuery(r: QueryResult): { goal: string; met: string } {
  if (r.note) return { goal: "", met: r.note };
  if (r.kind === "cold") {
    const tp = r.queries_per_s >= goals.coldQueriesPerSec;
    const p99 = r.p99_ms < goals.coldP99Ms;
    const p99c1 = r.c1 ? ` (c=1: ${r.c1.p99_ms < goals.coldP99Ms ? "met" : "not met"})` : "";
    return {
      goal: `≥ ${goals.coldQueriesPerSec.toLocaleString("en")}/s, p99 < ${goals.coldP99Ms} ms`,
      met: `${tp ? "MET" : "not met"} / ${p99 ? "MET" : "not met"}${p99c1}`,
    };
  }
  if (r.kind === "hot")
    return {
      goal: `≥ ${goals.hotQueriesPerSec.toLocaleString("en")}/s`,
      met: r.queries_per_s >= goals.hotQueriesPerSec ? "MET" : "not met",
    };
  return { goal: "(none stated)", met: "" };
}

function printTable(rows: string[][]): void {
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((row) => (row[c] ?? "").length))) ?? [];
  const numeric = (c: number) => c > 0 && c < (rows[0]?.length ?? 0) - 2;
  const fmt = (row: string[]) =>
    row.map((cell, c) => (numeric(c) ? cell.padStart(widths[c] ?? 0) : cell.padEnd(widths[c] ?? 0))).join("  ");
  console.log(fmt(rows[0] as string[]));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const row of rows.slice(1)) console.log(fmt(row).trimEnd());
}

const fmtMs = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? "—" : String(x));

function report(queries: QueryResult[], ingests: IngestResult[], slowdowns: Record<string, number | null>) {
  const qRows = [
    ["scenario", "queries/s", "p50 ms", "p99 ms", "c=1 p50", "c=1 p99", "srv cores", "goal", "met?"],
    ...queries.map((r) => {
      const g = goalOfQuery(r);
      return [
        `${r.scenario} [c=${r.concurrency}]`,
        r.note ? "—" : r.queries_per_s.toLocaleString("en"),
        fmtMs(r.p50_ms),
        fmtMs(r.p99_ms),
        fmtMs(r.c1?.p50_ms),
        fmtMs(r.c1?.p99_ms),
        Number.isNaN(r.server_cores) ? "—" : String(r.server_cores),
        g.goal,
        g.met,
      ];
    }),
  ];
  printTable(qRows);
  console.log("");
  const iRows = [
    [
      "ingest scenario",
      "records/s",
      "batch p50",
      "batch p99",
      "srv cores",
      "hot share",
      "busy after s",
      "views dropped",
      "reads meanwhile",
    ],
    ...ingests.map((r) => [
      r.scenario,
      r.records_per_s.toLocaleString("en"),
      String(r.batch_p50_ms),
      String(r.batch_p99_ms),
      String(r.server_cores),
      `${Math.round(r.hot_share * 100)} %`,
      String(r.settle_s),
      r.server_view ? String(r.server_view.invalidations) : "—",
      r.queries ? `${r.queries.queries_per_s.toLocaleString("en")}/s, p99 ${r.queries.p99_ms} ms` : "—",
    ]),
  ];
  printTable(iRows);
  for (const [what, pct] of Object.entries(slowdowns)) {
    if (pct === null) continue;
    const met = pct <= goals.ingestSlowdownPctMax ? "MET" : "not met";
    console.log(`ingest slowdown, ${what}: ${pct} % (goal ≤ ${goals.ingestSlowdownPctMax} %: ${met})`);
  }
}

// ---------- main ----------

function ingestPlan(cfg: Config, viewsFlag: boolean): IngestPhase[] {
  const reads = `ingest + hot consensus reads (c=${cfg.ingestQueryConcurrency})`;
  const share = cfg.hotShare;
  if (!viewsFlag)
    return [
      { name: "ingest alone", views: "unknown", hotShare: share, withQueries: false },
      { name: reads, views: "unknown", hotShare: share, withQueries: true },
    ];
  return [
    { name: "ingest alone, views off", views: "off", hotShare: share, withQueries: false },
    { name: "ingest alone, views on, no writes to hot keys", views: "on", hotShare: 0, withQueries: false },
    { name: "ingest alone, views on", views: "on", hotShare: share, withQueries: false },
    { name: `${reads}, views on`, views: "on", hotShare: share, withQueries: true },
    // The baseline again, on a server restarted without views: the mean of the two is what the
    // views-on phases are compared with, so neither the index's growth nor one noisy run decides.
    { name: "ingest alone, views off, again", views: "off", hotShare: share, withQueries: false },
  ];
}

/** The data set and every ingest phase's records, signed on all cores before anything is timed. */
async function prepare(cfg: Config, plan: IngestPhase[]) {
  const pairs = cfg.subjects * predicateNames.length;
  const order = shuffled(pairs, 0x5eed);
  const seeds = benchSeeds(cfg.keys, "stemedb-bench-query");
  const L: Layout = {
    subjects: cfg.subjects,
    pairs,
    perPair: Math.ceil(cfg.assertions / pairs),
    loadRecords: cfg.assertions,
    keys: cfg.keys,
    tsBase: Date.now() - cfg.assertions - plan.length * cfg.ingestRecords - 600_000,
    hot: order.slice(pairs - cfg.hotKeys),
  };
  if (L.perPair > cfg.keys) throw new RangeError(`${L.perPair} assertions per pair need at least as many --keys`);
  const threads = os.availableParallelism();
  const t = performance.now();
  const job = { seeds, layout: L, batchSize: cfg.loadBatch, hotShare: 0 };
  const loadBatches = await signParallel({ ...job, kind: "load" }, 0, cfg.assertions, threads);
  const ingest: SignedBatches[] = [];
  for (const [k, phase] of plan.entries()) {
    const from = k * cfg.ingestRecords;
    const phaseJob = { ...job, kind: "ingest" as const, batchSize: cfg.ingestBatch, hotShare: phase.hotShare };
    ingest.push(await signParallel(phaseJob, from, from + cfg.ingestRecords, threads));
  }
  const signSeconds = round((performance.now() - t) / 1000, 1);
  const signed = cfg.assertions + plan.length * cfg.ingestRecords;
  log(`signed ${signed} records (${cfg.keys} agents) in ${signSeconds} s on ${threads} threads`);
  return { L, order, seeds, loadBatches, ingest, signSeconds };
}

/** Each lens walks its own stretch of a fixed random order of the pairs: every key asked is new to that lens. */
async function coldScenarios(cfg: Config, server: ServerProc, order: Uint32Array): Promise<QueryResult[]> {
  const out: QueryResult[] = [];
  const walks = allLenses.length + 1;
  const walkOf = (w: number) => new Walk(order, Math.floor((w * order.length) / walks));
  for (const lens of cfg.lenses) {
    const walk = walkOf(allLenses.indexOf(lens));
    out.push(
      await queryScenario(cfg, server, {
        name: `cold ${lens}`,
        kind: "cold",
        next: () => {
          const p = walk.next();
          return p === null ? null : queryGet(p, lens);
        },
        check: checkSingle(lens),
        distinct: () => walk.used,
      }),
    );
  }
  const walk = walkOf(allLenses.length);
  out.push(
    await queryScenario(cfg, server, {
      name: `cold POST ${multiLenses.join("+")}`,
      kind: "multi-cold",
      next: () => {
        const p = walk.next();
        return p === null ? null : queryPost(p, multiLenses);
      },
      check: checkMulti(multiLenses),
      distinct: () => walk.used,
    }),
  );
  return out;
}

/** The hot keys asked twice per lens (not timed; kept at the second ask), then asked over and over. */
async function hotScenarios(cfg: Config, server: ServerProc, hot: Uint32Array, pick: () => number): Promise<QueryResult[]> {
  log(`warmed ${hot.length} hot keys in ${await warmHot(server, cfg, hot)} s; server idle ${await settle(server)} s later`);
  const out: QueryResult[] = [];
  for (const lens of hotLenses)
    out.push(
      await queryScenario(cfg, server, {
        name: `hot ${lens}`,
        kind: "hot",
        next: () => queryGet(pick(), lens),
        check: checkSingle(lens),
      }),
    );
  out.push(
    await queryScenario(cfg, server, {
      name: `hot POST ${multiLenses.join("+")}`,
      kind: "multi-hot",
      next: () => queryPost(pick(), multiLenses),
      check: checkMulti(multiLenses),
    }),
  );
  return out;
}

function slowdowns(ingests: IngestResult[]): Record<string, number | null> {
  const rate = (p: (r: IngestResult) => boolean) => ingests.find(p)?.records_per_s;
  const pct = (base: number | undefined, x: number | undefined) =>
    base && x !== undefined ? round((1 - x / base) * 100, 1) : null;
  const offRuns = ingests.filter((r) => r.views === "off");
  const off = offRuns.length > 0 ? offRuns.reduce((a, r) => a + r.records_per_s, 0) / offRuns.length : undefined;
  const onNoHot = rate((r) => r.views === "on" && !r.with_queries && r.hot_share === 0);
  const on = rate((r) => r.views === "on" && !r.with_queries && r.hot_share > 0);
  const alone = on ?? rate((r) => r.views === "unknown" && !r.with_queries);
  return {
    "views on vs off (view maintenance; off = mean of the views-off runs)": pct(off, on),
    "views on vs off, no writes to hot keys": pct(off, onNoHot),
    "with hot reads vs alone": pct(
      alone,
      rate((r) => r.with_queries),
    ),
  };
}

function problemsOf(queries: QueryResult[], ingests: IngestResult[]): string[] {
  const out: string[] = [];
  for (const r of queries)
    if (Object.keys(r.non_2xx).length > 0 || r.bad_answers > 0)
      out.push(`${r.scenario}: non-2xx ${JSON.stringify(r.non_2xx)}, bad answers ${r.bad_answers}: ${r.samples.join(" | ")}`);
  for (const r of ingests)
    if (Object.keys(r.non_2xx).length > 0 || r.rejected > 0)
      out.push(`${r.scenario}: non-2xx ${JSON.stringify(r.non_2xx)}, rejected ${r.rejected}`);
  return out;
}

async function main(): Promise<number> {
  const cfg = readConfig();
  const root = path.resolve(import.meta.dir, "..");
  const started = new Date();
  const stamp = started.toISOString().replace(/[:.]/g, "-").replace(/Z$/, "");
  const runDir = path.join(root, ".bench", `query-run-${stamp}`);
  fs.mkdirSync(runDir, { recursive: true });
  const dataDir = path.join(runDir, "data");
  const profileDir = cfg.profile ? path.join(runDir, "profile") : null;
  const machine = machineInfo(runDir);
  log(`machine: ${machine.nproc} × ${machine.cpu_model}, ${machine.memory_gb} GB; data dir ${dataDir} (${machine.data_dir_fs})`);
  if ((os.loadavg()[0] ?? 0) > 0.5)
    log(`WARNING: load average ${os.loadavg()[0]?.toFixed(2)} before the run: the numbers will be low and noisy`);
  const viewsFlag = serverHasViewsFlag(cfg.serverRoot);
  log(
    viewsFlag
      ? "server takes --views-max: cold scenarios run with --views-max 0, hot ones on a restarted server with views on"
      : "server does not take --views-max (no view cache in this build): cold = first ask of a key, hot = repeats",
  );
  const plan = ingestPlan(cfg, viewsFlag);
  const data = await prepare(cfg, plan);
  const rand = prng(42);
  const hotPick = () => data.L.hot[Math.floor(rand() * data.L.hot.length)] as number;
  const hotConsensus = () => queryGet(hotPick(), "consensus");
  const problems: string[] = [];
  const ingests: IngestResult[] = [];

  // Load, cold queries and the first ingest phase (views off when the server can turn them off).
  let server = await startServer(cfg.serverRoot, dataDir, "cold", viewsFlag ? ["--views-max", "0"] : [], profileDir);
  log(`server pid ${server.pid} on ${server.url}; loading ${cfg.assertions} assertions over ${cfg.subjects} subjects`);
  const loaded = await load(server, cfg, data.seeds, data.L, data.loadBatches);
  log(
    `loaded ${loaded.records} in ${loaded.seconds} s (${loaded.records_per_s}/s, index caught up ${loaded.index_catch_up_s} s later), server RSS ${loaded.server_rss_mb} MB`,
  );
  problems.push(...(await sanity(server, data.L)));
  const queries = await coldScenarios(cfg, server, data.order);
  ingests.push(
    await ingestScenario(cfg, server, plan[0] as IngestPhase, data.ingest[0] as SignedBatches, hotConsensus, data.L.hot),
  );
  if (viewsFlag) {
    const code = await stopServer(server);
    if (code !== 0) problems.push(`server (views off) exited with ${code}; see ${server.errFile}`);
    server = await startServer(cfg.serverRoot, dataDir, "hot", [], profileDir);
    log(`restarted with views on: pid ${server.pid}`);
  }

  // Hot reads, then the other ingest phases (the last one on a server without views again).
  queries.push(...(await hotScenarios(cfg, server, data.L.hot, hotPick)));
  for (let k = 1; k < plan.length; k++) {
    const phase = plan[k] as IngestPhase;
    if (phase.views === "off") {
      const code = await stopServer(server);
      if (code !== 0) problems.push(`server (views on) exited with ${code}; see ${server.errFile}`);
      server = await startServer(cfg.serverRoot, dataDir, "off-again", ["--views-max", "0"], profileDir);
      log(`restarted with views off: pid ${server.pid}`);
    }
    ingests.push(await ingestScenario(cfg, server, phase, data.ingest[k] as SignedBatches, hotConsensus, data.L.hot));
  }
  const rssEnd = rssMb(server.pid);
  const code = await stopServer(server);
  if (code !== 0) problems.push(`server exited with ${code}; see ${server.errFile}`);
  problems.push(...problemsOf(queries, ingests));

  // Report.
  const slow = slowdowns(ingests);
  const pairs = data.L.pairs;
  console.log("");
  console.log(
    `StemeDB query benchmark — ${started.toISOString()} — ${machine.nproc} × ${machine.cpu_model} — ${cfg.assertions.toLocaleString("en")} assertions, ${cfg.subjects.toLocaleString("en")} subjects, ${pairs.toLocaleString("en")} pairs, ${cfg.keys} agents; views ${viewsFlag ? "off for cold, on for hot" : "not in this build"}`,
  );
  console.log(
    `load: ${loaded.records_per_s.toLocaleString("en")} records/s (CBOR batches of ${cfg.loadBatch}, ${cfg.loadConcurrency} in flight), index caught up ${loaded.index_catch_up_s} s after; server RSS ${loaded.server_rss_mb} MB after load, ${rssEnd} MB at the end`,
  );
  const scrapes = Float64Array.from(scrapeMs).sort();
  const scrapeStats = { count: scrapes.length, p50_ms: round(quantile(scrapes, 0.5), 1), max_ms: round(quantile(scrapes, 1), 1) };
  console.log(
    `GET /metrics (outside the timed windows): ${scrapeStats.count} scrapes, p50 ${scrapeStats.p50_ms} ms, max ${scrapeStats.max_ms} ms`,
  );
  console.log("");
  report(queries, ingests, slow);
  const out = {
    bench: "query",
    date: started.toISOString(),
    command: `bun bench/query.ts ${process.argv.slice(2).join(" ")}`.trim(),
    config: cfg,
    machine,
    views_flag: viewsFlag,
    data: { assertions: cfg.assertions, subjects: cfg.subjects, pairs, per_pair: data.L.perPair, sources: sourceCount },
    sign_seconds: data.signSeconds,
    load: { ...loaded, server_rss_end_mb: rssEnd },
    goals,
    queries,
    ingest: ingests,
    ingest_slowdown_pct: slow,
    metrics_scrape: scrapeStats,
    loadavg_at_end: os.loadavg().map((x) => round(x, 2)),
    problems,
  };
  const outFile = path.join(root, ".bench", `query-${stamp}.json`);
  fs.writeFileSync(outFile, `${JSON.stringify(out, null, 2)}\n`);
  if (profileDir) console.log(`CPU profiles (markdown): ${profileDir}`);
  if (!cfg.keep) fs.rmSync(profileDir ? dataDir : runDir, { recursive: true, force: true });
  console.log(`results: ${path.relative(process.cwd(), outFile)}`);
  if (problems.length > 0) {
    console.log("\nPROBLEMS (the numbers above are not trustworthy):");
    for (const p of problems) console.log(`  - ${p}`);
  }
  console.log(JSON.stringify(out));
  return problems.length > 0 ? 1 : 0;
}

if (Bun.isMainThread) {
  try {
    process.exitCode = await main();
  } catch (e) {
    for (const s of running) s.proc.kill("SIGKILL");
    throw e;
  }
}
