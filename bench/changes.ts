/**
 * `make bench-changes`: what the change feed costs ingest, and how soon a follower hears of a
 * record (docs/API.md#change-feed). One real server (a separate process, `--sync batch`, data
 * under .bench/), pre-signed records, followers in a process of their own
 * (bench/changes-followers.ts).
 *
 *   (a) ingest throughput — CBOR batches of 1,000, 4 in flight, as fast as they are answered —
 *       with no follower, with 100 followers each following one agent (1 % of the records
 *       each: the fan-out sends each record once), and with 100 followers each following
 *       everything (each record sent 100 times); alternated in each round, so machine noise
 *       falls on every side. Goal: 100 followers within 10 % of none.
 *   (b) the delay from acknowledgement to event: a writer paced at RATE records/s (batches of
 *       50 every 10 ms) and one follower reading every record; per record, the time from the
 *       write's answer (the acknowledgement as the writer sees it) to the event's arrival, and
 *       from the request's sending (an upper bound). Without and with the 100 agent followers.
 *       Goal: p99 < 50 ms.
 *
 *   (c) the fan-out's own CPU per record, in process (bench/changes-fanout.ts): no follower,
 *       100 following one agent each, 100 following everything.
 *
 *   bun bench/changes.ts [--records N] [--rounds R] [--followers F] [--rate R] [--latency-seconds S]
 *
 * Prints a table and the load average; the full result goes to .bench/changes-<date>.json.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { encode as encodeCbor } from "cbor-x";
import { encodeRequest, RawConnection } from "./http.ts";
import { benchSeeds, bodyOf, keyFromSeed, signParallel, sigOf } from "./records.ts";
import { fanOutCost } from "./changes-fanout.ts";
import { startBenchServer } from "./server.ts";

const { values: flags } = parseArgs({
  args: process.argv.slice(2),
  options: {
    records: { type: "string" },
    rounds: { type: "string" },
    followers: { type: "string" },
    rate: { type: "string" },
    "latency-seconds": { type: "string" },
    help: { type: "boolean", short: "h" },
  },
});
if (flags.help) {
  console.log("usage: bun bench/changes.ts [--records N] [--rounds R] [--followers F] [--rate R] [--latency-seconds S]");
  process.exit(0);
}
const num = (flag: string | undefined, env: string, fallback: number) => Number(flag ?? process.env[env] ?? fallback);
const opts = {
  /** Records per throughput phase. */
  records: num(flags.records, "BENCH_RECORDS", 60_000),
  rounds: num(flags.rounds, "BENCH_ROUNDS", 2),
  followers: num(flags.followers, "BENCH_FOLLOWERS", 100),
  rate: num(flags.rate, "BENCH_RATE", 5000),
  latencySeconds: num(flags["latency-seconds"], "BENCH_LATENCY_SECONDS", 10),
};
const modes = ["none", "agents", "all"] as const;
type Mode = (typeof modes)[number];

const root = path.resolve(import.meta.dir, "..");
const stamp = new Date().toISOString().replace(/[:.]/g, "-");
const work = path.join(root, ".bench", `changes-${stamp}`);
fs.mkdirSync(work, { recursive: true });
const seeds = benchSeeds(opts.followers, "stemedb-bench-changes");
const agents = seeds.map((s) => Buffer.from(keyFromSeed(s).publicKey).toString("hex"));
const runTag = crypto.randomBytes(4).toString("hex");
const latencyRecords = opts.rate * opts.latencySeconds * 2;
const fanOutRecords = 20_000;
const total = opts.records * modes.length * opts.rounds + latencyRecords + fanOutRecords * 3;

console.error(`signing ${total} records on ${os.availableParallelism()} threads…`);
const signed = await signParallel(seeds, 0, total, runTag, Date.now() - 600_000, os.availableParallelism());
console.error("(c) the fan-out's CPU per record, in process…");
const fanOut = await fanOutCost(work, signed, 0, fanOutRecords, agents);
let cursor = fanOutRecords * 3;

