/**
 * What the hostile-input suite (hostile.test.ts) sends, and what the server must do with each
 * request: keys and records drawn from the seed, the oracle that says which submissions must be
 * stored and under which id, and one case generator per phase.
 *
 * The oracle is the server's own parsing (body.ts, signed.ts) plus one fact the server cannot
 * know: which (id, signature) pairs this suite signed. A submission must be stored exactly when
 * it decodes to one of those records; so a mutation that happens to be harmless (keys reordered,
 * uppercase hex, a duplicate key whose last value is the original) must be accepted, and every
 * other one refused.
 *
 * Every case is generated from its own PRNG (`Rng.forCase(seed, phase, index)`), and generation
 * is synchronous and in index order, so a case can be regenerated alone from (seed, phase, index).
 */
import nodeCrypto from "node:crypto";
import { Decoder } from "cbor-x";
import { batchSubmissions, bodyFormat, singleSubmission } from "../../src/api/body.ts";
import { decodeCanonical, type KeyPair, keyPairFromSecret, toHex } from "../../src/client/index.ts";
import { batchRecordsMax } from "../../src/core/limits.ts";
import { type Kind, kinds, recordToJson, validateRecord } from "../../src/core/record.ts";
import { recordId } from "../../src/crypto/hash.ts";
import { encodeBody, fromCborSubmission, fromJsonSubmission, type SignedRecord } from "../../src/crypto/signed.ts";
import type { Submission } from "../../src/ingest/pipeline.ts";
import * as cb from "../support/cbor-builder.ts";
import {
  breakingKnobs,
  cborEnvelope,
  entriesOf,
  junkPathId,
  junkQuery,
  mutateBytes,
  mutateEntries,
  nestedText,
  randomJsonValue,
  renderEntries,
  Rng,
  utf8,
} from "../support/hostile-gen.ts";

export const seed = Number(process.env.HOSTILE_SEED ?? 20_261_124);
/** Records are signed at fixed times in the past, so the same seed signs the same bytes. */
export const baseTs = 1_700_000_000_000;
const writeBodyBytesMax = 1024 * 1024;
const batchBodyBytesMax = 16 * 1024 * 1024;
const readBodyBytesMax = 64 * 1024;
const envelopeDecoder = new Decoder({ mapsAsObjects: true, useRecords: false });

// ---- keys and signing --------------------------------------------------------------------------

/** A key drawn from the seed, with a native signer (noble's is ~1.5 ms a signature; this is ~50 µs). */
interface TestKey extends KeyPair {
  native: nodeCrypto.KeyObject;
  hex: string;
}

function keyFrom(rng: Rng): TestKey {
  const secretKey = rng.bytes(32);
  const pair = keyPairFromSecret(secretKey);
  const der = Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), secretKey]);
  const native = nodeCrypto.createPrivateKey({ key: der, format: "der", type: "pkcs8" });
  return { ...pair, native, hex: toHex(pair.publicKey) };
}

/** Every record this suite signed: id → its signature and canonical body (hex). */
export const genuine = new Map<string, { sig: string; body: string }>();

function sign(key: TestKey, fields: Record<string, unknown>, ts: number): SignedRecord {
  const record = validateRecord({ v: 1, ts, ...fields, agent: key.hex }, "json");
  const body = encodeBody(record);
  const id = recordId(body);
  const sig = new Uint8Array(nodeCrypto.sign(null, id, key.native));
  genuine.set(toHex(id), { sig: toHex(sig), body: toHex(body) });
  return { record, body, id, sig };
}

export const jsonSubmission = (s: SignedRecord) => ({ ...recordToJson(s.record), sig: toHex(s.sig) });
const cborSubmission = (s: SignedRecord) =>
  cb.map([
    [cb.tstr("body"), cb.bstr(s.body)],
    [cb.tstr("sig"), cb.bstr(s.sig)],
  ]);
const randomId = (rng: Rng) => toHex(rng.bytes(32));

