/**
 * The issue-14 data set, shared by `make bench-memory` and `make bench-scale`: 1,000 agents,
 * subjects × 5 predicates, 10 assertions a pair from distinct agents; on 3 pairs in 4 about a
 * third of the agents dissent (twice the number), so most pairs have two camps; 5 in 6
 * assertions cite one of 10 registered sources. Records are built and signed on worker threads
 * (this module is the worker's entry point) before anything is timed.
 *
 * A store can be grown in steps: a step holds the pairs [firstPair, firstPair + pairs), all 10
 * assertions of each, so after every step the store has the same shape at a larger size.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { encode as encodeCbor } from "cbor-x";
import { validateRecord } from "../src/core/record.ts";
import { recordId } from "../src/crypto/hash.ts";
import { encodeBody } from "../src/crypto/signed.ts";
import { encodeRequest } from "./http.ts";
import { type BenchKey, benchSeeds, keyFromSeed, mix32 } from "./records.ts";

export const host = "127.0.0.1";
export const predicates = ["risk_pct", "dose_mg", "half_life_h", "onset_min", "bleed_pct"] as const;
export const perPair = 10;
export const agents = 1000;
export const sourceCount = 10;
export const batchSize = 1000;
const tsBase = Date.UTC(2026, 10, 1);

export function pairKey(pair: number) {
  return {
    subject: `bench/mem/drug/d${Math.floor(pair / predicates.length)}`,
    predicate: predicates[pair % predicates.length] as string,
  };
}

/**
 * Record n of a step over `pairs` pairs from `firstPair`: pair firstPair + n mod pairs, its j-th
 * agent (j = n div pairs), so a batch spreads over many subjects.
 */
function fieldsOf(n: number, firstPair: number, pairs: number, agentHex: string[]) {
  const pair = firstPair + (n % pairs);
  const j = Math.floor(n / pairs);
  const agent = (pair * 7 + j * 97) % agents;
  const base = 10 + (pair % 90);
  const dissent = pair % 4 !== 0 && mix32(pair * 31 + j) % 3 === 0;
  const s = (pair + j) % 6;
  return {
    agent,
    fields: {
      v: 1,
      kind: "assertion",
      agent: agentHex[agent],
      ts: tsBase + firstPair * perPair + n,
      ...pairKey(pair),
      object: dissent ? base * 2 : base,
      confidence: Math.round((0.5 + 0.1 * ((pair + j) % 5)) * 100) / 100,
      ...(s === 5 ? {} : { source: `bench-src-${(pair * 3 + j) % sourceCount}` }),
    },
  };
}

function signed(fields: object, key: BenchKey) {
  const body = encodeBody(validateRecord(fields, "json"));
  return { body, sig: new Uint8Array(crypto.sign(null, recordId(body), key.privateKey)) };
}

function batchRequest(records: Array<{ body: Uint8Array; sig: Uint8Array }>): Uint8Array {
  return encodeRequest("POST", "/v1/assert/batch", host, "application/cbor", new Uint8Array(encodeCbor({ records })));
}

/** Records [from, to) of a step, as batch requests of `batchSize`. */
interface SignJob {
  seeds: Uint8Array[];
  firstPair: number;
  pairs: number;
  from: number;
  to: number;
  /** Write the requests to this file (length-prefixed) instead of sending them back. */
  file?: string;
}

function signSlice(job: SignJob): Uint8Array[] {
  const keys = job.seeds.map(keyFromSeed);
  const agentHex = keys.map((k) => Buffer.from(k.publicKey).toString("hex"));
  const out: Uint8Array[] = [];
  for (let s = job.from; s < job.to; s += batchSize) {
    const records = [];
    for (let n = s; n < Math.min(job.to, s + batchSize); n++) {
      const { agent, fields } = fieldsOf(n, job.firstPair, job.pairs, agentHex);
      records.push(signed(fields, keys[agent] as BenchKey));
    }
    out.push(batchRequest(records));
  }
  return out;
}

if (!Bun.isMainThread) {
  const scope = globalThis as unknown as Worker;
  scope.onmessage = (e: MessageEvent<SignJob>) => {
    const out = signSlice(e.data);
    if (e.data.file) {
      writeRequests(e.data.file, out);
      scope.postMessage([]);
    } else scope.postMessage(out, out.map((r) => r.buffer) as Bun.Transferable[]);
  };
}

