/**
 * Pre-signed benchmark records. Signing uses node:crypto's native Ed25519 (deterministic, so
 * the signatures are byte-identical to @noble/ed25519's), canonical encoding and ids use the
 * project's own code, so the server sees exactly what a real client would send.
 */
import crypto, { type KeyObject } from "node:crypto";
import { recordToJson, validateRecord } from "../src/core/record.ts";
import { recordId } from "../src/crypto/hash.ts";
import { encodeBody } from "../src/crypto/signed.ts";

// DER prefix of an Ed25519 PKCS#8 private key (RFC 8410 §7); the 32-byte seed follows.
const pkcs8Prefix = Buffer.from("302e020100300506032b657004220420", "hex");

/** A 32-bit integer hash (from "hash prospector"), for reproducible pseudo-random choices. */
export function mix32(x: number): number {
  let h = x >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

/** A 32-byte id made from `n` alone: distinct for distinct `n`, for records that are never hashed (in-process index benches). */
export function syntheticId(n: number): Uint8Array {
  const id = new Uint8Array(32);
  const v = new DataView(id.buffer);
  for (let i = 0; i < 8; i++) v.setUint32(i * 4, Math.imul(n + 1, 2654435761 + i * 40503) ^ (n >>> (i % 16)));
  return id;
}

export interface BenchKey {
  seed: Uint8Array;
  publicKey: Uint8Array;
  privateKey: KeyObject;
}

export function keyFromSeed(seed: Uint8Array): BenchKey {
  const privateKey = crypto.createPrivateKey({ key: Buffer.concat([pkcs8Prefix, seed]), format: "der", type: "pkcs8" });
  const spki = crypto.createPublicKey(privateKey).export({ format: "der", type: "spki" });
  return { seed, publicKey: new Uint8Array(spki.subarray(spki.length - 32)), privateKey };
}

/** `count` deterministic seeds derived from `label` (so runs are reproducible). */
export function benchSeeds(count: number, label = "stemedb-bench"): Uint8Array[] {
  return Array.from({ length: count }, (_, i) => new Uint8Array(crypto.createHash("sha256").update(`${label}/${i}`).digest()));
}

/** A batch of pre-signed records, packed for cheap transfer between threads. */
export interface PackedRecords {
  /** Canonical bodies, back to back. */
  bodies: Uint8Array;
  /** offsets[i]..offsets[i+1] is body i (length count+1). */
  offsets: Uint32Array;
  /** 64 bytes per record. */
  sigs: Uint8Array;
  /** 32 bytes per record. */
  ids: Uint8Array;
  /** Index of the signing key, per record. */
  keyIndex: Uint32Array;
  /** The JSON submission of each record (fields + sig in hex), as sent to /v1/assert. */
  json: string[];
}

export interface SignJob {
  seeds: Uint8Array[];
  /** Global index of the first record (records are numbered so every one is distinct). */
  start: number;
  count: number;
  /** Distinguishes runs so a re-run never resubmits an existing record. */
  runTag: string;
  ts: number;
}

/** Build, encode, hash and sign `count` distinct assertions, spread over the keys round-robin. */
export function signRecords(job: SignJob): PackedRecords {
  const keys = job.seeds.map(keyFromSeed);
  const agentsHex = keys.map((k) => Buffer.from(k.publicKey).toString("hex"));
  const bodyList: Uint8Array[] = [];
  const sigs = new Uint8Array(job.count * 64);
  const ids = new Uint8Array(job.count * 32);
  const keyIndex = new Uint32Array(job.count);
  const json: string[] = [];
  let total = 0;
  for (let j = 0; j < job.count; j++) {
    const n = job.start + j;
    const k = n % keys.length;
    const key = keys[k] as BenchKey;
    const record = validateRecord(
      {
        v: 1,
        kind: "assertion",
        agent: agentsHex[k],
        // Stated times as real agents send them: rising with the record count (≈ 1 ms apart,
        // so a run's records span a few minutes before now), with a little clock jitter.
        ts: job.ts + n - (n % 7) * 3,
        subject: `bench/${job.runTag}/drug/d${n % 5003}`,
        predicate: `risk_pct_${n % 97}`,
        object: n,
        confidence: 0.9,
        source: "bench:synthetic",
      },
      "json",
    );
    const body = encodeBody(record);
    const id = recordId(body);
    const sig = crypto.sign(null, id, key.privateKey);
    bodyList.push(body);
    total += body.length;
    sigs.set(sig, j * 64);
    ids.set(id, j * 32);
    keyIndex[j] = k;
    json.push(JSON.stringify({ ...recordToJson(record), sig: sig.toString("hex") }));
  }
  const bodies = new Uint8Array(total);
  const offsets = new Uint32Array(job.count + 1);
  let at = 0;
  bodyList.forEach((b, i) => {
    offsets[i] = at;
    bodies.set(b, at);
    at += b.length;
  });
  offsets[job.count] = at;
  return { bodies, offsets, sigs, ids, keyIndex, json };
}

export function bodyOf(p: PackedRecords, i: number): Uint8Array {
  return p.bodies.subarray(p.offsets[i] as number, p.offsets[i + 1] as number);
}
export function sigOf(p: PackedRecords, i: number): Uint8Array {
  return p.sigs.subarray(i * 64, i * 64 + 64);
}
export function idOf(p: PackedRecords, i: number): Uint8Array {
  return p.ids.subarray(i * 32, i * 32 + 32);
}

/** Sign on `threads` workers in parallel (the machine is otherwise idle while we prepare). */
export async function signParallel(
  seeds: Uint8Array[],
  start: number,
  count: number,
  runTag: string,
  ts: number,
  threads: number,
): Promise<PackedRecords> {
  const per = Math.ceil(count / threads);
  const parts = await Promise.all(
    Array.from({ length: threads }, (_, t) => {
      const s = t * per;
      const c = Math.max(0, Math.min(per, count - s));
      if (c === 0) return Promise.resolve(null);
      return new Promise<PackedRecords>((resolve, reject) => {
        const worker = new Worker(new URL("./sign-worker.ts", import.meta.url).href);
        worker.onmessage = (e: MessageEvent<PackedRecords>) => {
          resolve(e.data);
          worker.terminate();
        };
        worker.onerror = (e) => reject(new Error(`sign worker failed: ${e.message}`));
        const job: SignJob = { seeds, start: start + s, count: c, runTag, ts };
        worker.postMessage(job);
      });
    }),
  );
  return concat(parts.filter((p): p is PackedRecords => p !== null));
}

function concat(parts: PackedRecords[]): PackedRecords {
  const count = parts.reduce((n, p) => n + p.keyIndex.length, 0);
  const bytes = parts.reduce((n, p) => n + p.bodies.length, 0);
  const out: PackedRecords = {
    bodies: new Uint8Array(bytes),
    offsets: new Uint32Array(count + 1),
    sigs: new Uint8Array(count * 64),
    ids: new Uint8Array(count * 32),
    keyIndex: new Uint32Array(count),
    json: [],
  };
  let rec = 0;
  let byte = 0;
  for (const p of parts) {
    const n = p.keyIndex.length;
    out.bodies.set(p.bodies, byte);
    for (let i = 0; i < n; i++) out.offsets[rec + i] = (p.offsets[i] as number) + byte;
    out.sigs.set(p.sigs, rec * 64);
    out.ids.set(p.ids, rec * 32);
    out.keyIndex.set(p.keyIndex, rec);
    for (const s of p.json) out.json.push(s);
    rec += n;
    byte += p.bodies.length;
  }
  out.offsets[count] = byte;
  return out;
}