/** `n` pre-signed records as CBOR batch bodies of `per`. */
function batches(n: number, per: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at < n; at += per) {
    const records = [];
    for (let i = at; i < Math.min(n, at + per); i++)
      records.push({ body: bodyOf(signed, cursor + i), sig: sigOf(signed, cursor + i) });
    out.push(encodeCbor({ records }));
  }
  cursor += n;
  return out;
}

// The global breaker would shed writes when a busy shared disk makes fdatasync slow: not what is measured here.
const server = await startBenchServer(
  path.join(work, "data"),
  ["--changes-followers-max", String(opts.followers + 10), "--shed-fsync-p99-ms", "0"],
  "ignore",
);
const { hostname, port } = new URL(server.url);

function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in clock ticks of 10 ms
}

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line ? Number(line.slice(name.length + 1)) : 0;
}

/** The followers' process for a mode (or one timing follower); resolves once every stream is open. */
async function startFollowers(mode: Mode | "timing") {
  if (mode === "none") return null;
  const queries =
    mode === "timing" ? ["kind=assertion"] : agents.map((a) => (mode === "agents" ? `agent=${a}` : "kind=assertion"));
  const proc = Bun.spawn([process.execPath, path.join(import.meta.dir, "changes-followers.ts"), server.url, ...queries], {
    stdin: "pipe",
    stdout: "pipe",
    stderr: "inherit",
    env: { ...process.env, TIMING: mode === "timing" ? "1" : "0" },
  });
  const lines = (async function* () {
    const decoder = new TextDecoder();
    let buf = "";
    for await (const chunk of proc.stdout) {
      buf += decoder.decode(chunk);
      for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
        yield buf.slice(0, nl);
        buf = buf.slice(nl + 1);
      }
    }
  })();
  const next = async () => (await lines.next()).value as string;
  if ((await next()) !== "ready") throw new Error("followers did not start");
  while ((await metric("stemedb_changes_followers")) < queries.length) await Bun.sleep(20);
  return {
    pid: proc.pid,
    async report(): Promise<{ records: number; bytes: number; cutoffs: number; arrivals?: Array<[number, number]> }> {
      proc.stdin.write("report\n");
      proc.stdin.flush();
      return JSON.parse(await next());
    },
    async stop(): Promise<void> {
      proc.stdin.write("stop\n");
      proc.stdin.end();
      await proc.exited;
    },
  };
}

