/**
 * Where a cold query's CPU goes on the query-worker path (issue 14, item 1; docs/BENCHMARKS.md,
 * "The cold read path"), measured in one process so the machine's noise does not swamp it:
 *
 *   bun bench/cold-stages.ts DATA_DIR thread   # a worker's resolve loop on this thread, stage by stage
 *   bun bench/cold-stages.ts DATA_DIR pool     # real query workers (resolver-worker.ts) fed from this thread
 *
 * DATA_DIR is a store made by bench/memory.ts (BENCH_KEEP=1) or bench/claims.ts, not in use by
 * a server. Settings (environment): COLD_QUERIES (default 20,000, at most one per pair),
 * COLD_WORKERS (pool: default 2), COLD_INFLIGHT (pool: default 32), COLD_CACHE_KIB (the
 * connection's SQLite page cache, default 16,384: a worker's share of the default), COLD_LENS
 * (default consensus). Run `thread` under `bun --cpu-prof-md` for the function-level profile.
 */
import fs from "node:fs";
import path from "node:path";
import { GatherCache } from "../src/query/gather.ts";
import { type AnswerSummary, answerNow, type QueryRequest, summaryOf } from "../src/query/query.ts";
import type { FromWorker, QueryItem, ToWorker } from "../src/query/resolver-wire.ts";
import { WorkerStore } from "../src/query/worker-store.ts";
import { shuffled } from "./claims.ts";
import { pairKey, predicates } from "./claims.ts";
import { envInt, round } from "./serve-proc.ts";

const [dataDir, mode = "thread"] = process.argv.slice(2);
if (!dataDir || !["thread", "pool", "threads2"].includes(mode)) {
  console.error("usage: bun bench/cold-stages.ts DATA_DIR thread|pool");
  process.exit(2);
}
const indexPath = path.join(dataDir, "index.sqlite");
const logDir = path.join(dataDir, "log");
const authorities = JSON.parse(fs.readFileSync(path.join(dataDir, "authorities.json"), "utf8")) as string[];
const cacheKiB = envInt("COLD_CACHE_KIB", 16 * 1024);
const lens = process.env.COLD_LENS ?? "consensus";

/** Pairs in the store: from the index's row count (bench/claims.ts: `perPair` assertions a pair). */
function pairsIn(store: WorkerStore): number {
  const sqlite = (store.index as unknown as { sqlite: import("bun:sqlite").Database }).sqlite;
  const row = sqlite.query("SELECT count(*) AS n FROM subjects").get() as { n: number };
  return row.n * predicates.length;
}

const threadCpuS = (tid = process.pid) => {
  const fields = (fs.readFileSync(`/proc/${process.pid}/task/${tid}/stat`, "utf8").split(") ")[1] ?? "").split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
};
/** CPU seconds of each thread of this process, by "tid name". */
const tasksCpuS = () => {
  const out = new Map<string, number>();
  for (const tid of fs.readdirSync(`/proc/${process.pid}/task`)) {
    try {
      const stat = fs.readFileSync(`/proc/${process.pid}/task/${tid}/stat`, "utf8");
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      out.set(`${tid} ${name}`, threadCpuS(Number(tid)));
    } catch {}
  }
  return out;
};
const processCpuS = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

const lensOrder = ["consensus", "authority", "recency", "vote", "skeptic"];

/** The k-th query: each pair once with COLD_LENS, then (pool, past the pairs) once with each other lens, as bench/memory.ts asks. */
function queryOf(k: number, pairs: number, order: Uint32Array): QueryRequest {
  const { subject, predicate } = pairKey(order[k % pairs] as number);
  const round = Math.floor(k / pairs);
  const others = lensOrder.filter((l) => l !== lens);
  return { subject, predicate, lenses: [round === 0 ? lens : (others[(round - 1) % others.length] as string)] };
}

/** The worker's `answer` (resolver-worker.ts), each stage timed. */
function thread(): void {
  const store = new WorkerStore({ indexPath, logDir, authorities, cacheKiB });
  const cache = new GatherCache(store, 32 * 1024 * 1024);
  const pairs = pairsIn(store);
  const n = Math.min(envInt("COLD_QUERIES", 20_000), pairs);
  const order = shuffled(pairs);
  const trust = { trustOf: (_agent: string) => 0, lsn: 0 };
  const t = { txn: 0, read: 0, reads: 0, answer: 0, stringify: 0, clone: 0, depsParse: 0 };
  const realRead = store.read.bind(store);
  store.read = (loc) => {
    const s = performance.now();
    try {
      return realRead(loc);
    } finally {
      t.read += performance.now() - s;
      t.reads++;
    }
  };
  // An empty read transaction: BEGIN, the checkpoint row, COMMIT.
  const warm = 2000;
  for (let i = 0; i < warm; i++) store.index.readAt(() => null);
  let s = performance.now();
  for (let i = 0; i < n; i++) store.index.readAt(() => null);
  t.txn = performance.now() - s;
  const cpu0 = processCpuS();
  const w0 = performance.now();
  for (let i = 0; i < n; i++) {
    const q = queryOf(i, pairs, order);
    s = performance.now();
    const { answers, deps } = store.index.readAt(() => answerNow(store, q, trust, cache));
    const a = performance.now();
    const texts: Record<string, string> = {};
    const summaries: Record<string, AnswerSummary> = {};
    for (const [l, answer] of Object.entries(answers)) {
      texts[l] = JSON.stringify(answer);
      summaries[l] = summaryOf(answer);
    }
    const m = { type: "answer", seq: i, answers: texts, summaries, deps: JSON.stringify(deps) };
    const b = performance.now();
    structuredClone(m);
    const c = performance.now();
    JSON.parse(m.deps);
    t.depsParse += performance.now() - c;
    t.answer += a - s;
    t.stringify += b - a;
    t.clone += c - b;
  }
  const wall = performance.now() - w0;
  const cpu = processCpuS() - cpu0;
  const us = (ms: number) => round((ms * 1000) / n);
  console.log(
    JSON.stringify({
      mode,
      queries: n,
      cache_kib: cacheKiB,
      wall_us_per_query: us(wall),
      cpu_us_per_query: round((cpu * 1e6) / n),
      empty_read_txn_us: us(t.txn),
      answer_in_txn_us: us(t.answer),
      of_which_checked_reads_us: us(t.read),
      reads_per_query: round(t.reads / n),
      stringify_and_summary_us: us(t.stringify),
      structured_clone_of_message_us: us(t.clone),
      deps_parse_us: us(t.depsParse),
      record_cache: { hits: cache.decoded.hits, misses: cache.decoded.misses },
    }),
  );
  store.close();
}