/** Fields of a record of `kind`, with many optional fields set so mutations have more to hit. */
export function fieldsOf(kind: Kind, rng: Rng, tag: string): Record<string, unknown> {
  switch (kind) {
    case "assertion":
      return {
        kind,
        subject: `hostile/${tag}/x`,
        predicate: rng.pick(["p", "bleeding_risk_pct", "dose_mg"]),
        object: rng.pick<unknown>([0.2, 12, "text", null, true, [1, "a", { b: 2 }], { k: [1.5, -3] }, 0]),
        confidence: rng.pick([0, 0.5, 0.95, 1]),
        ...(rng.chance(0.6) ? { source: `src-${tag}`, evidence: ["e1", "e2"], tags: ["t1"], note: "n" } : {}),
        ...(rng.chance(0.5) ? { depends_on: [randomId(rng), randomId(rng)], supersedes: randomId(rng) } : {}),
        ...(rng.chance(0.4)
          ? { epoch: "guideline-2025", valid_from: 1_600_000_000_000, valid_to: 1_700_000_000_000, unit: "%" }
          : {}),
      };
    case "vote":
      return { kind, target: randomId(rng), value: rng.pick([1, -1]), ...(rng.chance(0.5) ? { reason: "r" } : {}) };
    case "retraction":
      return { kind, target: randomId(rng), ...(rng.chance(0.5) ? { reason: "r" } : {}) };
    case "source":
      return {
        kind,
        source_id: `src-${tag}`,
        title: "T",
        tier: 1 + rng.int(5),
        url: "https://x.example",
        published_at: 1_600_000_000_000,
      };
    case "source_retraction":
      return { kind, source_id: `src-${tag}`, reason: "withdrawn" };
    case "epoch":
      return {
        kind,
        name: `hostile-epoch-${tag}`,
        starts_at: 1_650_000_000_000,
        ...(rng.chance(0.5) ? { supersedes: "older" } : {}),
      };
    case "review":
      return { kind, action: rng.pick(["hold", "approve", "gold", "trust_seed"]), target: randomId(rng), note: "n" };
  }
}

// ---- the oracle: what the server must do with a submission -------------------------------------

/** The record id a submission must be stored under, or null if it must be refused. */
function acceptedId(sub: Submission, only?: readonly Kind[]): string | null {
  try {
    if (sub.shape === "error") return null;
    const s =
      sub.shape === "signed"
        ? sub.signed
        : sub.shape === "json"
          ? fromJsonSubmission(sub.value)
          : fromCborSubmission(sub.body, sub.sig);
    if (only && !only.includes(s.record.kind)) return null;
    const id = toHex(s.id);
    return genuine.get(id)?.sig === toHex(s.sig) ? id : null;
  } catch {
    return null;
  }
}

function formatOf(headers: Record<string, string>): "json" | "cbor" | null {
  try {
    return bodyFormat(new Request("http://oracle/", { method: "POST", headers }));
  } catch {
    return null;
  }
}

export function oracleSingle(headers: Record<string, string>, body: Uint8Array, only?: readonly Kind[]): string | null {
  const format = formatOf(headers);
  if (format === null || body.length > writeBodyBytesMax) return null;
  try {
    return acceptedId(singleSubmission(format, body), only);
  } catch {
    return null;
  }
}

/** Per-slot ids for a batch (null: that item fails), or null when the whole request must fail. */
function oracleBatch(headers: Record<string, string>, body: Uint8Array): Array<string | null> | null {
  const format = formatOf(headers);
  if (format === null || body.length > batchBodyBytesMax) return null;
  try {
    return batchSubmissions(format, body, batchRecordsMax).map((s) => acceptedId(s));
  } catch {
    return null;
  }
}

// ---- what a case is ----------------------------------------------------------------------------

export type Expect =
  /** A read: anything but a 5xx; it cannot write. */
  | { kind: "read" }
  /** Must be refused with a 4xx. */
  | { kind: "reject" }
  /** A single write: stored as `accept`, or refused when `accept` is null. */
  | { kind: "write"; accept: string | null }
  /** A batch: per-slot ids, or null when the whole request must be refused. */
  | { kind: "batch"; slots: Array<string | null> | null }
  /** Past Bun's request-line limit (16 KiB): a bare 431 from Bun's parser, or the app's own answer. */
  | { kind: "header-limit" };

