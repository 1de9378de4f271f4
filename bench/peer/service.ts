/**
 * The peer of `make bench-peer`: "a table in PostgreSQL and a small service that verifies
 * signatures", written the way a competent engineer would in an afternoon, on its fastest
 * runtime (Bun). It takes StemeDB's own write requests and answers the consensus lens in SQL.
 *
 *   bun bench/peer/service.ts --port P --pg-port Q [--pool N]
 *
 * - `POST /v1/assert/batch` with a CBOR body `{records: [{body, sig}]}` and `POST /v1/assert`
 *   with a CBOR body `{body, sig}`: each record's body is decoded (cbor-x), its fields checked,
 *   its id is BLAKE3 of the body bytes (@noble/hashes) and its signature is checked over the id
 *   with node:crypto's native Ed25519 (what StemeDB signs: docs/FORMAT.md#id-and-signature).
 *   Then one `INSERT … ON CONFLICT (id) DO NOTHING RETURNING id` per request: one durable
 *   transaction (PostgreSQL's defaults: fsync, synchronous_commit, full_page_writes all on).
 * - `GET /v1/query?subject=S&predicate=P&lens=consensus`: docs/SEMANTICS.md#the-lenses in one
 *   SQL statement (one agent, one voice; groups by value; Σ confidence in (ts, id) order; ties
 *   to the group holding the latest claim; the winner is that group's latest member).
 *
 * Two of these run side by side (one per core), each with its own connection pool.
 */
import crypto, { type KeyObject } from "node:crypto";
import { parseArgs } from "node:util";
import { blake3 } from "@noble/hashes/blake3.js";
import { SQL } from "bun";
import { decode } from "cbor-x";

const { values: flags } = parseArgs({
  args: process.argv.slice(2),
  options: { port: { type: "string" }, "pg-port": { type: "string" }, pool: { type: "string" } },
  strict: true,
});
const port = Number(flags.port);
const sql = new SQL({
  hostname: "127.0.0.1",
  port: Number(flags["pg-port"]),
  username: "postgres",
  database: "postgres",
  max: Number(flags.pool ?? 16),
  idleTimeout: 0,
});

// The table and its index: bench/peer/pg.ts (schema).

// ---------- one record: decode, check, hash, verify ----------

interface Row {
  id: Uint8Array;
  agent: Uint8Array;
  subject: string;
  predicate: string;
  /** The object as JSON text: equal values (canonical CBOR bytes) give equal text for the values JSON can hold. */
  object: string;
  confidence: number;
  ts: number;
  body: Uint8Array;
  sig: Uint8Array;
}

class BadRecord extends Error {}

const spkiPrefix = Buffer.from("302a300506032b6570032100", "hex");
const keys = new Map<string, KeyObject>();

function publicKey(raw: Uint8Array): KeyObject {
  const hex = Buffer.from(raw).toString("hex");
  let key = keys.get(hex);
  if (!key) {
    if (keys.size > 100_000) keys.clear();
    key = crypto.createPublicKey({ key: Buffer.concat([spkiPrefix, raw]), format: "der", type: "spki" });
    keys.set(hex, key);
  }
  return key;
}

const isBytes = (x: unknown, n: number): x is Uint8Array => x instanceof Uint8Array && x.length === n;

function checkRecord(body: unknown, sig: unknown): Row {
  if (!(body instanceof Uint8Array) || body.length > 65_536) throw new BadRecord("body: expected a byte string");
  if (!isBytes(sig, 64)) throw new BadRecord("sig: expected 64 bytes");
  const r = decode(body) as Record<string, unknown>;
  if (r === null || typeof r !== "object") throw new BadRecord("body: expected a map");
  const { v, kind, agent, subject, predicate, object, confidence } = r;
  // cbor-x answers an integer with an 8-byte head (every millisecond time) as a BigInt.
  const ts = typeof r.ts === "bigint" ? Number(r.ts) : r.ts;
  if (v !== 1 || kind !== "assertion") throw new BadRecord("only v1 assertions");
  if (!isBytes(agent, 32)) throw new BadRecord("agent: expected 32 bytes");
  if (typeof ts !== "number" || !Number.isSafeInteger(ts) || ts < 0) throw new BadRecord("ts: expected ms since the epoch");
  if (typeof subject !== "string" || subject.length === 0 || subject.length > 512) throw new BadRecord("subject");
  if (typeof predicate !== "string" || predicate.length === 0 || predicate.length > 256) throw new BadRecord("predicate");
  if (typeof confidence !== "number" || !(confidence >= 0 && confidence <= 1)) throw new BadRecord("confidence in [0, 1]");
  if (object === undefined) throw new BadRecord("object: required");
  const id = blake3(body);
  if (!crypto.verify(null, id, publicKey(agent), sig)) throw new BadRecord("signature does not verify");
  return { id, agent, subject, predicate, object: JSON.stringify(object), confidence, ts, body, sig };
}

