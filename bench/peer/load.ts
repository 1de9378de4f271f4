/**
 * The load generator of `make bench-peer`, the same for both servers: pre-encoded HTTP/1.1
 * requests over keep-alive connections (bench/http.ts), connections spread round-robin over
 * the server's ports, and the servers' processes watched from /proc (CPU, RSS, PSS).
 */
import fs from "node:fs";
import { RawConnection, type RawResponse } from "../http.ts";

export const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

export function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}

const clkTck = Number(Bun.spawnSync(["getconf", "CLK_TCK"]).stdout.toString().trim()) || 100;

/** utime+stime of a process (or, with `tid`, of one of its threads), seconds (0 once it is gone). */
export function cpuSeconds(pid: number, tid?: number): number {
  try {
    const stat = fs.readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / clkTck;
  } catch {
    return 0;
  }
}

/** CPU seconds the whole machine spent busy (all cores, /proc/stat: everything but idle and iowait). */
export function machineBusySeconds(): number {
  const f = (fs.readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "").trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return (total - (f[3] ?? 0) - (f[4] ?? 0)) / clkTck;
}

/** Resident and proportional set of a process, bytes (PSS shares shared pages out fairly). */
export function memoryOf(pid: number): { rss: number; pss: number } {
  try {
    const text = fs.readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s*(\\d+)`, "m").exec(text)?.[1] ?? 0) * 1024;
    return { rss: kb("Rss"), pss: kb("Pss") };
  } catch {
    return { rss: 0, pss: 0 };
  }
}

/** Peak of the summed RSS and PSS of a set of processes (re-listed at each sample), every second. */
export class MemorySampler {
  peakRss = 0;
  peakPss = 0;
  private timer: ReturnType<typeof setInterval> | null = null;
  constructor(private readonly pids: () => number[]) {}
  sample(): { rss: number; pss: number } {
    let rss = 0;
    let pss = 0;
    for (const p of this.pids()) {
      const m = memoryOf(p);
      rss += m.rss;
      pss += m.pss;
    }
    this.peakRss = Math.max(this.peakRss, rss);
    this.peakPss = Math.max(this.peakPss, pss);
    return { rss, pss };
  }
  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), 1000);
  }
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.sample();
  }
}

export interface PhaseResult {
  requests: number;
  /** Requests answered as the phase expects (2xx, records acknowledged as new). */
  ok: number;
  records: number;
  seconds: number;
  per_s: number;
  requests_per_s: number;
  p50_ms: number;
  p99_ms: number;
  server_cores: number;
  loadgen_cores: number;
  /** 503 answers (load shed) retried after their Retry-After. */
  shed_retries: number;
  /** The first server process's main thread (JS's event loop), in cores: 1 is a thread that cannot go faster. */
  main_thread_cores: number;
  /** Cores busy with anything else on the machine meanwhile (other sessions' work): noise. */
  other_cores: number;
  errors: string[];
}

/** What a phase makes of one answer: the records it acknowledged as new, or an error. */
export type Judge = (res: RawResponse, index: number) => { records: number } | { error: string };

export interface Phase {
  requests: Uint8Array[];
  concurrency: number;
  /** Stop after this long (the requests may run out first). */
  seconds: number;
  judge: Judge;
}

/** Sends the requests, `concurrency` at a time, each connection to the next port in turn. */
export async function drive(ports: number[], pids: () => number[], phase: Phase): Promise<PhaseResult> {
  const conns = await Promise.all(
    Array.from({ length: phase.concurrency }, (_, i) => RawConnection.open("127.0.0.1", ports[i % ports.length] as number)),
  );
  const latencies = new Float64Array(phase.requests.length);
  const errors: string[] = [];
  let next = 0;
  let done = 0;
  let ok = 0;
  let records = 0;
  let shed = 0;
  const cpu0 = pids().reduce((s, p) => s + cpuSeconds(p), 0);
  const self0 = process.cpuUsage();
  const busy0 = machineBusySeconds();
  const main = pids()[0] as number;
  const main0 = cpuSeconds(main, main);
  const t0 = performance.now();
  const deadline = t0 + phase.seconds * 1000;
  await Promise.all(
    conns.map(async (conn) => {
      while (next < phase.requests.length && performance.now() < deadline) {
        const i = next++;
        const started = performance.now();
        let res = await conn.request(phase.requests[i] as Uint8Array);
        // A server shedding load (503, retry_after_s) is retried as a client would: the wait counts.
        for (let tries = 0; res.status === 503 && tries < 10; tries++) {
          shed++;
          await Bun.sleep(Math.min(5, Number(/"retry_after_s":\s*(\d+)/.exec(res.body.toString("latin1"))?.[1] ?? 1)) * 1000);
          res = await conn.request(phase.requests[i] as Uint8Array);
        }
        latencies[done++] = performance.now() - started;
        const verdict = phase.judge(res, i);
        if ("error" in verdict) {
          if (errors.length < 5) errors.push(verdict.error);
        } else {
          ok++;
          records += verdict.records;
        }
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const self = process.cpuUsage(self0);
  const cpu1 = pids().reduce((s, p) => s + cpuSeconds(p), 0);
  const busy = machineBusySeconds() - busy0;
  const mainSeconds = cpuSeconds(main, main) - main0;
  const selfSeconds = (self.user + self.system) / 1e6;
  for (const c of conns) c.close();
  const lat = latencies.subarray(0, done).sort();
  return {
    requests: done,
    ok,
    records,
    seconds: round(seconds, 2),
    per_s: Math.round(records / seconds),
    requests_per_s: Math.round(done / seconds),
    p50_ms: round(quantile(lat, 0.5), 2),
    p99_ms: round(quantile(lat, 0.99), 2),
    server_cores: round((cpu1 - cpu0) / seconds, 2),
    loadgen_cores: round(selfSeconds / seconds, 2),
    main_thread_cores: round(mainSeconds / seconds, 2),
    shed_retries: shed,
    other_cores: round(Math.max(0, busy - (cpu1 - cpu0) - selfSeconds) / seconds, 2),
    errors,
  };
}

const text = (res: RawResponse) => res.body.toString("utf8").slice(0, 300);

/** A batch answer `{results: [{status, duplicate} | {error}]}`: new records count. */
export const judgeBatch: Judge = (res) => {
  if (res.status !== 200) return { error: `${res.status} ${text(res)}` };
  const b = JSON.parse(res.body.toString("utf8")) as {
    results: Array<{ status?: string; duplicate?: boolean; error?: unknown }>;
  };
  let records = 0;
  for (const r of b.results) {
    if (r.error !== undefined || r.status !== "accepted")
      return { error: `rejected in batch: ${JSON.stringify(r).slice(0, 300)}` };
    if (!r.duplicate) records++;
  }
  return { records };
};

/** A single write: 201 is a new record. */
export const judgeSingle: Judge = (res) => (res.status === 201 ? { records: 1 } : { error: `${res.status} ${text(res)}` });

/** A query: 200 with a winner (the answer is parsed in one of `every`; the cross-check parses all). */
export function judgeQuery(every: number): Judge {
  return (res, i) => {
    if (res.status !== 200) return { error: `${res.status} ${text(res)}` };
    if (i % every !== 0) return { records: 1 };
    const a = JSON.parse(res.body.toString("utf8")) as { winner?: { id?: string } | null };
    return typeof a.winner?.id === "string" ? { records: 1 } : { error: `no winner: ${text(res)}` };
  };
}