export interface Case {
  label: string;
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: Uint8Array | ReadableStream<Uint8Array>;
  expect: Expect;
}

// ---- the cases, one generator per phase -------------------------------------------------------------------------------------

const keyRng = Rng.forCase(seed, 0, 0);
const hostileKeys = Array.from({ length: 56 }, () => keyFrom(keyRng));
const goodKeys = Array.from({ length: 16 }, () => keyFrom(keyRng));

/** Signed records to mutate: eight of each kind, each by its own key, none ever sent intact first. */
export const pool: Array<{ signed: SignedRecord; key: TestKey }> = hostileKeys.map((key, i) => {
  const kind = kinds[i % kinds.length] as Kind;
  return { key, signed: sign(key, fieldsOf(kind, keyRng, `base-${i}`), baseTs + i) };
});

const routeKinds: Record<string, readonly Kind[] | undefined> = {
  "/v1/assert": undefined,
  "/v1/vote": ["vote"],
  "/v1/retract": ["retraction"],
  "/v1/sources": ["source"],
  "/v1/epochs": ["epoch"],
};
const writeRoutes = Object.keys(routeKinds);

function routeFor(kind: Kind, rng: Rng): string {
  if (rng.chance(0.6)) return "/v1/assert";
  const own = { vote: "/v1/vote", retraction: "/v1/retract", source: "/v1/sources", epoch: "/v1/epochs" } as Record<
    string,
    string
  >;
  return rng.chance(0.8) && own[kind] ? (own[kind] as string) : rng.pick(writeRoutes);
}

export function writeCase(label: string, path: string, headers: Record<string, string>, body: Uint8Array): Case {
  return {
    label,
    method: "POST",
    path,
    headers,
    body,
    expect: { kind: "write", accept: oracleSingle(headers, body, routeKinds[path]) },
  };
}

/** A fresh, valid record by one of the good keys (unique subject / ids per tag). */
export function goodRecord(rng: Rng, tag: string, ts: number): SignedRecord {
  return sign(rng.pick(goodKeys), fieldsOf(rng.pick(kinds), rng, `good-${tag}`), ts);
}

export function goodCase(rng: Rng, i: number): Case {
  if (i % 4 === 3) return { ...goodCase(Rng.forCase(seed, 1, i - 3), i - 3), label: `resubmit #${i - 3}` };
  const s = goodRecord(rng, `g${i}`, baseTs + 1_000_000 + i);
  const json = rng.chance(0.5);
  const body = json ? utf8(JSON.stringify(jsonSubmission(s))) : cborSubmission(s);
  const path = routeFor(s.record.kind, new Rng(() => 0));
  const c = writeCase(
    `valid ${s.record.kind} ${json ? "json" : "cbor"}`,
    path,
    { "content-type": json ? "application/json" : "application/cbor" },
    body,
  );
  if (c.expect.kind !== "write" || c.expect.accept !== toHex(s.id))
    throw new Error(
      `the oracle refuses a valid ${s.record.kind}: a bug in this suite, or in the parsing it shares with the server`,
    );
  return c;
}

export function jsonCase(rng: Rng): Case {
  const { signed } = rng.pick(pool);
  const headers = {
    "content-type": rng.pick(["application/json", "application/json; charset=utf-8", "application/problem+json"]),
  };
  const path = routeFor(signed.record.kind, rng);
  const r = rng.next();
  if (r < 0.04) return writeCase("untouched", path, headers, utf8(JSON.stringify(jsonSubmission(signed))));
  if (r < 0.1) return writeCase("random json", path, headers, utf8(JSON.stringify(randomJsonValue(rng)) ?? "null"));
  const entries = entriesOf(jsonSubmission(signed));
  const labels: string[] = [];
  for (let n = rng.chance(0.4) ? 2 + rng.int(3) : 1; n > 0; n--) labels.push(mutateEntries(rng, entries, kinds));
  let bytes = utf8(renderEntries(entries, rng.chance(0.1) ? " ,\n\t" : ","));
  if (rng.chance(0.3)) {
    const m = mutateBytes(rng, bytes);
    bytes = m.bytes;
    labels.push(m.label);
  }
  return writeCase(labels.join(", "), path, headers, bytes);
}

