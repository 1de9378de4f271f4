/**
 * `make bench-cluster`: three real cluster nodes on this machine (docs/CLUSTER.md, SPEC's flags:
 * `serve --cluster-bind … --join … --cluster-key-file … --replication-factor 2`) and one
 * single node beside them, all durable (`--sync=batch`):
 *
 * 1. **ingest**: the same number of pre-signed assertions (CBOR batches of 1,000, 4 in flight)
 *    into the single node, then through the three cluster nodes round-robin — twice, alternating,
 *    with fresh records each time. The figure is the ratio cluster / single: with RF 2 every
 *    assertion is written twice, and all four processes share the machine's cores.
 * 2. **replication lag** at a steady `--rate` (2,000 records/s by default) of single-record
 *    writes spread over the three nodes for `--seconds`: the nodes' own
 *    `stemedb_replication_lag_seconds` (acknowledged on the first replica → durable on the
 *    second), read from /metrics before and after, p50 and p99 from the histogram's buckets.
 * 3. **sync**: a fourth node joins the loaded cluster; the time until it holds every shard it
 *    gained in sync (`GET /v1/cluster/shards?local=1`), and the records it fetched.
 *
 *   bun bench/cluster.ts [--records N] [--preload N] [--rate R] [--seconds S]
 *
 * Environment: BENCH_RECORDS, BENCH_PRELOAD (records in the cluster before the fourth node
 * joins; 1,000,000 is the goal, 200,000 the default on a 2-core machine), BENCH_RATE,
 * BENCH_SECONDS. Every node is `stemedb serve` (the source, through bun).
 */
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import type { Subprocess } from "bun";
import { encode as encodeCbor } from "cbor-x";
import { encodeRequest, RawConnection } from "./http.ts";
import { benchSeeds, bodyOf, type PackedRecords, sigOf, signParallel } from "./records.ts";

const root = path.resolve(import.meta.dir, "..");
const bun = process.execPath;
const { values: flags } = parseArgs({
  args: process.argv.slice(2),
  options: { records: { type: "string" }, preload: { type: "string" }, rate: { type: "string" }, seconds: { type: "string" } },
});
const num = (flag: string | undefined, env: string, dflt: number) => Number(flag ?? process.env[env] ?? dflt);
const cfg = {
  records: num(flags.records, "BENCH_RECORDS", 100_000),
  preload: num(flags.preload, "BENCH_PRELOAD", 200_000),
  rate: num(flags.rate, "BENCH_RATE", 2000),
  seconds: num(flags.seconds, "BENCH_SECONDS", 20),
};
const log = (m: string) => console.error(`[bench-cluster] ${m}`);
const loadavg = () =>
  os
    .loadavg()
    .map((x) => x.toFixed(1))
    .join(" ");

interface Node {
  name: string;
  proc: Subprocess;
  url: string;
  port: number;
  cport: number;
}

const procs: Subprocess[] = [];
const runDir = path.join(root, ".bench", `cluster-${new Date().toISOString().replace(/[:.]/g, "-")}`);

function freePort(): number {
  const s = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") });
  const p = s.port as number;
  s.stop(true);
  return p;
}

async function waitReady(url: string, proc: Subprocess): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (proc.exitCode !== null) throw new Error(`${url} exited with ${proc.exitCode}`);
    try {
      const r = await fetch(`${url}/v1/ready`);
      await r.arrayBuffer();
      if (r.status === 200) return;
    } catch {
      // not yet
    }
    await Bun.sleep(100);
  }
  throw new Error(`${url} not ready`);
}

async function startNode(name: string, keyFile: string | null, join: Node | null): Promise<Node> {
  const dir = path.join(runDir, name);
  const port = freePort();
  const cport = freePort();
  const cluster = keyFile
    ? [
        "--cluster-bind",
        `127.0.0.1:${cport}`,
        "--cluster-key-file",
        keyFile,
        "--node-name",
        name,
        "--replication-factor",
        "2",
        ...(join ? ["--join", `127.0.0.1:${join.cport}`] : []),
      ]
    : [];
  const proc = Bun.spawn(
    [
      bun,
      path.join(root, "src/main.ts"),
      "serve",
      "--data-dir",
      dir,
      "--bind",
      `127.0.0.1:${port}`,
      "--log-level",
      "warn",
      ...cluster,
    ],
    { stdout: "ignore", stderr: "inherit" },
  );
  procs.push(proc);
  const node = { name, proc, url: `http://127.0.0.1:${port}`, port, cport };
  await waitReady(node.url, proc);
  return node;
}

async function settled(nodes: Node[]): Promise<boolean> {
  for (const n of nodes) {
    const local = (await (await fetch(`${n.url}/v1/cluster/shards?local=1`)).json()) as { shards?: Array<{ state: string }> };
    if (!local.shards || local.shards.some((s) => s.state === "syncing")) return false;
  }
  return true;
}

async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const started = performance.now();
  while (performance.now() - started < timeoutMs) {
    if (await check().catch(() => false)) return performance.now() - started;
    await Bun.sleep(100);
  }
  throw new Error("timed out");
}