/** Real query workers, `COLD_INFLIGHT` queries in flight, answered as the pool does (deps parsed). */
async function pool(): Promise<void> {
  const workers = envInt("COLD_WORKERS", 2);
  const inflight = envInt("COLD_INFLIGHT", 32);
  const probe = new WorkerStore({ indexPath, logDir, authorities, cacheKiB: 1024 });
  const pairs = pairsIn(probe);
  probe.close();
  const n = Math.min(envInt("COLD_QUERIES", 20_000), pairs * lensOrder.length);
  const order = shuffled(pairs);
  const open: ToWorker = {
    type: "open",
    store: { indexPath, logDir, authorities, cacheKiB },
    recordCacheBytes: 32 * 1024 * 1024,
  };
  const slots = Array.from({ length: workers }, () => {
    const w = new Worker(new URL("../src/query/resolver-worker.ts", import.meta.url).href);
    w.postMessage(open);
    w.postMessage({ type: "trust", agents: [] } satisfies ToWorker);
    w.onerror = (e) => {
      console.error(`a worker failed: ${e.message}`);
      process.exit(1);
    };
    return { w, inFlight: 0, outbox: [] as QueryItem[], opened: new Promise<void>((r) => (w.onmessage = () => r())) };
  });
  await Promise.all(slots.map((s) => s.opened));
  const warm = envInt("COLD_WARM", Math.min(2000, Math.floor(n / 10)));
  let next = 0;
  let done = 0;
  let mark: { cpu: number; main: number; t: number; tasks: Map<string, number> } | null = null;
  let mainRecv = 0;
  await new Promise<void>((finished) => {
    // As the pool does: the queries of one turn go to a worker in one message (resolver-pool.ts).
    let flushing = false;
    const flush = () => {
      flushing = false;
      for (const s of slots) {
        if (s.outbox.length === 0) continue;
        s.w.postMessage({ type: "queries", items: s.outbox } satisfies ToWorker);
        s.outbox = [];
      }
    };
    const send = () => {
      if (next >= n) return;
      let slot = slots[0] as (typeof slots)[number];
      for (const s of slots) if (s.inFlight < slot.inFlight) slot = s;
      slot.inFlight++;
      const k = next++;
      slot.outbox.push({ seq: k, q: queryOf(k, pairs, order), trustLsn: 0 });
      if (!flushing) {
        flushing = true;
        setImmediate(flush);
      }
    };
    for (const s of slots)
      s.w.onmessage = (e: MessageEvent<FromWorker>) => {
        const m = e.data;
        if (m.type !== "settled") throw new Error(`worker: ${JSON.stringify(m)}`);
        for (const item of m.items) {
          const r0 = performance.now();
          if (item.type === "answer") JSON.parse(item.deps);
          else throw new Error(`worker: ${JSON.stringify(item)}`);
          mainRecv += performance.now() - r0;
          s.inFlight--;
          if (++done === warm) mark = { cpu: processCpuS(), main: threadCpuS(), t: performance.now(), tasks: tasksCpuS() };
          if (done === n) finished();
          else send();
        }
      };
    for (let i = 0; i < inflight; i++) send();
  });
  const m = mark as unknown as { cpu: number; main: number; t: number; tasks: Map<string, number> };
  const threads: Record<string, number> = {};
  for (const [task, cpuS] of tasksCpuS()) {
    const us = round(((cpuS - (m.tasks.get(task) ?? 0)) * 1e6) / (n - warm));
    if (us > 0) threads[task] = us;
  }
  const measured = n - warm;
  const cpu = processCpuS() - m.cpu;
  const main = threadCpuS() - m.main;
  const wall = (performance.now() - m.t) / 1000;
  console.log(
    JSON.stringify({
      mode,
      workers,
      inflight,
      queries: measured,
      cache_kib: cacheKiB,
      queries_per_s: Math.round(measured / wall),
      cpu_us_per_query: round((cpu * 1e6) / measured),
      main_thread_cpu_us_per_query: round((main * 1e6) / measured),
      main_receive_us_per_query: round((mainRecv * 1000) / n),
      threads_cpu_us_per_query: threads,
    }),
  );
  for (const s of slots) s.w.terminate();
}

if (mode === "thread" || !Bun.isMainThread) thread();
else if (mode === "threads2") {
  // Two resolve loops at once in one process, each on its own worker thread, no messages.
  const ws = [0, 1].map(() => new Worker(new URL(import.meta.url).href, { argv: [dataDir, "thread"] } as WorkerOptions));
  await Promise.all(ws.map((w) => new Promise((r) => w.addEventListener("close", r))));
} else await pool();