export function cborCase(rng: Rng): Case {
  const { signed, key } = rng.pick(pool);
  const reEncoded = () => cb.encode(decodeCanonical(signed.body) as cb.Value, breakingKnobs(rng));
  let env: { bytes: Uint8Array; label: string };
  if (rng.chance(0.15)) {
    // A non-canonical body with a good signature over its own hash: still refused.
    const body = reEncoded();
    const sig = new Uint8Array(nodeCrypto.sign(null, recordId(body), key.native));
    env = { bytes: cborSubmission({ ...signed, body, sig }), label: "non-canonical body, signed" };
  } else {
    env = cborEnvelope(rng, signed.body, signed.sig, reEncoded);
  }
  const type = rng.pick(["application/cbor", "application/cbor; charset=binary", "APPLICATION/CBOR"]);
  return writeCase(env.label, routeFor(signed.record.kind, rng), { "content-type": type }, env.bytes);
}

/** A batch item that is a complete CBOR item on its own (so the envelope around it still parses). */
function cborBatchItem(rng: Rng): Uint8Array {
  const { signed } = rng.pick(pool);
  for (let tries = 0; tries < 5; tries++) {
    const env = cborEnvelope(rng, signed.body, signed.sig, () =>
      cb.encode(decodeCanonical(signed.body) as cb.Value, breakingKnobs(rng)),
    );
    try {
      envelopeDecoder.decode(env.bytes);
      return env.bytes;
    } catch {
      // not a whole item: roll again
    }
  }
  return cb.encode(null);
}

function batchEnvelopeJunk(rng: Rng, json: boolean): Uint8Array {
  if (json) {
    return utf8(
      rng.pick([
        () => JSON.stringify(randomJsonValue(rng)) ?? "null",
        () => JSON.stringify({ records: randomJsonValue(rng) }),
        () => JSON.stringify({ records: [] }),
        () => JSON.stringify({ records: [{}], extra: 1 }),
        () => `{"records":[${"0,".repeat(batchRecordsMax)}0]}`,
        () => `{"records":${nestedText(rng.pick([100, 10_000]), "array")}}`,
        () => `{"records":[{"kind":"vote"}`,
      ])(),
    );
  }
  return rng.pick([
    () => cb.encode(randomJsonValue(rng) as cb.Value),
    () => cb.map([[cb.tstr("records"), cb.encode(randomJsonValue(rng) as cb.Value)]]),
    () => cb.map([[cb.tstr("records"), cb.arr([])]]),
    () => cb.map([[cb.tstr("records"), cb.head(4, 0xffffffffn)]]),
    () => cb.map([[cb.tstr("records"), cb.arr(Array.from({ length: batchRecordsMax + 1 }, () => cb.encode(0)))]]),
    () => cb.indefinite(5, [cb.tstr("records"), cb.indefinite(4, [cb.encode(null)])]),
    () => rng.bytes(rng.length(500)),
  ])();
}

