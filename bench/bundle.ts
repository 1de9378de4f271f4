/**
 * `make bench-bundle`: audit bundles of 100,000 records (issue 4). Loads a living review into a
 * real server (a separate process, durable writes, loopback) — assertions under one prefix in
 * depends_on chains, some resting on assertions under another prefix, citing registered
 * sources, with votes and retractions — then times, as a user runs them:
 *
 *   stemedb export --out FILE --subject-prefix bench/<run>/*      (NDJSON, then CBOR)
 *   stemedb verify-bundle FILE                                   (each file)
 *
 * Both are real processes (the times include starting Bun). The exported closure is exactly
 * the loaded set, so every figure is for `--records` records.
 *
 *   bun bench/bundle.ts [--records N] [--threads N]        (env BENCH_RECORDS; BENCH_KEEP=1 keeps files)
 *
 * Goal: verify-bundle ≥ 20,000 records/s.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { encode as encodeCbor } from "cbor-x";
import { startBenchServer } from "./server.ts";
import { toHex } from "../src/core/hex.ts";
import { validateRecord } from "../src/core/record.ts";
import { recordId } from "../src/crypto/hash.ts";
import { encodeBody } from "../src/crypto/signed.ts";
import { type BenchKey, benchSeeds, keyFromSeed } from "./records.ts";

const { values: flags } = parseArgs({
  args: process.argv.slice(2),
  options: { records: { type: "string" }, threads: { type: "string" }, help: { type: "boolean", short: "h" } },
});
if (flags.help) {
  console.log("usage: bun bench/bundle.ts [--records N] [--threads N]");
  process.exit(0);
}
const total = Number(flags.records ?? process.env.BENCH_RECORDS ?? 100_000);
const root = path.resolve(import.meta.dir, "..");
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stemedb-bench-bundle-"));
let url = "";
const goalRecordsPerS = 20_000;

const keys = benchSeeds(50, "bundle-bench").map(keyFromSeed);
const t0 = Date.now() - 30 * 24 * 3600 * 1000;

interface Signed {
  body: Uint8Array;
  sig: Uint8Array;
  id: string;
}
function sign(key: BenchKey, fields: Record<string, unknown>, ts: number): Signed {
  const record = validateRecord({ v: 1, agent: toHex(key.publicKey), ts, ...fields }, "json");
  const body = encodeBody(record);
  const id = recordId(body);
  return { body, sig: new Uint8Array(crypto.sign(null, id, key.privateKey)), id: toHex(id) };
}

/** The records: sources, dependencies outside the prefix, the prefix's chains, votes, retractions. */
function build(runTag: string): { records: Signed[]; prefix: string } {
  let seed = 4242;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
  const key = (i: number) => keys[i % keys.length] as BenchKey;
  const prefix = `bench/${runTag}`;
  const records: Signed[] = [];
  const sources = 20;
  const outside = Math.round(total * 0.02);
  const votes = Math.round(total * 0.15);
  const retractions = Math.round(total * 0.02);
  const inside = total - sources - outside - votes - retractions;
  for (let i = 0; i < sources; i++)
    records.push(
      sign(key(i), { kind: "source", source_id: `${prefix}/src/${i}`, title: `Source ${i}`, tier: 1 + (i % 5) }, t0 + i),
    );
  const deps: string[] = [];
  for (let i = 0; i < outside; i++) {
    const r = sign(
      key(i),
      { kind: "assertion", subject: `benchdep/${runTag}/chem/c${i % 500}`, predicate: `p${i % 5}`, object: i, confidence: 0.9 },
      t0 + 100 + i,
    );
    records.push(r);
    deps.push(r.id);
  }
  const claims: Array<{ id: string; key: number }> = [];
  for (let i = 0; i < inside; i++) {
    const dependsOn = new Set<string>();
    if (claims.length > 0 && rand() < 0.6)
      dependsOn.add((claims[claims.length - 1 - Math.floor(rand() * Math.min(20, claims.length))] as { id: string }).id);
    // Every assertion outside the prefix is needed by at least one inside (so the closure is all).
    if (i < deps.length) dependsOn.add(deps[i] as string);
    else if (rand() < 0.1) dependsOn.add(deps[Math.floor(rand() * deps.length)] as string);
    const k = i % keys.length;
    const r = sign(
      key(k),
      {
        kind: "assertion",
        subject: `${prefix}/drug/d${i % 2000}`,
        predicate: `risk_pct_${i % 13}`,
        object: Math.round(rand() * 1000) / 10,
        confidence: 0.5 + (i % 50) / 100,
        source: `${prefix}/src/${i % sources}`,
        ...(dependsOn.size ? { depends_on: [...dependsOn] } : {}),
      },
      t0 + 100_000 + i,
    );
    records.push(r);
    claims.push({ id: r.id, key: k });
  }
  for (let i = 0; i < votes; i++) {
    const target = claims[Math.floor(rand() * claims.length)] as { id: string };
    records.push(sign(key(i + 7), { kind: "vote", target: target.id, value: rand() < 0.8 ? 1 : -1 }, t0 + 1_000_000 + i));
  }
  for (let i = 0; i < retractions; i++) {
    const c = claims[i * 7 + 3] as { id: string; key: number }; // each retracted once, by its author
    records.push(sign(key(c.key), { kind: "retraction", target: c.id, reason: "bench" }, t0 + 2_000_000 + i));
  }
  return { records, prefix };
}