// ---------- writes ----------

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const json = (x: unknown, status = 200) => Response.json(x, { status });
const problem = (status: number, code: string, detail: string) =>
  Response.json(
    { type: `about:blank#${code}`, status, code, detail },
    { status, headers: { "content-type": "application/problem+json" } },
  );

/** Inserts the rows in one statement (one transaction); answers the ids that were new. */
async function insert(rows: Row[]): Promise<Set<string>> {
  if (rows.length === 0) return new Set();
  const fresh = await sql`INSERT INTO assertions ${sql(rows)} ON CONFLICT (id) DO NOTHING RETURNING id`;
  return new Set((fresh as Array<{ id: Uint8Array }>).map((r) => hex(r.id)));
}

class Malformed extends Error {}

async function decodeRequest(request: Request): Promise<unknown> {
  try {
    return decode(new Uint8Array(await request.arrayBuffer()));
  } catch (e) {
    throw new Malformed(`the body is not CBOR: ${(e as Error).message}`);
  }
}

async function writeBatch(request: Request): Promise<Response> {
  const envelope = (await decodeRequest(request)) as { records?: unknown };
  if (!Array.isArray(envelope?.records) || envelope.records.length === 0 || envelope.records.length > 10_000)
    return problem(400, "malformed_batch", "expected {records: [{body, sig}]} with 1–10,000 records");
  const checked = envelope.records.map((item: { body?: unknown; sig?: unknown }) => {
    try {
      return checkRecord(item?.body, item?.sig);
    } catch (e) {
      if (e instanceof BadRecord) return e;
      return new BadRecord(`malformed record: ${(e as Error).message}`);
    }
  });
  const rows = new Map<string, Row>();
  for (const c of checked) if (!(c instanceof BadRecord)) rows.set(hex(c.id), c);
  const fresh = await insert([...rows.values()]);
  let accepted = 0;
  let rejected = 0;
  const results = checked.map((c) => {
    if (c instanceof BadRecord) {
      rejected++;
      return { error: { code: "invalid_record", detail: c.message } };
    }
    accepted++;
    const id = hex(c.id);
    const duplicate = !fresh.delete(id); // a second copy in one batch answers duplicate
    return { id, status: "accepted", duplicate };
  });
  return json({ results, accepted, rejected });
}

async function writeOne(request: Request): Promise<Response> {
  const item = (await decodeRequest(request)) as { body?: unknown; sig?: unknown };
  let row: Row;
  try {
    row = checkRecord(item?.body, item?.sig);
  } catch (e) {
    return problem(400, "invalid_record", (e as Error).message);
  }
  const fresh = await insert([row]);
  const duplicate = fresh.size === 0;
  return json({ id: hex(row.id), status: "accepted", duplicate }, duplicate ? 200 : 201);
}

// ---------- the consensus lens in SQL ----------

interface GroupRow {
  object: string;
  weight: number;
  n: string | number;
  ids: Uint8Array[];
  voices: string | number;
  /** The winning record (the heaviest group's latest member); null on the other groups. */
  w_id: Uint8Array | null;
  w_agent: Uint8Array | null;
  w_ts: string | number | null;
  w_confidence: number | null;
  w_body: Uint8Array | null;
  w_sig: Uint8Array | null;
}

/**
 * One agent, one voice (each agent's latest claim by (ts, id)); groups by value; a group
 * weighs Σ confidence, summed in (ts, id) order as StemeDB sums it (so equal sums are equal
 * here too); heaviest first, ties to the group whose latest member is later; the winner is
 * the first group's latest member, read back whole.
 */