export function batchCase(rng: Rng, i: number): Case {
  const json = rng.chance(0.5);
  const headers: Record<string, string> = { "content-type": json ? "application/json" : "application/cbor" };
  if (rng.chance(0.2)) headers.accept = "application/cbor";
  let body: Uint8Array;
  let label: string;
  if (rng.chance(0.12)) {
    body = batchEnvelopeJunk(rng, json);
    label = "envelope junk";
  } else {
    const items: Uint8Array[] = [];
    const goods: SignedRecord[] = [];
    for (let n = 1 + rng.int(12); n > 0; n--) {
      const r = rng.next();
      if (r < 0.35 || (r < 0.45 && goods.length === 0)) {
        const s = goodRecord(rng, `b${i}-${n}`, baseTs + 2_000_000 + i * 20 + n);
        goods.push(s);
        items.push(json ? utf8(JSON.stringify(jsonSubmission(s))) : cborSubmission(s));
      } else if (r < 0.45) {
        const s = rng.pick(goods);
        items.push(json ? utf8(JSON.stringify(jsonSubmission(s))) : cborSubmission(s));
      } else if (r < 0.85) {
        if (json) {
          const entries = entriesOf(jsonSubmission(rng.pick(pool).signed));
          mutateEntries(rng, entries, kinds);
          items.push(utf8(renderEntries(entries)));
        } else items.push(cborBatchItem(rng));
      } else
        items.push(json ? utf8(JSON.stringify(randomJsonValue(rng)) ?? "null") : cb.encode(randomJsonValue(rng) as cb.Value));
    }
    body = json
      ? cb.concat(utf8('{"records":['), ...items.flatMap((x, k) => (k === 0 ? [x] : [utf8(","), x])), utf8("]}"))
      : cb.map([[cb.tstr("records"), cb.arr(items)]]);
    label = `${items.length} items, ${goods.length} good`;
    if (rng.chance(0.05)) {
      const m = mutateBytes(rng, body);
      body = m.bytes;
      label += `, ${m.label}`;
    }
  }
  return {
    label,
    method: "POST",
    path: "/v1/assert/batch",
    headers,
    body,
    expect: { kind: "batch", slots: oracleBatch(headers, body) },
  };
}

const postRoutes = [
  "/v1/assert",
  "/v1/assert/batch",
  "/v1/vote",
  "/v1/retract",
  "/v1/query",
  "/v1/sources",
  "/v1/epochs",
  "/v1/sources/src-x/retract",
  "/v1/epochs/no-such-epoch/supersede",
  "/v1/escalations/no-such/resolve",
  "/v1/admin/gold",
  "/v1/admin/keys",
];

/** Content types, empty and oversized bodies; valid records where the content type allows them. */
export function transportCase(rng: Rng, i: number): Case {
  const r = rng.next();
  if (r < 0.55) {
    const s = goodRecord(rng, `t${i}`, baseTs + 3_000_000 + i);
    const json = rng.chance(0.5);
    const type = rng.pick([
      null,
      "",
      "text/plain",
      "application/xml",
      "multipart/form-data; boundary=x",
      "application/x-www-form-urlencoded",
      "application/json; charset=utf-16",
      "APPLICATION/JSON",
      "application/problem+json",
      "application/cbor",
      "application/cbor; x=1",
      "application/octet-stream",
      "application/cbor+json",
      ";;;",
      "application/json, application/cbor",
      "*/*",
    ]);
    const headers: Record<string, string> = type === null ? {} : { "content-type": type };
    let body = json ? utf8(JSON.stringify(jsonSubmission(s))) : cborSubmission(s);
    if (rng.chance(0.3)) body = body.subarray(0, rng.int(body.length));
    const path = rng.chance(0.8) ? "/v1/assert" : "/v1/assert/batch";
    if (path === "/v1/assert") return writeCase(`${json ? "json" : "cbor"} as ${type} (${body.length} B)`, path, headers, body);
    const batch = json ? cb.concat(utf8('{"records":['), body, utf8("]}")) : cb.map([[cb.tstr("records"), cb.arr([body])]]);
    return {
      label: `batch as ${type}`,
      method: "POST",
      path,
      headers,
      body: batch,
      expect: { kind: "batch", slots: oracleBatch(headers, batch) },
    };
  }
  const path = rng.pick(postRoutes);
  const headers = { "content-type": rng.pick(["application/json", "application/cbor", "text/plain"]) };
  if (r < 0.8) return { label: "empty body", method: "POST", path, headers, body: new Uint8Array(0), expect: { kind: "reject" } };
  // Over the limit: a JSON object padded past the route's body limit (batches: rarely, they are 16 MiB).
  const limit =
    path === "/v1/assert/batch"
      ? i % 40 === 0
        ? batchBodyBytesMax
        : writeBodyBytesMax * 2
      : [
            "/v1/query",
            "/v1/admin/gold",
            "/v1/admin/keys",
            "/v1/epochs/no-such-epoch/supersede",
            "/v1/escalations/no-such/resolve",
          ].includes(path)
        ? readBodyBytesMax
        : writeBodyBytesMax;
  const pad = limit + 1 - '{"pad":""}'.length;
  const body = utf8(`{"pad":"${"x".repeat(pad)}"}`);
  const expect: Expect =
    path === "/v1/assert/batch" && limit < batchBodyBytesMax ? { kind: "batch", slots: null } : { kind: "reject" };
  return { label: `${body.length} B over ${limit}`, method: "POST", path, headers, body, expect };
}

