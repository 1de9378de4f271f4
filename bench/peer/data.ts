/**
 * The data set of `make bench-peer`, and its requests, built and signed before anything is
 * timed (on worker threads running this file).
 *
 * `subjects × 5 predicates` pairs, `perPair` assertions each from distinct agents (of 1,000),
 * with real disagreement: a pair has 1, 2 or 3 camps (a third each), its claims split between
 * them unevenly, confidences 0.5–0.9, and on one pair in four the first agent restates its
 * claim last (one agent, one voice keeps only the restatement). Values are integers, quarter
 * numbers and short strings. Load record n is pair n mod pairs, its j-th claim (j = n div
 * pairs), stated at tsBase + n, so a batch spreads over many pairs as independent agents'
 * submissions would, and within a pair stated time rises with j.
 */
import crypto from "node:crypto";
import { encode as encodeCbor } from "cbor-x";
import { validateRecord } from "../../src/core/record.ts";
import { recordId } from "../../src/crypto/hash.ts";
import { encodeBody } from "../../src/crypto/signed.ts";
import { encodeRequest } from "../http.ts";
import { type BenchKey, keyFromSeed, mix32 } from "../records.ts";

export const predicates = ["risk_pct", "dose_mg", "half_life_h", "onset_min", "label"] as const;
export const host = "127.0.0.1";

export interface Layout {
  records: number;
  subjects: number;
  pairs: number;
  perPair: number;
  keys: number;
  singles: number;
  tsBase: number;
}

export function layoutFor(records: number, perPair: number, keys: number, singles: number): Layout {
  const subjects = Math.ceil(records / (predicates.length * perPair));
  if (perPair > keys) throw new RangeError("BENCH_PER_PAIR: at most BENCH_KEYS");
  return {
    records,
    subjects,
    pairs: subjects * predicates.length,
    perPair,
    keys,
    singles,
    tsBase: Date.now() - records - singles - 3_600_000,
  };
}

export function pairKey(pair: number): { subject: string; predicate: string } {
  return {
    subject: `peer/drug/d${Math.floor(pair / predicates.length)}`,
    predicate: predicates[pair % predicates.length] as string,
  };
}

const camps = (pair: number) => 1 + (mix32(pair) % 3);

function campOf(pair: number, j: number): number {
  const c = camps(pair);
  if (c === 1) return 0;
  const h = mix32(pair * 1_000_003 + j) % 100;
  if (c === 2) return h < 60 ? 0 : 1;
  return h < 45 ? 0 : h < 80 ? 1 : 2;
}

function claimValue(pair: number, camp: number): number | string {
  const base = 10 + (pair % 90);
  switch (pair % predicates.length) {
    case 2:
      return (base + camp * 5) / 4;
    case 4:
      return `grade-${"ABCDEFG"[(pair + camp) % 7]}`;
    default:
      return base + camp * 5;
  }
}

const restates = (pair: number, L: Layout) => L.perPair > 1 && pair % 4 === 0;

function agentOf(pair: number, j: number, L: Layout): number {
  if (j === L.perPair - 1 && restates(pair, L)) return agentOf(pair, 0, L);
  const stride = Math.max(1, Math.floor(L.keys / L.perPair));
  return (pair * 7 + j * stride) % L.keys;
}

const confidenceOf = (pair: number, j: number) => [0.5, 0.6, 0.7, 0.8, 0.9][(pair + 3 * j) % 5] as number;

/** The claims of one load record. */
function loadFields(n: number, L: Layout, agentHex: string[]) {
  const pair = n % L.pairs;
  const j = Math.floor(n / L.pairs);
  const agent = agentOf(pair, j, L);
  const { subject, predicate } = pairKey(pair);
  const object = claimValue(pair, campOf(pair, j));
  return {
    agent,
    fields: {
      v: 1,
      kind: "assertion",
      agent: agentHex[agent],
      ts: L.tsBase + n,
      subject,
      predicate,
      object,
      confidence: confidenceOf(pair, j),
    },
  };
}

/** Single-record ingest: records on subjects of their own, so they never touch a queried pair. */
function singleFields(m: number, L: Layout, agentHex: string[]) {
  const agent = m % L.keys;
  return {
    agent,
    fields: {
      v: 1,
      kind: "assertion",
      agent: agentHex[agent],
      ts: L.tsBase + L.records + m,
      subject: `peer/single/s${m}`,
      predicate: "risk_pct",
      object: m,
      confidence: 0.9,
    },
  };
}

/** How many claims of a pair the load holds (the last round may be partial). */
const claimsOf = (pair: number, L: Layout) => Math.min(L.perPair, Math.floor((L.records - 1 - pair) / L.pairs) + 1);

