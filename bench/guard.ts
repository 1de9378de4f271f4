/**
 * `make bench-guard`: what the door costs (issue 5). Durable batch ingest over HTTP against a
 * real server, with the guard off (no API keys, no rate limits, no content defense) and on (a
 * writer key checked on every request, rate limits at their defaults, per-agent circuit
 * breakers, and the quarantine policies for low trust and gold-standard contradictions),
 * alternating off, on, off, on in one run so machine noise falls on both sides.
 *
 *   bun bench/guard.ts [--seconds S] [--rounds R]       (env BENCH_SECONDS, BENCH_ROUNDS)
 *
 * Goal: the guard costs ≤ 10 % of ingest throughput.
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
  options: {
    seconds: { type: "string" },
    rounds: { type: "string" },
    parts: { type: "string" },
    help: { type: "boolean", short: "h" },
  },
});
if (flags.help) {
  console.log("usage: bun bench/guard.ts [--seconds S] [--rounds R]");
  process.exit(0);
}
const seconds = Number(flags.seconds ?? process.env.BENCH_SECONDS ?? 8);
const rounds = Number(flags.rounds ?? process.env.BENCH_ROUNDS ?? 2);
/** Which parts of the guard "on" turns on (to find what costs): keys, rate, breakers, quarantine. */
const parts = new Set((flags.parts ?? process.env.BENCH_GUARD_PARTS ?? "keys,rate,breakers,quarantine").split(","));
const root = path.resolve(import.meta.dir, "..");
const main = path.join(root, "src/main.ts");
const work = fs.mkdtempSync(path.join(os.tmpdir(), "stemedb-bench-guard-"));
const keys = Array.from({ length: 256 }, (_, i) =>
  keyFromSeed(new Uint8Array(crypto.createHash("sha256").update(`guard/${i}`).digest())),
);
const agents = keys.map((k) => toHex(k.publicKey));
let serial = 0;
const runTag = crypto.randomBytes(4).toString("hex");

/** Pre-signs `n` batches of 1,000 so signing is not measured. */
function batches(n: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let b = 0; b < n; b++) {
    const items: Array<{ body: Uint8Array; sig: Uint8Array }> = [];
    for (let i = 0; i < 1000; i++) {
      const k = serial % keys.length;
      const record = validateRecord(
        {
          v: 1,
          kind: "assertion",
          agent: agents[k],
          ts: Date.now() - 60_000 + (serial % 1000),
          subject: `bench/${runTag}/drug/d${serial % 10_000}`,
          predicate: `p${serial % 7}`,
          object: serial,
          confidence: 0.5,
        },
        "json",
      );
      serial++;
      const body = encodeBody(record);
      items.push({ body, sig: new Uint8Array(crypto.sign(null, recordId(body), (keys[k] as (typeof keys)[number]).privateKey)) });
    }
    out.push(encodeCbor({ records: items }));
  }
  return out;
}

const flooder = keyFromSeed(new Uint8Array(crypto.createHash("sha256").update("guard/flooder").digest()));

/** Batches of 500 records from the one flooding agent (CBOR, pre-signed). */
function floodRecords(n: number): Uint8Array[] {
  const agent = toHex(flooder.publicKey);
  let i = 0;
  return Array.from({ length: n }, () =>
    encodeCbor({
      records: Array.from({ length: 500 }, () => {
        const record = validateRecord(
          {
            v: 1,
            kind: "assertion",
            agent,
            ts: Date.now() - 1000,
            subject: `bench/${runTag}/flood`,
            predicate: "p",
            object: i++,
            confidence: 1,
          },
          "json",
        );
        const body = encodeBody(record);
        return { body, sig: new Uint8Array(crypto.sign(null, recordId(body), flooder.privateKey)) };
      }),
    }),
  );
}

interface FloodResult {
  /** Batches sent, records in them, records refused (429) by the flooder's breaker. */
  sent: number;
  records: number;
  refused: number;
}