const idRoutes: Array<[string, string]> = [
  ["GET", "/v1/assertions/{}"],
  ["GET", "/v1/agents/{}"],
  ["GET", "/v1/provenance/{}"],
  ["GET", "/v1/subjects/{}"],
  ["GET", "/v1/sources/{}"],
  ["GET", "/v1/sources/{}/impact"],
  ["POST", "/v1/sources/{}/retract"],
  ["POST", "/v1/epochs/{}/supersede"],
  ["POST", "/v1/escalations/{}/resolve"],
  ["DELETE", "/v1/admin/keys/{}"],
  ["POST", "/v1/admin/quarantine/{}/approve"],
  ["POST", "/v1/admin/quarantine/{}/reject"],
  ["POST", "/v1/admin/breakers/{}/reset"],
];

function pathBody(rng: Rng, route: string, id: string): Uint8Array | undefined {
  if (route.endsWith("/retract")) {
    const s = rng.pick(pool.filter((p) => p.signed.record.kind === "source_retraction"));
    return rng.chance(0.5) ? utf8(JSON.stringify(jsonSubmission(s.signed))) : cborSubmission(s.signed);
  }
  if (route.endsWith("/supersede"))
    return utf8(JSON.stringify(rng.chance(0.7) ? { by: `next-${id.slice(0, 20)}` } : randomJsonValue(rng)));
  if (route.endsWith("/resolve"))
    return rng.chance(0.3)
      ? undefined
      : utf8(JSON.stringify(rng.chance(0.5) ? { note: "n", gold: randomId(rng) } : randomJsonValue(rng)));
  return undefined;
}

export function pathCase(rng: Rng): Case {
  const [method, route] = rng.pick(idRoutes);
  const real = rng.chance(0.1) ? toHex(rng.pick(pool).signed.id) : null;
  const id = real ? (rng.chance(0.5) ? real.toUpperCase() : real) : junkPathId(rng);
  const query = rng.chance(0.2) ? `?${junkQuery(rng, ["limit", "cursor", "depth", "recent", "lens"])}` : "";
  const body = method === "POST" ? pathBody(rng, route, id) : undefined;
  const headers: Record<string, string> =
    body && body[0] !== 0x7b ? { "content-type": "application/cbor" } : { "content-type": "application/json" };
  return {
    label: `${route} id=${id.slice(0, 40)}`,
    method,
    path: route.replace("{}", id) + query,
    headers,
    ...(body ? { body } : {}),
    expect: method === "GET" ? { kind: "read" } : { kind: "reject" },
  };
}

