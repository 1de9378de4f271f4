/**
 * `make bench-cascade`: a source retraction that takes down 100,000 dependent assertions
 * (issue 4). Loads one source, assertions citing it, and dependants wired through `depends_on`
 * as chains and fan-out, into a real server (a separate process, durable writes, loopback),
 * then times the impact dry run (`GET /v1/sources/:id/impact`) and the retraction itself
 * (`POST /v1/sources/:id/retract`, which writes, then reports the same impact).
 *
 *   bun bench/cascade.ts [--dependants N] [--citing N]       (env BENCH_DEPENDANTS, BENCH_CITING)
 *
 * Goal: each under 2 s for 100,000 dependants.
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
  options: { dependants: { type: "string" }, citing: { type: "string" }, help: { type: "boolean", short: "h" } },
});
if (flags.help) {
  console.log("usage: bun bench/cascade.ts [--dependants N] [--citing N]");
  process.exit(0);
}
const dependants = Number(flags.dependants ?? process.env.BENCH_DEPENDANTS ?? 100_000);
const citing = Number(flags.citing ?? process.env.BENCH_CITING ?? 100);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stemedb-bench-cascade-"));
let url = "";

const key = keyFromSeed(new Uint8Array(crypto.createHash("sha256").update("cascade-bench").digest()));
const agent = toHex(key.publicKey);
const t0 = Date.now() - 10 * 24 * 3600 * 1000;

interface Signed {
  body: Uint8Array;
  sig: Uint8Array;
  id: string;
}
function sign(fields: Record<string, unknown>, ts: number): Signed {
  const record = validateRecord({ v: 1, agent, ts, ...fields }, "json");
  const body = encodeBody(record);
  const id = recordId(body);
  return { body, sig: new Uint8Array(crypto.sign(null, id, key.privateKey)), id: toHex(id) };
}

async function post(pathname: string, body: Uint8Array | string, type: string): Promise<Response> {
  return fetch(`${url}${pathname}`, { method: "POST", body, headers: { "content-type": type } });
}

async function main(): Promise<void> {
  const server = await startBenchServer(dir);
  url = server.url;
  try {
    const runTag = crypto.randomBytes(4).toString("hex");
    const sourceId = `bench/${runTag}/mega-trial`;
    console.log(`building 1 source, ${citing} citing assertions, ${dependants} dependants …`);
    const started = performance.now();
    const records: Signed[] = [sign({ kind: "source", source_id: sourceId, title: "A mega-trial", tier: 2 }, t0)];
    const ids: string[] = [];
    for (let i = 0; i < citing; i++) {
      const r = sign(
        {
          kind: "assertion",
          subject: `bench/${runTag}/trial/r${i}`,
          predicate: "effect",
          object: i,
          confidence: 0.9,
          source: sourceId,
        },
        t0 + 1 + i,
      );
      records.push(r);
      ids.push(r.id);
    }
    // Each dependant hangs off a recent node (chains) or a random one (fan-out); some take two.
    let seed = 12345;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    for (let i = 0; i < dependants; i++) {
      const pick = () =>
        (rand() < 0.5
          ? ids[ids.length - 1 - Math.floor(rand() * Math.min(20, ids.length))]
          : ids[Math.floor(rand() * ids.length)]) as string;
      const deps = rand() < 0.2 ? [...new Set([pick(), pick()])] : [pick()];
      const r = sign(
        {
          kind: "assertion",
          subject: `bench/${runTag}/derived/d${i % 5000}`,
          predicate: `p${i % 7}`,
          object: i,
          confidence: 0.6,
          depends_on: deps,
        },
        t0 + 1000 + i,
      );
      records.push(r);
      ids.push(r.id);
    }
    console.log(`signed ${records.length} records in ${((performance.now() - started) / 1000).toFixed(1)} s; loading …`);
    const loadStart = performance.now();
    for (let i = 0; i < records.length; i += 5000) {
      const batch = records.slice(i, i + 5000).map((r) => ({ body: r.body, sig: r.sig }));
      const res = await post("/v1/assert/batch", encodeCbor({ records: batch }), "application/cbor");
      const reply = (await res.json()) as { rejected: number };
      if (res.status !== 200 || reply.rejected > 0)
        throw new Error(`load failed: ${res.status} ${JSON.stringify(reply).slice(0, 300)}`);
    }
    const loadS = (performance.now() - loadStart) / 1000;
    console.log(`loaded in ${loadS.toFixed(1)} s (${Math.round(records.length / loadS)} records/s)`);

    const enc = encodeURIComponent(sourceId);
    const dry0 = performance.now();
    const impact = (await (await fetch(`${url}/v1/sources/${enc}/impact?limit=1`)).json()) as { total: number; cascade: number };
    const dryMs = performance.now() - dry0;
    const dry1 = performance.now();
    await (await fetch(`${url}/v1/sources/${enc}/impact?limit=1`)).json();
    const dryWarmMs = performance.now() - dry1;

    const retraction = sign({ kind: "source_retraction", source_id: sourceId, reason: "bench" }, Date.now());
    const r0 = performance.now();
    const res = await post(
      `/v1/sources/${enc}/retract`,
      encodeCbor({ body: retraction.body, sig: retraction.sig }),
      "application/cbor",
    );
    const applied = (await res.json()) as { impact: { total: number } };
    const applyMs = performance.now() - r0;
    if (res.status !== 201) throw new Error(`retract failed: ${res.status} ${JSON.stringify(applied)}`);

    const goal = 2000;
    console.log("");
    console.log(`impact total ${impact.total} (cascade ${impact.cascade}); retraction reported ${applied.impact.total}`);
    console.log(
      `impact dry run (first call)   ${dryMs.toFixed(0).padStart(6)} ms   goal < ${goal} ms   ${dryMs < goal ? "met" : "NOT met"}`,
    );
    console.log(`impact dry run (again)        ${dryWarmMs.toFixed(0).padStart(6)} ms`);
    console.log(
      `retraction applied + report   ${applyMs.toFixed(0).padStart(6)} ms   goal < ${goal} ms   ${applyMs < goal ? "met" : "NOT met"}`,
    );
    console.log(
      JSON.stringify({
        bench: "cascade",
        dependants,
        citing,
        impact_total: impact.total,
        dry_run_ms: Math.round(dryMs),
        dry_run_again_ms: Math.round(dryWarmMs),
        retract_ms: Math.round(applyMs),
      }),
    );
  } finally {
    await server.stop();
    if (process.env.BENCH_KEEP !== "1") fs.rmSync(dir, { recursive: true, force: true });
  }
}

await main();