/** CBOR batch requests of 1,000 records each, pre-encoded, round-robin over `targets`. */
function batches(p: PackedRecords, from: number, count: number, targets: Node[]): Array<{ node: Node; bytes: Uint8Array }> {
  const out: Array<{ node: Node; bytes: Uint8Array }> = [];
  for (let i = from, k = 0; i < from + count; i += 1000, k++) {
    const records = [];
    for (let j = i; j < Math.min(i + 1000, from + count); j++) records.push({ body: bodyOf(p, j), sig: sigOf(p, j) });
    const node = targets[k % targets.length] as Node;
    out.push({
      node,
      bytes: encodeRequest("POST", "/v1/assert/batch", `127.0.0.1:${node.port}`, "application/cbor", encodeCbor({ records })),
    });
  }
  return out;
}

async function ingest(reqs: Array<{ node: Node; bytes: Uint8Array }>, records: number): Promise<number> {
  const conns = new Map<string, RawConnection[]>();
  for (const r of reqs)
    if (!conns.has(r.node.name))
      conns.set(r.node.name, await Promise.all([0, 1, 2, 3].map(() => RawConnection.open("127.0.0.1", r.node.port))));
  let next = 0;
  const started = performance.now();
  await Promise.all(
    [0, 1, 2, 3].map(async (w) => {
      while (next < reqs.length) {
        const r = reqs[next++] as { node: Node; bytes: Uint8Array };
        const res = await (conns.get(r.node.name) as RawConnection[])[w]?.request(r.bytes);
        if (res?.status !== 200) throw new Error(`batch answered ${res?.status}: ${res?.body.toString().slice(0, 200)}`);
      }
    }),
  );
  return records / ((performance.now() - started) / 1000);
}

/** Per shard, the replicas the shard table names report the same root (`?local=1`). */
async function rootsAgree(nodes: Node[]): Promise<boolean> {
  const table = (await (await fetch(`${nodes[0]?.url}/v1/cluster/shards`)).json()) as {
    shards: Array<{ id: number; replicas: string[] }>;
  };
  const roots = new Map<number, Set<string>>();
  for (const n of nodes) {
    const local = (await (await fetch(`${n.url}/v1/cluster/shards?local=1`)).json()) as {
      shards: Array<{ id: number; root: string }>;
    };
    for (const s of local.shards) {
      if (!table.shards[s.id]?.replicas.includes(n.name)) continue;
      roots.set(s.id, (roots.get(s.id) ?? new Set()).add(s.root));
    }
  }
  return table.shards.every((s) => (roots.get(s.id)?.size ?? 0) === 1);
}

/** Pushes dropped (anti-entropy repairs them), all nodes together, by reason. */
async function droppedPushes(nodes: Node[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const n of nodes) {
    const text = await (await fetch(`${n.url}/metrics`)).text();
    for (const m of text.matchAll(/^stemedb_replication_dropped_total\{[^}]*reason="([^"]+)"[^}]*\} (\d+)/gm))
      out[m[1] as string] = (out[m[1] as string] ?? 0) + Number(m[2]);
  }
  return out;
}

/** The lag histogram's buckets summed over every node: cumulative counts by upper bound. */
async function lagBuckets(nodes: Node[]): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  for (const n of nodes) {
    const text = await (await fetch(`${n.url}/metrics`)).text();
    for (const m of text.matchAll(/^stemedb_replication_lag_seconds_bucket\{[^}]*le="([^"]+)"[^}]*\} (\d+)/gm)) {
      const le = m[1] === "+Inf" ? Number.POSITIVE_INFINITY : Number(m[1]);
      out.set(le, (out.get(le) ?? 0) + Number(m[2]));
    }
  }
  return out;
}

function quantile(before: Map<number, number>, after: Map<number, number>, q: number): string {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const counts = bounds.map((b) => (after.get(b) ?? 0) - (before.get(b) ?? 0));
  const total = counts[counts.length - 1] ?? 0;
  if (total === 0) return "n/a";
  const want = q * total;
  let prevBound = 0;
  let prevCount = 0;
  for (let i = 0; i < bounds.length; i++) {
    const c = counts[i] as number;
    if (c >= want) {
      const b = bounds[i] as number;
      if (!Number.isFinite(b)) return `> ${prevBound * 1000} ms`;
      const frac = (want - prevCount) / Math.max(1, c - prevCount);
      return `${((prevBound + frac * (b - prevBound)) * 1000).toFixed(1)} ms`;
    }
    prevBound = bounds[i] as number;
    prevCount = c;
  }
  return "n/a";
}