const queryParams = [
  "subject",
  "predicate",
  "lens",
  "as_of",
  "valid_at",
  "tolerance",
  "include",
  "layers",
  "explain",
  "fresh",
  "escalate",
];
const getRoutes: Array<[string, readonly string[]]> = [
  ["/v1/assertions", ["subject", "predicate", "agent", "source", "kind", "since", "until", "cursor", "limit", "order"]],
  ["/v1/query", queryParams],
  ["/v1/subjects/{subject}", queryParams.slice(2)],
  ["/v1/agents", ["sort", "limit", "cursor"]],
  ["/v1/agents/{key}", ["recent"]],
  ["/v1/escalations", ["status"]],
  ["/v1/audit/queries", ["subject", "predicate", "lens", "caller", "since", "until", "cursor", "limit"]],
  ["/v1/sources", ["limit", "cursor", "tier"]],
  ["/v1/sources/{source}", []],
  ["/v1/sources/{source}/impact", ["limit", "cursor"]],
  ["/v1/epochs", []],
  ["/v1/provenance/{id}", ["depth"]],
  ["/v1/admin/audit", ["from", "to", "limit", "cursor"]],
  ["/v1/admin/keys", []],
  ["/v1/concepts", ["prefix", "limit"]],
  ["/v1/admin/quarantine", ["limit", "cursor", "status"]],
  ["/v1/admin/breakers", ["limit", "cursor", "state"]],
  ["/v1/export", ["subject", "predicate", "agent", "source", "since", "until", "format", "closure", "kind"]],
  ["/v1/health", []],
  ["/v1/ready", []],
  ["/metrics", []],
  ["/openapi.json", []],
  ["/docs", []],
];

/** Plausible values (real subjects, keys, lenses) so the query engine runs, not just the parser. */
function plausibleQuery(rng: Rng, known: readonly string[]): string {
  const good = rng.pick(pool).signed.record as unknown as Record<string, unknown>;
  const values: Record<string, () => string> = {
    subject: () => rng.pick([String(good.subject ?? "hostile/base-0/x"), "hostile/*", "*/x", "hostile"]),
    predicate: () => rng.pick(["p", "bleeding_risk_pct", "dose_mg"]),
    lens: () => rng.pick(["recency", "consensus", "vote", "authority", "trust", "skeptic", "layered"]),
    layers: () => rng.pick(["authority,recency", "trust,consensus", "skeptic"]),
    as_of: () => rng.pick(["1700000000050", "2023-11-14T22:13:20Z", "0"]),
    valid_at: () => "1650000000000",
    tolerance: () => rng.pick(["0", "0.1", "1"]),
    include: () => rng.pick(["retracted,superseded", "quarantined", "cascade,epoch_superseded,source_retracted,rejected"]),
    explain: () => rng.pick(["false", "true"]),
    fresh: () => rng.pick(["true", "false"]),
    escalate: () => rng.pick(["true", "0.5", "1"]),
    kind: () => rng.pick(["any", "vote,retraction", "assertion"]),
    order: () => rng.pick(["asc", "desc"]),
    limit: () => String(1 + rng.int(1000)),
    agent: () => rng.pick(hostileKeys).hex,
    sort: () => rng.pick(["trust", "key"]),
    status: () => rng.pick(["open", "resolved", "all"]),
    prefix: () => rng.pick(["hostile", "hostile/base-1", ""]),
    tier: () => String(1 + rng.int(6)),
    depth: () => String(rng.int(33)),
    recent: () => String(1 + rng.int(50)),
  };
  return known
    .filter(() => rng.chance(0.5))
    .map((name) => `${name}=${encodeURIComponent(values[name]?.() ?? "1")}`)
    .join("&");
}

function queryBodyCase(rng: Rng): Case {
  const entries = entriesOf({
    subject: "hostile/base-0/x",
    predicate: "p",
    lenses: ["consensus", "skeptic"],
    as_of: 1_700_000_000_050,
    include: ["retracted"],
    layers: ["authority", "recency"],
    tolerance: 0.1,
  });
  const labels: string[] = [];
  for (let n = 1 + rng.int(3); n > 0; n--)
    labels.push(mutateEntries(rng, entries, ["consensus", "__proto__", "toString", "layered"]));
  const body = rng.chance(0.85) ? utf8(renderEntries(entries)) : utf8(JSON.stringify(randomJsonValue(rng)) ?? "null");
  return {
    label: `POST /v1/query ${labels.join(", ")}`,
    method: "POST",
    path: "/v1/query",
    headers: { "content-type": "application/json" },
    body,
    expect: { kind: "read" },
  };
}