async function run(
  guard: boolean,
  round: number,
  payloads: Uint8Array[],
  flood?: { records: Uint8Array[]; result: FloodResult },
): Promise<number> {
  const data = path.join(work, `${guard ? "on" : "off"}-${round}`);
  let secret = "";
  const args: string[] = [];
  const on = (part: string) => guard && parts.has(part);
  if (on("keys")) {
    Bun.spawnSync([process.execPath, main, "init", "--data-dir", data]);
    const made = Bun.spawnSync([
      process.execPath,
      main,
      "keys",
      "create",
      "--data-dir",
      data,
      "--role",
      "writer",
      "--name",
      "bench",
    ]);
    secret = made.stdout.toString().trim().split("\n").at(-1) as string;
  }
  if (on("quarantine")) args.push("--quarantine-trust-below", "0.005", "--quarantine-gold");
  if (!on("rate")) args.push("--rate-read", "0", "--rate-write", "0", "--rate-admin", "0");
  if (!on("breakers")) args.push("--breaker-bad-max", "0", "--breaker-rate-max", "0");
  // The flood (thousands a second from one agent) trips this within a second; the 256 others
  // write a few hundred each in a round.
  else if (flood) args.push("--breaker-rate-max", "2000");
  const server = await startBenchServer(data, args, "ignore");
  const url = server.url;
  try {
    const headers: Record<string, string> = { "content-type": "application/cbor" };
    if (secret) headers.authorization = `Bearer ${secret}`;
    let next = 0;
    let done = 0;
    const until = performance.now() + seconds * 1000;
    const started = performance.now();
    // The flood: one agent, 4 connections, batches of 500 as fast as they are answered.
    const flooding = flood?.records.length
      ? Array.from({ length: 4 }, async () => {
          while (performance.now() < until) {
            const body = flood.records[flood.result.sent++ % flood.records.length] as Uint8Array;
            const res = await fetch(`${url}/v1/assert/batch`, { method: "POST", body, headers });
            const reply = (await res.json()) as { results: Array<{ error?: { status: number } }> };
            flood.result.records += reply.results.length;
            flood.result.refused += reply.results.filter((r) => r.error?.status === 429).length;
          }
        })
      : [];
    await Promise.all([
      ...flooding,
      ...Array.from({ length: 4 }, async () => {
        while (performance.now() < until && next < payloads.length) {
          const body = payloads[next++] as Uint8Array;
          const res = await fetch(`${url}/v1/assert/batch`, { method: "POST", body, headers });
          const reply = (await res.json()) as { accepted: number; rejected: number };
          if (res.status !== 200 || reply.rejected > 0)
            throw new Error(`batch: ${res.status} ${JSON.stringify(reply).slice(0, 300)}`);
          done += reply.accepted;
        }
      }),
    ]);
    return done / ((performance.now() - started) / 1000);
  } finally {
    await server.stop();
  }
}

const rates: Record<string, number[]> = { off: [], on: [] };
for (let round = 0; round < rounds; round++) {
  for (const guard of [false, true]) {
    const payloads = batches(Math.ceil((seconds * 30_000) / 1000)); // more than a round can take
    const r = await run(guard, round, payloads);
    rates[guard ? "on" : "off"]?.push(r);
    console.log(`round ${round + 1} guard ${guard ? "on " : "off"}: ${Math.round(r)} records/s`);
  }
}
const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
const off = mean(rates.off as number[]);
const on = mean(rates.on as number[]);
const cost = ((off - on) / off) * 100;
console.log("");
console.log(
  `guard off ${Math.round(off)} records/s, on ${Math.round(on)} records/s: the guard costs ${cost.toFixed(1)} % (goal ≤ 10 %)`,
);
console.log(
  JSON.stringify({
    bench: "guard",
    seconds,
    rounds,
    off: Math.round(off),
    on: Math.round(on),
    cost_pct: Number(cost.toFixed(1)),
  }),
);
// A flood from one agent: its breaker opens, and the others' writes go on. Both sides run with
// the guard on and the same breaker bound; only the flood differs.
const flooded: Record<string, number[]> = { calm: [], flood: [] };
const result: FloodResult = { sent: 0, records: 0, refused: 0 };
const floodPayloads = floodRecords(40);
for (let round = 0; round < rounds; round++) {
  for (const withFlood of [false, true]) {
    const payloads = batches(Math.ceil((seconds * 30_000) / 1000));
    const r = await run(true, 100 + round * 2 + (withFlood ? 1 : 0), payloads, {
      records: withFlood ? floodPayloads : [],
      result,
    });
    flooded[withFlood ? "flood" : "calm"]?.push(r);
    console.log(`round ${round + 1} ${withFlood ? "with a flood" : "calm        "}: others ${Math.round(r)} records/s`);
  }
}
const calm = mean(flooded.calm as number[]);
const underFlood = mean(flooded.flood as number[]);
const slowed = ((calm - underFlood) / calm) * 100;
console.log(
  `one agent flooding (${result.records} writes in ${result.sent} batches, ${result.refused} refused 429 by its breaker): the others ${Math.round(calm)} → ${Math.round(underFlood)} records/s, ${slowed.toFixed(1)} % slower (tolerance ≤ 10 %)`,
);
console.log(
  JSON.stringify({
    bench: "guard-flood",
    calm: Math.round(calm),
    flood: Math.round(underFlood),
    slowed_pct: Number(slowed.toFixed(1)),
    flood_records: result.records,
    flood_refused: result.refused,
  }),
);
if (process.env.BENCH_KEEP !== "1") fs.rmSync(work, { recursive: true, force: true });