async function main(): Promise<void> {
  fs.mkdirSync(runDir, { recursive: true });
  const keyFile = path.join(runDir, "cluster.key");
  fs.writeFileSync(keyFile, `${crypto.randomBytes(32).toString("hex")}\n`, { mode: 0o600 });
  const total = cfg.records * 4 + Math.min(cfg.rate * cfg.seconds, cfg.records) + cfg.preload;
  log(`signing ${total} records (load ${loadavg()})`);
  const p = await signParallel(benchSeeds(1000), 0, total, `c${Date.now()}`, Date.now() - total - 60_000, 2);
  const single = await startNode("single", null, null);
  const n1 = await startNode("n1", keyFile, null);
  const nodes = [n1, await startNode("n2", keyFile, n1), await startNode("n3", keyFile, n1)];
  await until(() => settled(nodes), 60_000);
  const results: Record<string, unknown> = {
    machine: `${os.cpus().length} cores, ${os.cpus()[0]?.model}`,
    transport: "serve --cluster-bind",
    load_before: loadavg(),
  };

  let at = 0;
  const rates: { single: number[]; cluster: number[] } = { single: [], cluster: [] };
  for (let round = 0; round < 2; round++) {
    rates.single.push(await ingest(batches(p, at, cfg.records, [single]), cfg.records));
    at += cfg.records;
    rates.cluster.push(await ingest(batches(p, at, cfg.records, nodes), cfg.records));
    at += cfg.records;
    log(
      `round ${round + 1}: single ${Math.round(rates.single[round] as number)}/s, cluster ${Math.round(rates.cluster[round] as number)}/s (load ${loadavg()})`,
    );
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  results.ingest = {
    single: rates.single.map(Math.round),
    cluster: rates.cluster.map(Math.round),
    ratio: +(mean(rates.cluster) / mean(rates.single)).toFixed(2),
  };

  // Replication lag at a steady rate of single writes.
  await Bun.sleep(2000);
  const before = await lagBuckets(nodes);
  // A pool of idle keep-alive connections per node; a write waits for one when all are busy.
  const idle = await Promise.all(
    nodes.map((n) => Promise.all(Array.from({ length: 16 }, () => RawConnection.open("127.0.0.1", n.port)))),
  );
  const waiters: Array<Array<(c: RawConnection) => void>> = nodes.map(() => []);
  const take = (k: number) =>
    new Promise<RawConnection>((resolve) => {
      const c = (idle[k] as RawConnection[]).pop();
      if (c) resolve(c);
      else (waiters[k] as Array<(c: RawConnection) => void>).push(resolve);
    });
  const give = (k: number, c: RawConnection) => {
    const w = (waiters[k] as Array<(c: RawConnection) => void>).shift();
    if (w) w(c);
    else (idle[k] as RawConnection[]).push(c);
  };
  const sent = Math.min(cfg.rate * cfg.seconds, cfg.records);
  const started = performance.now();
  const pending: Array<Promise<unknown>> = [];
  for (let i = 0; i < sent; i++) {
    const due = started + (i * 1000) / cfg.rate;
    const wait = due - performance.now();
    if (wait > 1) await Bun.sleep(wait);
    const k = i % 3;
    const body = encodeCbor({ body: bodyOf(p, at + i), sig: sigOf(p, at + i) });
    const request = encodeRequest("POST", "/v1/assert", `127.0.0.1:${(nodes[k] as Node).port}`, "application/cbor", body);
    pending.push(
      take(k).then(async (c) => {
        try {
          await c.request(request);
        } finally {
          give(k, c);
        }
      }),
    );
  }
  await Promise.all(pending);
  at += sent;
  const offered = sent / ((performance.now() - started) / 1000);
  await Bun.sleep(3000);
  const after = await lagBuckets(nodes);
  results.lag = { offered_per_s: Math.round(offered), p50: quantile(before, after, 0.5), p99: quantile(before, after, 0.99) };
  log(
    `lag at ${Math.round(offered)}/s: p50 ${results.lag && (results.lag as { p50: string }).p50}, p99 ${(results.lag as { p99: string }).p99}`,
  );

  // Preload, then a fourth node joins and syncs what it gained.
  const preload = Math.min(cfg.preload, total - at);
  await ingest(batches(p, at, preload, nodes), preload);
  const clusterRecords = at - 2 * cfg.records + preload; // the single node's records are not in the cluster
  const replicated = await until(() => rootsAgree(nodes), 600_000);
  log(
    `preloaded ${clusterRecords} records; replicas agree ${Math.round(replicated)} ms after the last write (load ${loadavg()})`,
  );
  const joinStarted = performance.now();
  const n4 = await startNode("n4", keyFile, n1);
  const all = [...nodes, n4];
  const syncMs = await until(async () => (await settled(all)) && (await rootsAgree(all)), 3_600_000);
  const held = (await (await fetch(`${n4.url}/v1/cluster/shards?local=1`)).json()) as { shards: Array<{ records: number }> };
  const records = held.shards.reduce((a, s) => a + s.records, 0);
  results.dropped_pushes = await droppedPushes(all);
  results.sync = {
    cluster_records: clusterRecords,
    joiner_records: records,
    ms: Math.round(performance.now() - joinStarted),
    sync_ms: Math.round(syncMs),
    records_per_s: Math.round(records / (syncMs / 1000)),
  };
  results.load_after = loadavg();
  console.log(JSON.stringify(results, null, 2));
  fs.writeFileSync(path.join(runDir, "result.json"), `${JSON.stringify(results, null, 2)}\n`);
}

try {
  await main();
} finally {
  for (const proc of procs) proc.kill("SIGKILL");
}