/** A CLI run as a real process: wall time, and the CPU time it used (user + system, all threads). */
async function run(args: string[]): Promise<{ ms: number; cpuMs: number; stdout: string }> {
  const started = performance.now();
  const proc = Bun.spawn([process.execPath, path.join(root, "src/main.ts"), ...args], { stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  const ms = performance.now() - started;
  if (code !== 0) throw new Error(`stemedb ${args.join(" ")} exited ${code}:\n${stdout}${stderr}`);
  const cpuMs = Number(proc.resourceUsage()?.cpuTime.total ?? 0n) / 1000;
  return { ms, cpuMs, stdout };
}

async function main(): Promise<void> {
  const server = await startBenchServer(path.join(dir, "data"));
  url = server.url;
  try {
    const runTag = crypto.randomBytes(4).toString("hex");
    const signStart = performance.now();
    const { records, prefix } = build(runTag);
    console.log(`signed ${records.length} records in ${((performance.now() - signStart) / 1000).toFixed(1)} s; loading …`);
    const loadStart = performance.now();
    for (let i = 0; i < records.length; i += 10_000) {
      const batch = records.slice(i, i + 10_000).map((r) => ({ body: r.body, sig: r.sig }));
      const res = await fetch(`${url}/v1/assert/batch`, {
        method: "POST",
        body: encodeCbor({ records: batch }),
        headers: { "content-type": "application/cbor" },
      });
      const reply = (await res.json()) as { rejected: number };
      if (res.status !== 200 || reply.rejected > 0)
        throw new Error(`load failed: ${res.status} ${JSON.stringify(reply).slice(0, 300)}`);
    }
    console.log(`loaded in ${((performance.now() - loadStart) / 1000).toFixed(1)} s`);

    const threads = flags.threads !== undefined ? ["--threads", flags.threads] : [];
    const rows: Array<Record<string, unknown>> = [];
    for (const format of ["ndjson", "cbor"] as const) {
      const file = path.join(dir, `bundle.${format}`);
      const exported = await run([
        "export",
        "--out",
        file,
        "--subject-prefix",
        `${prefix}/*`,
        "--format",
        format,
        "--server",
        url,
      ]);
      const verified = await run(["verify-bundle", file, "--json", ...threads]);
      const summary = JSON.parse(verified.stdout) as { records: number; merkleRoot: string; ms: number };
      if (summary.records !== total) throw new Error(`the bundle holds ${summary.records} records, expected ${total}`);
      if (!exported.stdout.includes(summary.merkleRoot)) throw new Error("export and verify-bundle disagree on the Merkle root");
      rows.push({
        format,
        records: summary.records,
        bytes: fs.statSync(file).size,
        export_ms: Math.round(exported.ms),
        export_records_per_s: Math.round(total / (exported.ms / 1000)),
        verify_ms: Math.round(verified.ms),
        verify_records_per_s: Math.round(total / (verified.ms / 1000)),
        verify_inner_ms: Math.round(summary.ms),
        verify_cpu_ms: Math.round(verified.cpuMs),
        // What the CPU it used would give with every core to itself (a quiet machine).
        verify_records_per_s_cpu_bound: Math.round(total / (verified.cpuMs / 1000 / os.availableParallelism())),
      });
    }
    const load = os.loadavg()[0] ?? 0;
    console.log("");
    console.log(
      `load average ${load.toFixed(2)} on ${os.availableParallelism()} cores${load > 0.5 ? " (a busy machine: wall times are pessimistic)" : ""}`,
    );
    console.log(
      "format  records  bytes       export (process)         verify-bundle (process)   CPU      if the cores were free   goal ≥ 20,000/s",
    );
    for (const r of rows) {
      const v = r.verify_records_per_s as number;
      const c = r.verify_records_per_s_cpu_bound as number;
      console.log(
        `${String(r.format).padEnd(7)} ${String(r.records).padEnd(8)} ${String(r.bytes).padEnd(11)} ${String(r.export_ms).padStart(6)} ms ${String(r.export_records_per_s).padStart(7)}/s    ${String(r.verify_ms).padStart(6)} ms ${String(v).padStart(7)}/s   ${String(r.verify_cpu_ms).padStart(6)} ms  ${String(c).padStart(7)}/s              ${v >= goalRecordsPerS ? "met" : "NOT met"}`,
      );
    }
    console.log(
      JSON.stringify({
        bench: "bundle",
        records: total,
        nproc: os.availableParallelism(),
        cpu: os.cpus()[0]?.model,
        loadavg: os.loadavg().map((x) => Math.round(x * 100) / 100),
        rows,
      }),
    );
  } finally {
    await server.stop();
    if (process.env.BENCH_KEEP !== "1") fs.rmSync(dir, { recursive: true, force: true });
    else console.log(`kept ${dir}`);
  }
}

await main();
