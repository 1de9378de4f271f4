/**
 * `make bench`: durable signed ingest against the real server, as a separate process, on
 * loopback, with pre-signed records. See bench/README.md for what each number means.
 *
 *   bun bench/ingest.ts [--records N] [--single-records N] [--seconds S] [--keys K]
 *                       [--client raw|fetch] [--profile] [--scenarios a,b,...]
 *
 * Every flag also reads an environment variable: BENCH_RECORDS, BENCH_SINGLE_RECORDS,
 * BENCH_SECONDS, BENCH_KEYS, BENCH_CLIENT, BENCH_PROFILE=1, BENCH_SCENARIOS.
 */
import crypto, { type KeyObject } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import type { Subprocess } from "bun";
import { encode as encodeCbor, Decoder } from "cbor-x";
import { fromCborSubmission, fromJsonSubmission } from "../src/crypto/signed.ts";
import { recordId } from "../src/crypto/hash.ts";
import { encodeRequest, RawConnection, type RawResponse } from "./http.ts";
import { benchSeeds, bodyOf, idOf, keyFromSeed, type PackedRecords, sigOf, signParallel } from "./records.ts";

const root = path.resolve(import.meta.dir, "..");
const bun = process.execPath;

// ---------- configuration ----------

const { values: flags } = parseArgs({
  args: process.argv.slice(2),
  options: {
    records: { type: "string" },
    "single-records": { type: "string" },
    seconds: { type: "string" },
    keys: { type: "string" },
    client: { type: "string" },
    profile: { type: "boolean" },
    scenarios: { type: "string" },
    help: { type: "boolean", short: "h" },
  },
  strict: true,
});
if (flags.help) {
  console.log(
    "usage: bun bench/ingest.ts [--records N] [--single-records N] [--seconds S] [--keys K] [--client raw|fetch] [--profile] [--scenarios LIST]",
  );
  process.exit(0);
}
const num = (flag: string | undefined, env: string, dflt: number): number => {
  const raw = flag ?? process.env[env];
  const n = raw === undefined || raw === "" ? dflt : Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${env}: expected a positive number, got ${raw}`);
  return n;
};
const cfg = {
  batchRecords: Math.floor(num(flags.records, "BENCH_RECORDS", 200_000)),
  singleRecords: Math.floor(num(flags["single-records"], "BENCH_SINGLE_RECORDS", 100_000)),
  seconds: num(flags.seconds, "BENCH_SECONDS", 10),
  keys: Math.floor(num(flags.keys, "BENCH_KEYS", 1000)),
  client: (flags.client ?? process.env.BENCH_CLIENT ?? "raw") as "raw" | "fetch",
  profile: flags.profile === true || process.env.BENCH_PROFILE === "1",
  scenarios: (flags.scenarios ?? process.env.BENCH_SCENARIOS ?? "batch-json,batch-cbor,single-json,single-json-nosync")
    .split(",")
    .map((s) => s.trim()),
  batchSize: 1000,
  batchConcurrency: 4,
  singleConcurrency: Math.floor(num(undefined, "BENCH_SINGLE_CONCURRENCY", 64)),
  sanityRecords: 120,
};
if (cfg.client !== "raw" && cfg.client !== "fetch") throw new Error(`--client: expected raw or fetch, got ${cfg.client}`);

const goals = { batchRecordsPerSec: 30_000, singleRecordsPerSec: 12_000, singleP99Ms: 20 };

// ---------- small helpers ----------

const log = (msg: string) => console.error(`[bench] ${msg}`);
const sh = (cmd: string[]): string => {
  const r = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "ignore" });
  return r.stdout.toString().trim();
};
function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}
const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
const clkTck = Number(sh(["getconf", "CLK_TCK"])) || 100;

function machineInfo(dataRoot: string) {
  const cpuinfo = fs.readFileSync("/proc/cpuinfo", "utf8");
  const model = /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? os.cpus()[0]?.model ?? "unknown";
  const memKb = Number(/MemTotal:\s*(\d+)/.exec(fs.readFileSync("/proc/meminfo", "utf8"))?.[1] ?? 0);
  const tmpFs = sh(["df", "--output=fstype", "/tmp"]).split("\n")[1]?.trim() ?? "";
  return {
    nproc: os.availableParallelism(),
    cpu_model: model,
    memory_gb: round(memKb / 1024 / 1024, 1),
    kernel: `${os.type()} ${os.release()}`,
    bun: Bun.version,
    data_dir: dataRoot,
    data_dir_fs: sh(["df", "--output=fstype", dataRoot]).split("\n")[1]?.trim() ?? "",
    data_dir_device: sh(["df", "--output=source", dataRoot]).split("\n")[1] ?? "",
    tmp_fs: tmpFs,
    tmp_is_tmpfs: tmpFs === "tmpfs",
    loadavg_at_start: os.loadavg().map((x) => round(x, 2)),
  };
}

// ---------- the server process ----------

interface ServerProc {
  proc: Subprocess;
  pid: number;
  port: number;
  url: string;
  dataDir: string;
  logFile: string;
}

async function freePort(): Promise<number> {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = l.port;
  l.stop(true);
  return port;
}

async function startServer(sync: "batch" | "none", dataDir: string, profileDir: string | null): Promise<ServerProc> {
  const port = await freePort();
  const logFile = `${dataDir}.log`;
  const args = [bun];
  if (profileDir) args.push("--cpu-prof-md", `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=server-sync-${sync}.md`);
  // No write rate limit: the door's default bucket answered 429 to part of the no-sync scenario at ≈ 13k/s.
  args.push(
    path.join(root, "src/main.ts"),
    "serve",
    "--data-dir",
    dataDir,
    "--bind",
    `127.0.0.1:${port}`,
    "--sync",
    sync,
    "--rate-write",
    "0",
  );
  const proc = Bun.spawn(args, {
    cwd: root,
    stdout: Bun.file(logFile),
    stderr: Bun.file(`${logFile}.err`),
    env: { ...process.env, STEMEDB_LOG_LEVEL: "warn" },
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = performance.now() + 20_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`server exited with ${proc.exitCode}; see ${logFile}.err`);
    try {
      const r = await fetch(`${url}/v1/health`);
      if (r.ok) break;
    } catch {}
    if (performance.now() > deadline) throw new Error(`server did not answer /v1/health within 20 s; see ${logFile}.err`);
    await Bun.sleep(50);
  }
  return { proc, pid: proc.pid, port, url, dataDir, logFile };
}

async function stopServer(s: ServerProc): Promise<number | null> {
  s.proc.kill("SIGTERM");
  const timer = setTimeout(() => s.proc.kill("SIGKILL"), 15_000);
  await s.proc.exited;
  clearTimeout(timer);
  return s.proc.exitCode;
}

async function health(s: ServerProc): Promise<{ lsn: number; index_lsn: number }> {
  const r = await fetch(`${s.url}/v1/health`);
  return (await r.json()) as { lsn: number; index_lsn: number };
}

/** The server's Prometheus metrics, as "name{labels}" → value. */
async function scrape(s: ServerProc): Promise<Map<string, number>> {
  const text = await (await fetch(`${s.url}/metrics`)).text();
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line.startsWith("#") || line.length === 0) continue;
    const sp = line.lastIndexOf(" ");
    out.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return out;
}

/** What the server says about its own write path during a scenario (deltas of its metrics). */
function serverView(before: Map<string, number>, after: Map<string, number>, seconds: number) {
  const d = (k: string) => (after.get(k) ?? 0) - (before.get(k) ?? 0);
  const fsyncs = d("stemedb_wal_fsync_seconds_count");
  const commits = d("stemedb_wal_batch_records_count");
  const indexBatches = d('stemedb_index_op_seconds_count{op="apply_batch"}');
  const indexSeconds = d('stemedb_index_op_seconds_sum{op="apply_batch"}');
  return {
    log_commits: commits,
    log_commits_per_s: round(commits / seconds, 1),
    records_per_log_commit: round(d("stemedb_wal_batch_records_sum") / Math.max(1, commits), 1),
    fdatasync_avg_ms: fsyncs > 0 ? round((d("stemedb_wal_fsync_seconds_sum") * 1000) / fsyncs, 2) : null,
    fdatasync_share_of_wall: round(d("stemedb_wal_fsync_seconds_sum") / seconds, 3),
    index_batches: indexBatches,
    index_avg_ms: indexBatches > 0 ? round((indexSeconds * 1000) / indexBatches, 2) : null,
    index_share_of_wall: round(indexSeconds / seconds, 3),
    // The index's background WAL checkpoints (src/index/checkpointer.ts), off the event loop.
    index_checkpoints: d('stemedb_index_op_seconds_count{op="checkpoint"}'),
    index_checkpoint_share_of_wall: round(d('stemedb_index_op_seconds_sum{op="checkpoint"}') / seconds, 3),
  };
}

/** VmRSS (bytes) and utime+stime (seconds) of a process. */
function procStats(pid: number): { rss: number; cpu: number } | null {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
    const rssKb = Number(/VmRSS:\s*(\d+)/.exec(status)?.[1] ?? 0);
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14, 15)
    return { rss: rssKb * 1024, cpu: ticks / clkTck };
  } catch {
    return null;
  }
}

class Sampler {
  peakRss = 0;
  private timer: ReturnType<typeof setInterval> | null = null;
  constructor(private readonly pid: number) {}
  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), 250);
  }
  sample(): { rss: number; cpu: number } | null {
    const s = procStats(this.pid);
    if (s && s.rss > this.peakRss) this.peakRss = s.rss;
    return s;
  }
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.sample();
  }
}

// ---------- the load generator ----------

interface Req {
  bytes: Uint8Array; // raw HTTP request (raw client)
  path: string;
  contentType: string;
  body: string | Uint8Array; // body alone (fetch client)
  records: number;
}

type Sender = (r: Req) => Promise<RawResponse>;

async function makeSenders(server: ServerProc, n: number): Promise<{ senders: Sender[]; close: () => void }> {
  if (cfg.client === "fetch") {
    const send: Sender = async (r) => {
      const res = await fetch(`${server.url}${r.path}`, {
        method: "POST",
        headers: { "content-type": r.contentType, accept: "application/json" },
        body: r.body,
      });
      return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
    };
    return { senders: Array.from({ length: n }, () => send), close: () => {} };
  }
  const conns = await Promise.all(Array.from({ length: n }, () => RawConnection.open("127.0.0.1", server.port)));
  return {
    senders: conns.map((c) => (r: Req) => c.request(r.bytes)),
    close: () => {
      for (const c of conns) c.close();
    },
  };
}

interface Outcome {
  acked: number; // new records acknowledged (201 / accepted, not duplicate)
  duplicates: number;
  rejected: number; // records refused inside 2xx batch answers
  non2xx: Map<number, number>;
  samples: string[]; // a few error bodies
}

function newOutcome(): Outcome {
  return { acked: 0, duplicates: 0, rejected: 0, non2xx: new Map(), samples: [] };
}

/** Check one answer: counts what the server acknowledged. `strict` parses every body. */
function tally(o: Outcome, req: Req, res: RawResponse, strict: boolean): void {
  if (res.status < 200 || res.status >= 300) {
    o.non2xx.set(res.status, (o.non2xx.get(res.status) ?? 0) + 1);
    if (o.samples.length < 5) o.samples.push(`${res.status} ${res.body.toString("utf8").slice(0, 300)}`);
    return;
  }
  if (req.path === "/v1/assert") {
    if (!strict) {
      if (res.status === 201) o.acked++;
      else o.duplicates++;
      return;
    }
    const r = JSON.parse(res.body.toString("utf8")) as { status: string; duplicate: boolean };
    if (res.status === 201 && r.status === "accepted" && !r.duplicate) o.acked++;
    else if (r.duplicate) o.duplicates++;
    else o.rejected++;
    return;
  }
  const b = JSON.parse(res.body.toString("utf8")) as {
    results: Array<{ status?: string; duplicate?: boolean; error?: unknown }>;
    rejected: number;
  };
  for (const r of b.results) {
    if (r.error !== undefined) {
      o.rejected++;
      if (o.samples.length < 5) o.samples.push(JSON.stringify(r.error).slice(0, 300));
    } else if (r.duplicate) o.duplicates++;
    else if (r.status === "accepted") o.acked++;
    else o.rejected++;
  }
}

interface ScenarioResult {
  scenario: string;
  durable: boolean;
  format: "json" | "cbor";
  records_per_request: number;
  concurrency: number;
  requests: number;
  records: number;
  seconds: number;
  records_per_s: number;
  requests_per_s: number;
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  max_ms: number;
  non_2xx: Record<string, number>;
  rejected_in_batch: number;
  duplicates: number;
  error_samples: string[];
  server_rss_peak_mb: number;
  server_cpu_s: number;
  server_cores_used: number;
  loadgen_cores_used: number;
  server_lsn_after: number;
  server_lsn_expected: number;
  lsn_matches: boolean;
  server_view: ReturnType<typeof serverView>;
}

async function runScenario(
  name: string,
  server: ServerProc,
  reqs: Req[],
  concurrency: number,
  expectedLsnBefore: number,
  meta: { durable: boolean; format: "json" | "cbor"; perRequest: number },
): Promise<ScenarioResult> {
  const { senders, close } = await makeSenders(server, concurrency);
  const outcome = newOutcome();
  const latencies = new Float64Array(reqs.length);
  let next = 0;
  let done = 0;
  const metrics0 = await scrape(server);
  const sampler = new Sampler(server.pid);
  const cpu0 = sampler.sample();
  const self0 = process.cpuUsage();
  sampler.start();
  const t0 = performance.now();
  const deadline = t0 + cfg.seconds * 1000;
  await Promise.all(
    senders.map(async (send) => {
      while (next < reqs.length && performance.now() < deadline) {
        const req = reqs[next++] as Req;
        const started = performance.now();
        const res = await send(req);
        latencies[done++] = performance.now() - started;
        tally(outcome, req, res, false);
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  sampler.stop();
  const cpu1 = sampler.sample();
  const self1 = process.cpuUsage(self0);
  close();
  const lat = latencies.subarray(0, done).sort();
  const h = await health(server);
  const view = serverView(metrics0, await scrape(server), elapsed);
  const serverCpu = cpu0 && cpu1 ? cpu1.cpu - cpu0.cpu : Number.NaN;
  const expected = expectedLsnBefore + outcome.acked;
  const res: ScenarioResult = {
    scenario: name,
    durable: meta.durable,
    format: meta.format,
    records_per_request: meta.perRequest,
    concurrency,
    requests: done,
    records: outcome.acked,
    seconds: round(elapsed, 2),
    records_per_s: Math.round(outcome.acked / elapsed),
    requests_per_s: Math.round(done / elapsed),
    p50_ms: round(quantile(lat, 0.5), 2),
    p90_ms: round(quantile(lat, 0.9), 2),
    p99_ms: round(quantile(lat, 0.99), 2),
    max_ms: round(quantile(lat, 1), 2),
    non_2xx: Object.fromEntries(outcome.non2xx),
    rejected_in_batch: outcome.rejected,
    duplicates: outcome.duplicates,
    error_samples: outcome.samples,
    server_rss_peak_mb: round(sampler.peakRss / 1024 / 1024, 1),
    server_cpu_s: round(serverCpu, 2),
    server_cores_used: round(serverCpu / elapsed, 2),
    loadgen_cores_used: round((self1.user + self1.system) / 1e6 / elapsed, 2),
    server_lsn_after: h.lsn,
    server_lsn_expected: expected,
    lsn_matches: h.lsn === expected,
    server_view: view,
  };
  log(
    `${name}: ${res.records} records in ${res.seconds} s = ${res.records_per_s}/s, p50 ${res.p50_ms} ms, p99 ${res.p99_ms} ms, non-2xx ${JSON.stringify(res.non_2xx)}, lsn ${h.lsn} (expected ${expected}); server: ${JSON.stringify(view)}`,
  );
  return res;
}

// ---------- request builders ----------

function singleJsonReqs(p: PackedRecords, from: number, to: number, host: string): Req[] {
  const out: Req[] = [];
  for (let i = from; i < to; i++) {
    const body = p.json[i] as string;
    out.push({
      bytes: encodeRequest("POST", "/v1/assert", host, "application/json", body),
      path: "/v1/assert",
      contentType: "application/json",
      body,
      records: 1,
    });
  }
  return out;
}

function batchReqs(p: PackedRecords, from: number, to: number, size: number, format: "json" | "cbor", host: string): Req[] {
  const out: Req[] = [];
  for (let s = from; s < to; s += size) {
    const e = Math.min(to, s + size);
    let body: string | Uint8Array;
    if (format === "json") {
      body = `{"records":[${p.json.slice(s, e).join(",")}]}`;
    } else {
      const records: Array<{ body: Uint8Array; sig: Uint8Array }> = [];
      for (let i = s; i < e; i++) records.push({ body: bodyOf(p, i), sig: sigOf(p, i) });
      body = new Uint8Array(encodeCbor({ records }));
    }
    const type = format === "json" ? "application/json" : "application/cbor";
    out.push({
      bytes: encodeRequest("POST", "/v1/assert/batch", host, type, body),
      path: "/v1/assert/batch",
      contentType: type,
      body,
      records: e - s,
    });
  }
  return out;
}

// ---------- ceilings measured in this process ----------

function verifyCeiling(p: PackedRecords, seeds: Uint8Array[], n: number) {
  const pubs: KeyObject[] = seeds.map((s) => crypto.createPublicKey(keyFromSeed(s).privateKey));
  const count = Math.min(n, p.keyIndex.length);
  const item = (i: number) => ({ id: idOf(p, i), sig: sigOf(p, i), key: pubs[p.keyIndex[i] as number] as KeyObject });
  const items = Array.from({ length: count }, (_, i) => item(i));
  let ok = 0;
  let t = performance.now();
  for (const it of items) if (crypto.verify(null, it.id, it.key, it.sig)) ok++;
  const syncPerS = count / ((performance.now() - t) / 1000);
  if (ok !== count) throw new Error(`verify ceiling: only ${ok}/${count} signatures verify; the records are wrong`);
  return async () => {
    t = performance.now();
    const cpu0 = process.cpuUsage();
    let okAsync = 0;
    await Promise.all(
      items.map(
        (it) =>
          new Promise<void>((resolve) =>
            crypto.verify(null, it.id, it.key, it.sig, (err, good) => {
              if (!err && good) okAsync++;
              resolve();
            }),
          ),
      ),
    );
    const asyncMs = performance.now() - t;
    const asyncCpuUsage = process.cpuUsage(cpu0);
    const asyncPerS = count / (asyncMs / 1000);
    const asyncCpu = (asyncCpuUsage.user + asyncCpuUsage.system) / 1000 / asyncMs;
    if (okAsync !== count) throw new Error(`verify ceiling (async): only ${okAsync}/${count} verify`);
    // One synchronous loop per core, on worker threads: what the machine can verify at most.
    const threads = os.availableParallelism();
    const publicKeys = seeds.map((s) => keyFromSeed(s).publicKey);
    const per = Math.ceil(count / threads);
    const w0 = performance.now();
    const parts = await Promise.all(
      Array.from({ length: threads }, (_, t) => {
        const from = t * per;
        const to = Math.min(count, from + per);
        return new Promise<{ ok: number; ms: number }>((resolve, reject) => {
          const worker = new Worker(new URL("./verify-worker.ts", import.meta.url).href);
          worker.onmessage = (e: MessageEvent<{ ok: number; ms: number }>) => {
            resolve(e.data);
            worker.terminate();
          };
          worker.onerror = (e) => reject(new Error(`verify worker failed: ${e.message}`));
          worker.postMessage({
            publicKeys,
            keyIndex: p.keyIndex.slice(from, to),
            ids: p.ids.slice(from * 32, to * 32),
            sigs: p.sigs.slice(from * 64, to * 64),
          });
        });
      }),
    );
    const okWorkers = parts.reduce((n, x) => n + x.ok, 0);
    if (okWorkers !== count) throw new Error(`verify ceiling (workers): only ${okWorkers}/${count} verify`);
    // Rate over the slowest worker's loop (thread start-up and key import excluded), and wall.
    const workersPerS = count / (Math.max(...parts.map((x) => x.ms)) / 1000);
    const workersWallPerS = count / ((performance.now() - w0) / 1000);
    return {
      records: count,
      sync_per_s: Math.round(syncPerS),
      callback_all_in_flight_per_s: Math.round(asyncPerS),
      callback_cores_used: round(asyncCpu, 2),
      worker_threads: threads,
      workers_sync_per_s: Math.round(workersPerS),
      workers_wall_per_s: Math.round(workersWallPerS),
    };
  };
}

/** Per-record cost, single-threaded, of the server's JS stages (same functions the server calls). */
function stageCosts(p: PackedRecords, n: number) {
  const count = Math.min(n, p.keyIndex.length);
  const time = (fn: () => void) => {
    fn(); // warm up
    const t = performance.now();
    fn();
    return round(((performance.now() - t) * 1000) / count, 2);
  };
  const jsonBatch = `{"records":[${p.json.slice(0, count).join(",")}]}`;
  const jsonBytes = new TextEncoder().encode(jsonBatch);
  const parsed = (JSON.parse(jsonBatch) as { records: unknown[] }).records;
  const cborRecords: Array<{ body: Uint8Array; sig: Uint8Array }> = [];
  for (let i = 0; i < count; i++) cborRecords.push({ body: bodyOf(p, i), sig: sigOf(p, i) });
  const cborBytes = new Uint8Array(encodeCbor({ records: cborRecords }));
  const dec = new Decoder({ mapsAsObjects: true, useRecords: false });
  const bodies = Array.from({ length: count }, (_, i) => bodyOf(p, i));
  return {
    records: count,
    us_per_record: {
      json_utf8_decode_and_parse: time(() => JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(jsonBytes))),
      json_validate_encode_hash: time(() => {
        for (const r of parsed) fromJsonSubmission(r);
      }),
      cbor_envelope_decode: time(() => dec.decode(cborBytes)),
      cbor_decode_validate_hash: time(() => {
        for (const r of cborRecords) fromCborSubmission(r.body, r.sig);
      }),
      blake3_id_only: time(() => {
        for (const b of bodies) recordId(b);
      }),
    },
    avg_body_bytes: Math.round(p.bodies.length / p.keyIndex.length),
  };
}

// ---------- main ----------

async function main(): Promise<number> {
  const started = new Date();
  const stamp = started.toISOString().replace(/[:.]/g, "-").replace(/Z$/, "");
  const benchDir = path.join(root, ".bench");
  const runDir = path.join(benchDir, `run-${stamp}`);
  fs.mkdirSync(runDir, { recursive: true });
  const machine = machineInfo(runDir);
  log(
    `machine: ${machine.nproc} cores, ${machine.cpu_model}, ${machine.memory_gb} GB, ${machine.kernel}; data dir ${runDir} on ${machine.data_dir_fs} (${machine.data_dir_device})${machine.tmp_is_tmpfs ? "; /tmp is tmpfs (not used)" : ""}`,
  );
  if ((os.loadavg()[0] ?? 0) > 0.5)
    log(
      `WARNING: load average ${os.loadavg()[0]?.toFixed(2)} before the run: something else is using the CPU; the numbers will be low and noisy`,
    );
  const want = (s: string) => cfg.scenarios.includes(s);

  // 1. Pre-sign everything.
  const seeds = benchSeeds(cfg.keys);
  const runTag = crypto.randomBytes(4).toString("hex");
  const layout: Array<[string, number]> = [
    ["sanity", cfg.sanityRecords],
    ["batch-json", want("batch-json") ? cfg.batchRecords : 0],
    ["batch-cbor", want("batch-cbor") ? cfg.batchRecords : 0],
    ["single-json", want("single-json") ? cfg.singleRecords : 0],
    ["nosync-sanity", cfg.sanityRecords],
    ["single-json-nosync", want("single-json-nosync") ? cfg.singleRecords : 0],
  ];
  const ranges = new Map<string, [number, number]>();
  let total = 0;
  for (const [name, n] of layout) {
    ranges.set(name, [total, total + n]);
    total += n;
  }
  const range = (name: string) => ranges.get(name) as [number, number];
  let t = performance.now();
  const packed = await signParallel(seeds, 0, total, runTag, Date.now() - total - 60_000, os.availableParallelism());
  const prepSeconds = (performance.now() - t) / 1000;
  log(
    `pre-signed ${total} records with ${cfg.keys} keys in ${round(prepSeconds, 1)} s (${Math.round(total / prepSeconds)}/s on ${os.availableParallelism()} threads)`,
  );

  // 2. Ceilings, measured while no server runs.
  const ceilingSample = Math.min(20_000, total);
  const asyncCeiling = verifyCeiling(packed, seeds, ceilingSample);
  const verify = await asyncCeiling();
  log(
    `native Ed25519 verify: ${verify.sync_per_s}/s sync loop, ${verify.callback_all_in_flight_per_s}/s callbacks all in flight (${verify.callback_cores_used} cores busy), ${verify.workers_sync_per_s}/s sync loops on ${verify.worker_threads} worker threads (${verify.records} records)`,
  );
  const stages = stageCosts(packed, Math.min(5000, total));
  log(`server JS stages, µs/record single-threaded: ${JSON.stringify(stages.us_per_record)}`);

  // 3. Pre-encode every request.
  t = performance.now();
  const host = "127.0.0.1";
  const built = {
    batchJson: batchReqs(packed, ...range("batch-json"), cfg.batchSize, "json", host),
    batchCbor: batchReqs(packed, ...range("batch-cbor"), cfg.batchSize, "cbor", host),
    single: singleJsonReqs(packed, ...range("single-json"), host),
    singleNosync: singleJsonReqs(packed, ...range("single-json-nosync"), host),
  };
  log(`pre-encoded requests in ${round((performance.now() - t) / 1000, 1)} s`);

  const results: ScenarioResult[] = [];
  const problems: string[] = [];
  const profileDir = cfg.profile ? path.join(runDir, "profile") : null;

  // 4. Durable server.
  const runServer = async (
    sync: "batch" | "none",
    sanityName: string,
    plan: Array<{ name: string; reqs: Req[]; conc: number; format: "json" | "cbor"; per: number }>,
  ) => {
    const server = await startServer(sync, path.join(runDir, `data-sync-${sync}`), profileDir);
    log(`server pid ${server.pid} on ${server.url} (--sync=${sync})`);
    let expected = (await health(server)).lsn;
    // Sanity before timing: every answer must be 201 accepted (single and both batch formats),
    // and a resubmission must come back as a 200 duplicate.
    const [sFrom, sTo] = range(sanityName);
    const third = Math.floor((sTo - sFrom) / 3);
    const sanityReqs = [
      ...singleJsonReqs(packed, sFrom, sFrom + third, host),
      ...batchReqs(packed, sFrom + third, sFrom + 2 * third, third, "json", host),
      ...batchReqs(packed, sFrom + 2 * third, sTo, sTo - sFrom - 2 * third, "cbor", host),
    ];
    const { senders, close } = await makeSenders(server, 1);
    const send = senders[0] as Sender;
    const o = newOutcome();
    for (const r of sanityReqs) {
      const res = await send(r);
      if (r.path === "/v1/assert" && res.status !== 201)
        problems.push(`sanity: single answered ${res.status}, expected 201: ${res.body.toString().slice(0, 300)}`);
      tally(o, r, res, true);
    }
    const dup = await send(sanityReqs[0] as Req);
    const dupBody = JSON.parse(dup.body.toString()) as { duplicate?: boolean };
    if (dup.status !== 200 || dupBody.duplicate !== true)
      problems.push(`sanity: resubmission answered ${dup.status} ${dup.body.toString().slice(0, 200)}, expected 200 duplicate`);
    close();
    if (o.acked !== sTo - sFrom || o.non2xx.size > 0 || o.rejected > 0) {
      problems.push(
        `sanity: ${o.acked}/${sTo - sFrom} accepted; non-2xx ${JSON.stringify(Object.fromEntries(o.non2xx))}; rejected ${o.rejected}; ${o.samples.join(" | ")}`,
      );
    }
    expected += o.acked;
    const h = await health(server);
    if (h.lsn !== expected) problems.push(`sanity: server lsn ${h.lsn}, expected ${expected}`);
    log(
      `sanity on --sync=${sync}: ${o.acked} records accepted (single, JSON batch, CBOR batch), duplicate resubmission OK, lsn ${h.lsn}`,
    );
    if (problems.length > 0) {
      await stopServer(server);
      return;
    }
    for (const step of plan) {
      if (step.reqs.length === 0) continue;
      const r = await runScenario(step.name, server, step.reqs, step.conc, expected, {
        durable: sync === "batch",
        format: step.format,
        perRequest: step.per,
      });
      expected = r.server_lsn_after;
      results.push(r);
      if (!r.lsn_matches)
        problems.push(`${step.name}: server lsn ${r.server_lsn_after} but ${r.server_lsn_expected} acknowledged`);
      if (Object.keys(r.non_2xx).length > 0 || r.rejected_in_batch > 0)
        problems.push(
          `${step.name}: non-2xx ${JSON.stringify(r.non_2xx)}, rejected ${r.rejected_in_batch}: ${r.error_samples.join(" | ")}`,
        );
      await Bun.sleep(500); // let the index settle between scenarios
    }
    const code = await stopServer(server);
    if (code !== 0) problems.push(`server --sync=${sync} exited with ${code}; see ${server.logFile}.err`);
  };

  await runServer("batch", "sanity", [
    { name: "batch-json", reqs: built.batchJson, conc: cfg.batchConcurrency, format: "json", per: cfg.batchSize },
    { name: "batch-cbor", reqs: built.batchCbor, conc: cfg.batchConcurrency, format: "cbor", per: cfg.batchSize },
    { name: "single-json", reqs: built.single, conc: cfg.singleConcurrency, format: "json", per: 1 },
  ]);
  if (problems.length === 0 && built.singleNosync.length > 0) {
    await runServer("none", "nosync-sanity", [
      { name: "single-json-nosync", reqs: built.singleNosync, conc: cfg.singleConcurrency, format: "json", per: 1 },
    ]);
  }

  // 5. Report.
  const goalOf = (r: ScenarioResult): string => {
    if (!r.durable) return "(not durable: comparison only)";
    if (r.records_per_request > 1)
      return `goal ≥ ${goals.batchRecordsPerSec.toLocaleString("en")}/s: ${r.records_per_s >= goals.batchRecordsPerSec ? "MET" : "not met"}`;
    const tp = r.records_per_s >= goals.singleRecordsPerSec;
    const p99 = r.p99_ms < goals.singleP99Ms;
    return `goal ≥ ${goals.singleRecordsPerSec.toLocaleString("en")}/s: ${tp ? "MET" : "not met"}; p99 < ${goals.singleP99Ms} ms: ${p99 ? "MET" : "not met"}`;
  };
  const label = (r: ScenarioResult) =>
    `${r.scenario}${r.durable ? "" : " (NON-DURABLE)"} [${r.records_per_request}/req, c=${r.concurrency}]`;
  const rows = [
    [
      "scenario",
      "records",
      "seconds",
      "records/s",
      "p50 ms",
      "p99 ms",
      "RSS MB",
      "srv cores",
      "gen cores",
      "non-2xx",
      "lsn ok",
      "vs goal",
    ],
    ...results.map((r) => [
      label(r),
      String(r.records),
      String(r.seconds),
      r.records_per_s.toLocaleString("en"),
      String(r.p50_ms),
      String(r.p99_ms),
      String(r.server_rss_peak_mb),
      String(r.server_cores_used),
      String(r.loadgen_cores_used),
      String(Object.values(r.non_2xx).reduce((a, b) => a + b, 0) + r.rejected_in_batch),
      r.lsn_matches ? "yes" : "NO",
      goalOf(r),
    ]),
  ];
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((row) => (row[c] ?? "").length))) ?? [];
  const fmt = (row: string[]) =>
    row
      .map((cell, c) => (c === 0 || c === row.length - 1 ? cell.padEnd(widths[c] ?? 0) : cell.padStart(widths[c] ?? 0)))
      .join("  ");
  console.log("");
  console.log(
    `StemeDB ingest benchmark — ${started.toISOString()} — ${machine.nproc} × ${machine.cpu_model}, data on ${machine.data_dir_fs}, client ${cfg.client}`,
  );
  console.log(fmt(rows[0] as string[]));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const row of rows.slice(1)) console.log(fmt(row));
  console.log("");
  console.log(
    `native Ed25519 verify ceiling (this process, ${verify.records} records): ${verify.sync_per_s.toLocaleString("en")}/s sync loop, ${verify.callback_all_in_flight_per_s.toLocaleString("en")}/s callback API all in flight (${verify.callback_cores_used} cores busy), ${verify.workers_sync_per_s.toLocaleString("en")}/s sync loops on ${verify.worker_threads} worker threads`,
  );
  console.log(
    `server JS stages (µs per record, one thread): ${Object.entries(stages.us_per_record)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")}; body ${stages.avg_body_bytes} B`,
  );
  console.log(
    `goals: batch ≥ ${goals.batchRecordsPerSec.toLocaleString("en")} records/s, single ≥ ${goals.singleRecordsPerSec.toLocaleString("en")} records/s with p99 < ${goals.singleP99Ms} ms (durable, --sync=batch)`,
  );
  if (profileDir) console.log(`CPU profiles (markdown): ${profileDir}`);

  const out = {
    date: started.toISOString(),
    command: `bun bench/ingest.ts ${process.argv.slice(2).join(" ")}`.trim(),
    config: cfg,
    machine,
    prep: { records: total, keys: cfg.keys, seconds: round(prepSeconds, 2) },
    verify_ceiling: verify,
    server_stages_us_per_record: stages,
    goals,
    results,
    loadavg_at_end: os.loadavg().map((x) => round(x, 2)),
    problems,
  };
  const outFile = path.join(benchDir, `ingest-${stamp}.json`);
  fs.writeFileSync(outFile, `${JSON.stringify(out, null, 2)}\n`);
  console.log(`results: ${path.relative(process.cwd(), outFile)}`);
  if (!process.env.BENCH_KEEP) {
    // The data goes; the profiles it printed the path of stay.
    for (const name of fs.readdirSync(runDir))
      if (path.join(runDir, name) !== profileDir) fs.rmSync(path.join(runDir, name), { recursive: true, force: true });
    if (profileDir === null) fs.rmSync(runDir, { recursive: true, force: true });
  }
  if (problems.length > 0) {
    console.log("\nPROBLEMS (the numbers above are not trustworthy):");
    for (const p of problems) console.log(`  - ${p}`);
    return 1;
  }
  return 0;
}

process.exitCode = await main();
