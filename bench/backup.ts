/**
 * `make bench-backup`: backup, verify, verify --deep and restore of a data dir of N records
 * (default 1,000,000), in MB/s and records/s, and the ingest rate with and without an online
 * backup running beside it, in the same run (issue 6).
 *
 *   bun bench/backup.ts [--records N] [--ingest-seconds S]     (env BENCH_RECORDS, BENCH_INGEST_SECONDS)
 *
 * Goals: backup and plain verify ≥ 200 MB/s; ingest slowed ≤ 20 % during a backup.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { encode as encodeCbor } from "cbor-x";
import { toHex } from "../src/core/hex.ts";
import { validateRecord } from "../src/core/record.ts";
import { recordId } from "../src/crypto/hash.ts";
import { encodeBody } from "../src/crypto/signed.ts";
import { keyFromSeed } from "./records.ts";
import { startBenchServer } from "./server.ts";

const { values: flags } = parseArgs({
  args: process.argv.slice(2),
  options: { records: { type: "string" }, "ingest-seconds": { type: "string" }, help: { type: "boolean", short: "h" } },
});
if (flags.help) {
  console.log("usage: bun bench/backup.ts [--records N] [--ingest-seconds S]");
  process.exit(0);
}
const records = Number(flags.records ?? process.env.BENCH_RECORDS ?? 1_000_000);
const ingestSeconds = Number(flags["ingest-seconds"] ?? process.env.BENCH_INGEST_SECONDS ?? 8);
const root = path.resolve(import.meta.dir, "..");
const main = path.join(root, "src/main.ts");
const work = fs.mkdtempSync(path.join(os.tmpdir(), "stemedb-bench-backup-"));
const data = path.join(work, "data");
let url = "";
const keys = Array.from({ length: 64 }, (_, i) =>
  keyFromSeed(new Uint8Array(crypto.createHash("sha256").update(`backup-bench/${i}`).digest())),
);
const agents = keys.map((k) => toHex(k.publicKey));
const t0 = Date.now() - 30 * 24 * 3600 * 1000;
const runTag = crypto.randomBytes(4).toString("hex");
let serial = 0;

function batch(n: number): Uint8Array {
  const items: Array<{ body: Uint8Array; sig: Uint8Array }> = [];
  for (let i = 0; i < n; i++) {
    const k = serial % keys.length;
    const record = validateRecord(
      {
        v: 1,
        kind: "assertion",
        agent: agents[k],
        ts: t0 + serial,
        subject: `bench/${runTag}/drug/d${serial % 100_000}`,
        predicate: `p${serial % 13}`,
        object: serial,
        confidence: 0.5,
        source: `src-${serial % 50}`,
      },
      "json",
    );
    serial++;
    const body = encodeBody(record);
    const sig = new Uint8Array(crypto.sign(null, recordId(body), (keys[k] as (typeof keys)[number]).privateKey));
    items.push({ body, sig });
  }
  return encodeCbor({ records: items });
}

async function post(body: Uint8Array): Promise<void> {
  const res = await fetch(`${url}/v1/assert/batch`, { method: "POST", body, headers: { "content-type": "application/cbor" } });
  const reply = (await res.json()) as { rejected: number };
  if (res.status !== 200 || reply.rejected > 0) throw new Error(`batch failed: ${res.status}`);
}

/** Ingest for `seconds` with 4 batches of 2,000 in flight; returns records/s. */
async function ingestFor(seconds: number): Promise<number> {
  const until = performance.now() + seconds * 1000;
  let done = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (performance.now() < until) {
        await post(batch(2000));
        done += 2000;
      }
    }),
  );
  return done / seconds;
}

function cli(args: string[]): { ms: number; out: string } {
  const started = performance.now();
  const r = Bun.spawnSync([process.execPath, main, ...args], { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`stemedb ${args.join(" ")} failed: ${r.stderr.toString()}`);
  return { ms: performance.now() - started, out: r.stdout.toString() };
}

function dirBytes(dir: string): number {
  let total = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true }))
    total += e.isDirectory() ? dirBytes(path.join(dir, e.name)) : fs.statSync(path.join(dir, e.name)).size;
  return total;
}

async function main_(): Promise<void> {
  const server = await startBenchServer(data);
  url = server.url;
  const rows: Array<[string, string]> = [];
  try {
    console.log(`loading ${records} records …`);
    const loadStart = performance.now();
    let inFlight: Promise<void>[] = [];
    for (let done = 0; done < records; done += 5000) {
      inFlight.push(post(batch(Math.min(5000, records - done))));
      if (inFlight.length >= 4) {
        await Promise.all(inFlight);
        inFlight = [];
      }
    }
    await Promise.all(inFlight);
    console.log(`loaded in ${((performance.now() - loadStart) / 1000).toFixed(0)} s`);

    const base = await ingestFor(ingestSeconds);
    const during = join(work, "during");
    const backupRun = (async () => {
      await Bun.sleep(200);
      const p = Bun.spawn([process.execPath, main, "backup", "--data-dir", data, "--out", during], {
        stdout: "pipe",
        stderr: "pipe",
      });
      await p.exited;
    })();
    const withBackup = await ingestFor(ingestSeconds);
    await backupRun;
    rows.push(["ingest alone", `${Math.round(base)} records/s`]);
    rows.push([
      "ingest during an online backup",
      `${Math.round(withBackup)} records/s (${(((base - withBackup) / base) * 100).toFixed(1)} % slower; goal ≤ 20 %)`,
    ]);
  } finally {
    await server.stop();
  }

  const out = join(work, "backup");
  const b = cli(["backup", "--data-dir", data, "--out", out]);
  const bytes = dirBytes(out);
  const manifest = JSON.parse(fs.readFileSync(join(out, "manifest.json"), "utf8")) as { records: number };
  const n = manifest.records;
  const rate = (ms: number) => `${(bytes / 1e6 / (ms / 1000)).toFixed(0)} MB/s, ${Math.round(n / (ms / 1000))} records/s`;
  rows.push([
    "backup",
    `${(b.ms / 1000).toFixed(1)} s for ${(bytes / 1e6).toFixed(0)} MB, ${n} records: ${rate(b.ms)} (goal ≥ 200 MB/s)`,
  ]);
  const v = cli(["verify", "--backup", out]);
  rows.push(["verify", `${(v.ms / 1000).toFixed(1)} s: ${rate(v.ms)} (goal ≥ 200 MB/s)`]);
  const d = cli(["verify", "--backup", out, "--deep"]);
  rows.push(["verify --deep", `${(d.ms / 1000).toFixed(1)} s: ${rate(d.ms)}`]);
  const r = cli(["restore", "--from", out, "--data-dir", join(work, "restored")]);
  rows.push(["restore", `${(r.ms / 1000).toFixed(1)} s: ${rate(r.ms)}`]);

  console.log("");
  for (const [k, v2] of rows) console.log(`${k.padEnd(32)} ${v2}`);
  if (process.env.BENCH_KEEP !== "1") fs.rmSync(work, { recursive: true, force: true });
}

function join(...parts: string[]): string {
  return path.join(...parts);
}

await main_();