function groupsOf(subject: string, predicate: string): Promise<GroupRow[]> {
  return sql`
    WITH voice AS (
      SELECT DISTINCT ON (agent) id, ts, object, confidence
      FROM assertions WHERE subject = ${subject} AND predicate = ${predicate}
      ORDER BY agent, ts DESC, id DESC),
    grp AS (
      SELECT object,
             sum(confidence ORDER BY ts, id) AS weight,
             count(*) AS n,
             array_agg(id ORDER BY ts, id) AS ids,
             (array_agg(id ORDER BY ts DESC, id DESC))[1] AS latest_id,
             max(ts) AS latest_ts,
             sum(count(*)) OVER () AS voices
      FROM voice GROUP BY object),
    ranked AS (
      SELECT *, row_number() OVER (ORDER BY weight DESC, latest_ts DESC, latest_id DESC) AS rank FROM grp)
    SELECT r.object, r.weight, r.n, r.ids, r.voices,
           w.id AS w_id, w.agent AS w_agent, w.ts AS w_ts, w.confidence AS w_confidence, w.body AS w_body, w.sig AS w_sig
    FROM ranked r LEFT JOIN assertions w ON r.rank = 1 AND w.id = r.latest_id
    ORDER BY r.rank` as Promise<GroupRow[]>;
}

/** κ (docs/SEMANTICS.md#the-conflict-score): 0 for one group, 1 for an even split. */
function kappa(weights: number[]): number {
  if (weights.length < 2) return 0;
  const total = weights.reduce((a, b) => a + b, 0);
  if (total <= 0) return 0;
  return Math.min(1, Math.max(0, (1 - Math.max(...weights) / total) / (1 - 1 / weights.length)));
}

/** The answer in StemeDB's shape: the winning record whole, the groups with their ids, κ, a short explanation. */
async function consensus(subject: string, predicate: string) {
  const groups = await groupsOf(subject, predicate);
  const top = groups[0];
  const total = groups.reduce((s, g) => s + g.weight, 0);
  const conflict = kappa(groups.map((g) => g.weight));
  const value = top ? JSON.parse(top.object) : null;
  const winner =
    top?.w_id && top.w_agent && top.w_body && top.w_sig
      ? {
          id: hex(top.w_id),
          v: 1,
          ts: Number(top.w_ts),
          kind: "assertion",
          agent: hex(top.w_agent),
          object: value,
          subject,
          predicate,
          confidence: top.w_confidence,
          sig: hex(top.w_sig),
          body: hex(top.w_body),
        }
      : null;
  const voices = top ? Number(top.voices) : 0;
  return {
    lens: "consensus",
    winner,
    value,
    support: top && total > 0 ? top.weight / total : 0,
    conflict,
    groups: groups.map((g) => ({ value: JSON.parse(g.object), weight: g.weight, count: Number(g.n), ids: g.ids.map(hex) })),
    candidates: voices,
    explain: top
      ? [
          `${voices} candidates`,
          `${groups.length} values`,
          `${top.object} has the largest Σ confidence: ${top.weight} of ${total}`,
          `κ = ${conflict.toFixed(2)}`,
        ]
      : ["no candidates: nothing to resolve"],
    subject,
    predicate,
  };
}

async function query(url: URL): Promise<Response> {
  const subject = url.searchParams.get("subject");
  const predicate = url.searchParams.get("predicate");
  const lens = url.searchParams.get("lens") ?? "consensus";
  if (!subject || !predicate) return problem(400, "invalid_query", "subject and predicate are required");
  if (lens !== "consensus") return problem(400, "unknown_lens", "this service answers the consensus lens only");
  return json(await consensus(subject, predicate));
}

// ---------- the server ----------

async function route(request: Request): Promise<Response> {
  const url = new URL(request.url);
  const at = `${request.method} ${url.pathname}`;
  if (at === "POST /v1/assert/batch") return writeBatch(request);
  if (at === "POST /v1/assert") return writeOne(request);
  if (at === "GET /v1/query") return query(url);
  if (at === "GET /v1/health") return json({ status: "ok" });
  return problem(404, "not_found", at);
}

if (import.meta.main) {
  Bun.serve({
    hostname: "127.0.0.1",
    port,
    maxRequestBodySize: 64 * 1024 * 1024,
    async fetch(request) {
      try {
        return await route(request);
      } catch (e) {
        if (e instanceof Malformed) return problem(400, "malformed_cbor", e.message);
        console.error(e);
        return problem(500, "internal", (e as Error).message);
      }
    },
  });
  process.on("SIGTERM", async () => {
    await sql.close({ timeout: 2 });
    process.exit(0);
  });
}