export function queryCase(rng: Rng, i: number): Case {
  if (rng.chance(0.2)) return queryBodyCase(rng);
  const [template, known] = rng.pick(getRoutes);
  const good = rng.pick(pool).signed;
  const path = template
    .replace("{subject}", rng.chance(0.5) ? encodeURIComponent(`hostile/base-${rng.int(56)}/x`) : junkPathId(rng))
    .replace("{key}", rng.chance(0.7) ? toHex(good.record.agent) : junkPathId(rng))
    .replace("{source}", rng.chance(0.5) ? `src-base-${rng.int(56)}` : junkPathId(rng))
    .replace("{id}", rng.chance(0.7) ? toHex(good.id) : junkPathId(rng));
  let query = rng.chance(0.35) ? plausibleQuery(rng, known) : junkQuery(rng, known.length > 0 ? known : ["limit"]);
  let expect: Expect = { kind: "read" };
  if (i % 400 === 7) {
    query = `subject=${"a".repeat(100_000)}`; // 100 KB: past Bun's request-line limit
    expect = { kind: "header-limit" };
  } else if (i % 50 === 3) {
    query += `&${rng.pick(known.length > 0 ? known : ["zzz"])}=${"%41".repeat(4000)}`; // 12 KB: reaches the app
  }
  return { label: `GET ${template}`, method: "GET", path: `${path}?${query}`, expect };
}

export const knownPaths = [
  "/v1/assert",
  "/v1/assert/batch",
  "/v1/vote",
  "/v1/retract",
  "/v1/assertions",
  `/v1/assertions/${"ab".repeat(32)}`,
  "/v1/query",
  "/v1/subjects/a/b",
  "/v1/agents",
  `/v1/agents/${"cd".repeat(32)}`,
  "/v1/escalations",
  `/v1/escalations/${"ef".repeat(32)}/resolve`,
  "/v1/audit/queries",
  "/v1/sources",
  "/v1/sources/s1",
  "/v1/sources/s1/impact",
  "/v1/sources/s1/retract",
  "/v1/epochs",
  "/v1/epochs/e1/supersede",
  `/v1/provenance/${"ab".repeat(32)}`,
  "/v1/admin/gold",
  "/v1/admin/audit",
  "/v1/admin/keys",
  "/v1/admin/keys/0123456789abcdef",
  "/v1/admin/views",
  "/v1/admin/quarantine",
  `/v1/admin/quarantine/${"ab".repeat(32)}/approve`,
  "/v1/admin/breakers",
  `/v1/admin/breakers/${"cd".repeat(32)}/reset`,
  "/v1/admin/snapshot",
  "/v1/export",
  "/openapi.json",
  "/docs",
  "/v1/concepts",
  "/v1/health",
  "/v1/ready",
  "/metrics",
  "/",
  "/v1",
  "/v1/",
  "/v2/assert",
  "/V1/ASSERT",
  "/v1/assert/",
  "//v1/assert",
  "/v1/assert;x=1",
  "/v1/assert%2Fbatch",
];
export const methods = [
  "PUT",
  "PATCH",
  "DELETE",
  "OPTIONS",
  "HEAD",
  "TRACE",
  "PROPFIND",
  "FOO",
  "M-SEARCH",
  "patch",
  "CONNECT",
  "GET",
  "POST",
];

/** Every method on every known path (and some near misses), with a junk body where one can go. */
export function methodCase(rng: Rng, i: number): Case {
  const path = knownPaths[i % knownPaths.length] as string;
  const method = methods[Math.floor(i / knownPaths.length) % methods.length] as string;
  // Bun's fetch refuses a body with GET and HEAD, and (oddly) with FOO.
  const bodyless = ["GET", "HEAD", "CONNECT", "TRACE", "FOO"].includes(method.toUpperCase());
  const body = bodyless ? undefined : utf8(JSON.stringify(randomJsonValue(rng)) ?? "null");
  return {
    label: `${method} ${path}`,
    method,
    path,
    headers: { "content-type": "application/json" },
    ...(body ? { body } : {}),
    expect: { kind: "read" },
  };
}