/**
 * The consensus answer the data set implies (docs/SEMANTICS.md#the-lenses), worked out from
 * the generator: each agent's latest claim, Σ confidence per value in time order, ties to the
 * value holding the later claim. Stated times are distinct, so no tie needs the id.
 */
export function expectedConsensus(pair: number, L: Layout): { value: number | string; camps: number } {
  const latest = new Map<number, number>(); // agent → j of its latest claim
  for (let j = 0; j < claimsOf(pair, L); j++) latest.set(agentOf(pair, j, L), j);
  const kept = [...latest.values()].sort((a, b) => a - b);
  const groups = new Map<string, { value: number | string; weight: number; last: number }>();
  for (const j of kept) {
    const value = claimValue(pair, campOf(pair, j));
    const key = JSON.stringify(value);
    const g = groups.get(key) ?? { value, weight: 0, last: -1 };
    g.weight += confidenceOf(pair, j);
    g.last = j;
    groups.set(key, g);
  }
  const best = [...groups.values()].sort((a, b) => b.weight - a.weight || b.last - a.last)[0];
  if (!best) throw new RangeError(`pair ${pair} has no claims`);
  return { value: best.value, camps: groups.size };
}

// ---------- signing ----------

export interface SignJob {
  seeds: Uint8Array[];
  layout: Layout;
  kind: "load" | "single";
  from: number;
  to: number;
  /** Records per request (1 for single-record requests). */
  perRequest: number;
}

export interface Signed {
  /** Whole HTTP/1.1 requests, pre-encoded. */
  requests: Uint8Array[];
  records: number[];
}

function signOne(fields: object, key: BenchKey): { body: Uint8Array; sig: Uint8Array } {
  const body = encodeBody(validateRecord(fields, "json"));
  return { body, sig: new Uint8Array(crypto.sign(null, recordId(body), key.privateKey)) };
}

export function signSlice(job: SignJob): Signed {
  const keys = job.seeds.map(keyFromSeed);
  const agentHex = keys.map((k) => Buffer.from(k.publicKey).toString("hex"));
  const out: Signed = { requests: [], records: [] };
  for (let s = job.from; s < job.to; s += job.perRequest) {
    const e = Math.min(job.to, s + job.perRequest);
    const items: Array<{ body: Uint8Array; sig: Uint8Array }> = [];
    for (let n = s; n < e; n++) {
      const { agent, fields } = job.kind === "load" ? loadFields(n, job.layout, agentHex) : singleFields(n, job.layout, agentHex);
      items.push(signOne(fields, keys[agent] as BenchKey));
    }
    const [path, body] = job.perRequest === 1 ? ["/v1/assert", items[0]] : ["/v1/assert/batch", { records: items }];
    out.requests.push(encodeRequest("POST", path as string, host, "application/cbor", new Uint8Array(encodeCbor(body))));
    out.records.push(e - s);
  }
  return out;
}

if (!Bun.isMainThread) {
  const scope = globalThis as unknown as Worker;
  scope.onmessage = (e: MessageEvent<SignJob>) => {
    const out = signSlice(e.data);
    scope.postMessage(out, out.requests.map((r) => r.buffer) as Bun.Transferable[]);
  };
}

/** Signs records [from, to) on `threads` workers, in request-sized slices. */
export async function signParallel(
  job: Omit<SignJob, "from" | "to">,
  from: number,
  to: number,
  threads: number,
): Promise<Signed> {
  const requests = Math.ceil((to - from) / job.perRequest);
  const perThread = Math.ceil(requests / threads) * job.perRequest;
  const parts = await Promise.all(
    Array.from({ length: threads }, (_, t) => {
      const s = from + t * perThread;
      const e = Math.min(to, s + perThread);
      if (s >= e) return Promise.resolve<Signed>({ requests: [], records: [] });
      return new Promise<Signed>((resolve, reject) => {
        const worker = new Worker(import.meta.url);
        worker.onmessage = (m: MessageEvent<Signed>) => {
          resolve(m.data);
          worker.terminate();
        };
        worker.onerror = (err) => reject(new Error(`sign worker failed: ${err.message}`));
        worker.postMessage({ ...job, from: s, to: e } satisfies SignJob);
      });
    }),
  );
  return { requests: parts.flatMap((p) => p.requests), records: parts.flatMap((p) => p.records) };
}

/** `GET /v1/query` for a pair, pre-encoded. */
export function queryRequest(pair: number): Uint8Array {
  const { subject, predicate } = pairKey(pair);
  const q = new URLSearchParams({ subject, predicate, lens: "consensus" });
  return Buffer.from(`GET /v1/query?${q} HTTP/1.1\r\nHost: ${host}\r\nAccept: application/json\r\n\r\n`);
}