/** (a): one phase of ingest; records/s, server cores, what the followers got. */
async function throughput(mode: Mode) {
  const payloads = batches(opts.records, 1000);
  const followers = await startFollowers(mode);
  const before = followers ? await followers.report() : null;
  const cutoffsBefore = await metric('stemedb_changes_cutoffs_total{reason="slow_consumer"}');
  const conns = await Promise.all(Array.from({ length: 4 }, () => RawConnection.open(hostname, Number(port))));
  let next = 0;
  let accepted = 0;
  const cpu0 = cpuSeconds(server.proc.pid);
  const followersCpu0 = followers ? cpuSeconds(followers.pid) : 0;
  const t0 = performance.now();
  await Promise.all(
    conns.map(async (c) => {
      while (next < payloads.length) {
        const body = payloads[next++] as Uint8Array;
        const res = await c.request(encodeRequest("POST", "/v1/assert/batch", `${hostname}:${port}`, "application/cbor", body));
        const reply = JSON.parse(res.body.toString()) as { accepted: number; rejected: number };
        if (res.status !== 200 || reply.rejected > 0)
          throw new Error(`batch: ${res.status} ${res.body.toString().slice(0, 200)}`);
        accepted += reply.accepted;
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const cores = (cpuSeconds(server.proc.pid) - cpu0) / seconds;
  const followerCores = followers ? (cpuSeconds(followers.pid) - followersCpu0) / seconds : 0;
  for (const c of conns) c.close();
  await Bun.sleep(500); // let the followers take the tail
  const after = followers ? await followers.report() : null;
  const cutoffs = (await metric('stemedb_changes_cutoffs_total{reason="slow_consumer"}')) - cutoffsBefore;
  await followers?.stop();
  return {
    mode,
    records: accepted,
    seconds: Number(seconds.toFixed(2)),
    rate: Math.round(accepted / seconds),
    server_cores: Number(cores.toFixed(2)),
    /** Server CPU per record acknowledged: what the feed adds, less exposed to other processes' share of the cores. */
    server_us_per_record: Math.round((cores / (accepted / seconds)) * 1e6),
    follower_process_cores: Number(followerCores.toFixed(2)),
    events_delivered: after && before ? after.records - before.records : 0,
    cutoffs,
  };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

/**
 * (b): the paced writer, and one follower in a process of its own timing each record's arrival
 * (wall clock, comparable across the two processes), so the writer's own work does not delay
 * the reading.
 */
async function latency(withFollowers: boolean) {
  const per = 50;
  const n = opts.rate * opts.latencySeconds;
  const payloads = batches(n, per);
  const others = withFollowers ? await startFollowers("agents") : null;
  const timer = await startFollowers("timing");
  if (!timer) throw new Error("no timing follower");
  const sentAt = new Map<number, number>();
  const ackedAt = new Map<number, number>();
  const wallNow = () => performance.timeOrigin + performance.now();
  const intervalMs = (per / opts.rate) * 1000;
  const t0 = performance.now();
  const writes: Promise<void>[] = [];
  for (let i = 0; i < payloads.length; i++) {
    const wait = t0 + i * intervalMs - performance.now();
    if (wait > 1) await Bun.sleep(wait);
    const sent = wallNow();
    writes.push(
      fetch(`${server.url}/v1/assert/batch`, {
        method: "POST",
        headers: { "content-type": "application/cbor" },
        body: payloads[i] as Uint8Array,
      }).then(async (r) => {
        const acked = wallNow();
        const reply = (await r.json()) as { results: Array<{ lsn: number }> };
        for (const { lsn } of reply.results) {
          sentAt.set(lsn, sent);
          ackedAt.set(lsn, acked);
        }
      }),
    );
  }
  await Promise.all(writes);
  const seconds = (performance.now() - t0) / 1000;
  let arrivedAt = new Map<number, number>();
  for (let tries = 0; tries < 50; tries++) {
    arrivedAt = new Map((await timer.report()).arrivals ?? []);
    if ([...ackedAt.keys()].every((lsn) => arrivedAt.has(lsn))) break;
    await Bun.sleep(100);
  }
  await timer.stop();
  await others?.stop();
  const fromAck: number[] = [];
  const fromSend: number[] = [];
  let missing = 0;
  for (const [lsn, acked] of ackedAt) {
    const arrived = arrivedAt.get(lsn);
    if (arrived === undefined) {
      missing++;
      continue;
    }
    fromAck.push(arrived - acked);
    fromSend.push(arrived - (sentAt.get(lsn) as number));
  }
  fromAck.sort((a, b) => a - b);
  fromSend.sort((a, b) => a - b);
  const ms = (x: number) => Number(x.toFixed(1));
  return {
    followers: withFollowers ? agents.length : 0,
    records: ackedAt.size,
    rate: Math.round(ackedAt.size / seconds),
    missing,
    ack_to_event_p50_ms: ms(percentile(fromAck, 50)),
    ack_to_event_p99_ms: ms(percentile(fromAck, 99)),
    ack_to_event_max_ms: ms(fromAck.at(-1) ?? Number.NaN),
    send_to_event_p50_ms: ms(percentile(fromSend, 50)),
    send_to_event_p99_ms: ms(percentile(fromSend, 99)),
  };
}

const load = () =>
  os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(" ");
const results: {
  throughput: Awaited<ReturnType<typeof throughput>>[];
  latency: Awaited<ReturnType<typeof latency>>[];
  load: string[];
} = {
  throughput: [],
  latency: [],
  load: [load()],
};
try {
  for (let round = 1; round <= opts.rounds; round++) {
    for (const mode of modes) {
      const r = await throughput(mode);
      results.throughput.push(r);
      console.error(`round ${round} ${mode.padEnd(6)} ${r.rate} records/s, server ${r.server_cores} cores, load ${load()}`);
    }
  }
  for (const withFollowers of [false, true]) {
    const r = await latency(withFollowers);
    results.latency.push(r);
    console.error(`latency with ${r.followers} followers: p50 ${r.ack_to_event_p50_ms} ms, p99 ${r.ack_to_event_p99_ms} ms`);
  }
  results.load.push(load());
} finally {
  await server.stop();
}

const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / Math.max(1, xs.length);
const rateOf = (mode: Mode) => mean(results.throughput.filter((r) => r.mode === mode).map((r) => r.rate));
const none = rateOf("none");
console.log("");
console.log(
  `(a) ingest, ${opts.records} records per phase, ${opts.rounds} rounds alternated; load average ${results.load.join(" → ")}`,
);
console.log(
  "| followers | records/s (mean) | vs none | server cores | server µs/record | followers' process cores | events delivered | cut-offs |",
);
console.log("| --- | --- | --- | --- | --- | --- | --- | --- |");
for (const mode of modes) {
  const rows = results.throughput.filter((r) => r.mode === mode);
  const rate = rateOf(mode);
  const label =
    mode === "none" ? "none" : mode === "agents" ? `${opts.followers}, one agent each (1 %)` : `${opts.followers}, every record`;
  console.log(
    `| ${label} | ${Math.round(rate)} (${rows.map((r) => r.rate).join(", ")}) | ${mode === "none" ? "—" : `${(((rate - none) / none) * 100).toFixed(1)} %`} | ${mean(rows.map((r) => r.server_cores)).toFixed(2)} | ${Math.round(mean(rows.map((r) => r.server_us_per_record)))} | ${mean(rows.map((r) => r.follower_process_cores)).toFixed(2)} | ${rows.reduce((s, r) => s + r.events_delivered, 0)} | ${rows.reduce((s, r) => s + r.cutoffs, 0)} |`,
  );
}
console.log("");
console.log(`(b) acknowledgement → event at ${opts.rate} records/s for ${opts.latencySeconds} s (goal p99 < 50 ms)`);
console.log("| other followers | records | p50 ms | p99 ms | max ms | send→event p99 ms | missing |");
console.log("| --- | --- | --- | --- | --- | --- | --- |");
for (const r of results.latency)
  console.log(
    `| ${r.followers} | ${r.records} | ${r.ack_to_event_p50_ms} | ${r.ack_to_event_p99_ms} | ${r.ack_to_event_max_ms} | ${r.send_to_event_p99_ms} | ${r.missing} |`,
  );
console.log("");
console.log(`(c) the fan-out's CPU per record, in process (${fanOutRecords} records each, batches of 1,000)`);
console.log("| followers | fan-out µs/record | all µs/record (appending, fan-out, flushing, readers) | events |");
console.log("| --- | --- | --- | --- |");
for (const r of fanOut) console.log(`| ${r.followers} | ${r.fan_out_us_per_record} | ${r.all_us_per_record} | ${r.events} |`);
const out = path.join(root, ".bench", `changes-${stamp}.json`);
fs.writeFileSync(out, JSON.stringify({ options: opts, ...results, fan_out: fanOut }, null, 2));
console.log(`\nwritten to ${path.relative(root, out)}`);
if (process.env.BENCH_KEEP !== "1") fs.rmSync(work, { recursive: true, force: true });