/** Runs jobs on one worker per core, at most one job a worker at a time; results in job order. */
async function onWorkers(jobs: SignJob[]): Promise<Uint8Array[][]> {
  const results: Uint8Array[][] = new Array(jobs.length);
  let next = 0;
  const threads = Math.min(jobs.length, Math.max(1, os.availableParallelism()));
  await Promise.all(
    Array.from({ length: threads }, async () => {
      const w = new Worker(import.meta.url);
      try {
        while (next < jobs.length) {
          const i = next++;
          results[i] = await new Promise<Uint8Array[]>((resolve, reject) => {
            w.onmessage = (m: MessageEvent<Uint8Array[]>) => resolve(m.data);
            w.onerror = (err) => reject(new Error(`sign worker: ${err.message}`));
            w.postMessage(jobs[i]);
          });
        }
      } finally {
        w.terminate();
      }
    }),
  );
  return results;
}

/** All `records` of a step over `pairs` pairs from `firstPair`, signed, as batch requests, in memory. */
export async function signAll(seeds: Uint8Array[], records: number, pairs: number, firstPair = 0): Promise<Uint8Array[]> {
  const threads = Math.max(1, os.availableParallelism());
  const per = Math.ceil(records / batchSize / threads) * batchSize;
  const jobs: SignJob[] = [];
  for (let from = 0; from < records; from += per) jobs.push({ seeds, firstPair, pairs, from, to: Math.min(records, from + per) });
  return (await onWorkers(jobs)).flat();
}

/** Records a cached file holds (100 requests). */
export const chunkRecords = 100 * batchSize;

/**
 * The batch requests of a step, signed once and kept in files under `cacheDir` (one per
 * `chunkRecords`), so a second run does not sign them again: returns the files, in order.
 * A file is written under a temporary name and renamed, so a half-written one is never used.
 */
export async function signCached(cacheDir: string, records: number, pairs: number, firstPair: number): Promise<string[]> {
  fs.mkdirSync(cacheDir, { recursive: true });
  const seeds = benchSeeds(agents);
  const files: string[] = [];
  const jobs: SignJob[] = [];
  for (let from = 0; from < records; from += chunkRecords) {
    const to = Math.min(records, from + chunkRecords);
    const file = path.join(cacheDir, `v1-p${firstPair}-n${pairs}-r${from}-${to}.req`);
    files.push(file);
    if (!fs.existsSync(file)) jobs.push({ seeds, firstPair, pairs, from, to, file });
  }
  await onWorkers(jobs);
  return files;
}

function writeRequests(file: string, requests: Uint8Array[]): void {
  const total = requests.reduce((n, r) => n + 4 + r.length, 0);
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  let at = 0;
  for (const r of requests) {
    view.setUint32(at, r.length);
    out.set(r, at + 4);
    at += 4 + r.length;
  }
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, out);
  fs.renameSync(tmp, file);
}

export function readRequests(file: string): Uint8Array[] {
  const bytes = new Uint8Array(fs.readFileSync(file));
  const view = new DataView(bytes.buffer);
  const out: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; ) {
    const n = view.getUint32(at);
    out.push(bytes.subarray(at + 4, at + 4 + n));
    at += 4 + n;
  }
  return out;
}

/** The 10 sources the assertions cite, registered by one authority: one batch request. */
export function sourcesRequest(): Uint8Array {
  const key = keyFromSeed(benchSeeds(1, "stemedb-bench-memory-authority")[0] as Uint8Array);
  const agent = Buffer.from(key.publicKey).toString("hex");
  const records = Array.from({ length: sourceCount }, (_, i) =>
    signed(
      {
        v: 1,
        kind: "source",
        agent,
        ts: tsBase - 1000 + i,
        source_id: `bench-src-${i}`,
        tier: 1 + (i % 5),
        title: `bench source ${i}`,
      },
      key,
    ),
  );
  return batchRequest(records);
}

/** 0..n-1 in a fixed shuffled order. */
export function shuffled(n: number): Uint32Array {
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = mix32(i * 2654435761) % (i + 1);
    [out[i], out[j]] = [out[j] as number, out[i] as number];
  }
  return out;
}

export { benchSeeds };
