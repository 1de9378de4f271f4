/**
 * Trust, views, escalations and the query audit trail over HTTP, against a real server on
 * loopback with a temp data dir.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import path from "node:path";
import { type RunningServer, startServer } from "../../src/api/serve.ts";
import { generateKeyPair, type KeyPair, type SignedRecord, signClaim, StemeClient, toHex } from "../../src/client/index.ts";
import { loadConfig } from "../../src/config/config.ts";
import { silentLogger } from "../../src/core/logger.ts";
import { cleanupAll, tempDir } from "./helpers.ts";

let server: RunningServer;
let client: StemeClient;
let dataDir: string;
let authority: KeyPair;
const t0 = Date.now() - 100_000;
const expert = generateKeyPair();
const crowd = Array.from({ length: 4 }, () => generateKeyPair());

async function put(key: KeyPair, fields: Record<string, unknown> & { kind: string }, ts: number): Promise<SignedRecord> {
  const signed = signClaim(key, { ...fields, ts });
  await client.submit(signed);
  return signed;
}

async function get(pathAndQuery: string) {
  const res = await fetch(`${server.url}${pathAndQuery}`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> & { items?: Array<Record<string, unknown>> } };
}

beforeAll(async () => {
  dataDir = tempDir("stemedb-reads-");
  server = await startServer(
    loadConfig({ "data-dir": dataDir, bind: "127.0.0.1:0", "log-level": "error", "trust-interval-ms": "50" }, {}),
    { logger: silentLogger },
  );
  client = new StemeClient({ url: server.url });
  authority = server.store.dataDir.nodeKey;
  // The expert (seeded by the authority) says true; four unknown agents say false.
  await put(authority, { kind: "review", action: "trust_seed", target: toHex(expert.publicKey) }, t0);
  await put(expert, { kind: "assertion", subject: "t/claim", predicate: "holds", object: true, confidence: 0.7 }, t0 + 1);
  for (const [i, k] of crowd.entries())
    await put(k, { kind: "assertion", subject: "t/claim", predicate: "holds", object: false, confidence: 0.9 }, t0 + 2 + i);
});

afterAll(async () => {
  await server.stop();
  await cleanupAll();
});

describe("trust", () => {
  test("the trust lens weighs τ: one seeded expert outweighs four unknown agents; consensus does not", async () => {
    const { results } = await client.queryLenses("t/claim", "holds", ["trust", "consensus"], { fresh: true });
    expect(results.trust?.value).toBe(true);
    expect(results.consensus?.value).toBe(false);
    expect(results.trust?.trust_lsn).toBeGreaterThanOrEqual(6);
    expect(results.consensus?.trust_lsn).toBeUndefined();
  });

  test("GET /v1/agents/:key: τ, how it came about, counts and recent records; 404 for a stranger", async () => {
    const a = await client.agent(toHex(expert.publicKey));
    expect(a.trust).toBe(1);
    expect(a.seeded).toBe(true);
    expect(a.authority).toBe(false);
    expect(a.counts.assertion).toBe(1);
    expect(a.recent).toHaveLength(1);
    const nobody = await get(`/v1/agents/${toHex(generateKeyPair().publicKey)}`);
    expect(nobody.status).toBe(404);
    expect(nobody.body.code).toBe("not_found");
    expect((await get("/v1/agents/not-hex")).status).toBe(400);
  });

  test("GET /v1/agents?sort=trust lists the authority and the seeded expert first, unknowns at the floor", async () => {
    const page = await client.agents({ sort: "trust", limit: 2 });
    expect(page.items.map((i) => i.agent).sort()).toEqual([toHex(authority.publicKey), toHex(expert.publicKey)].sort());
    expect(page.next_cursor).not.toBeNull();
    const rest = await client.agents({ sort: "trust", cursor: page.next_cursor as string, limit: 100 });
    expect(rest.items).toHaveLength(4);
    for (const item of rest.items) expect(item.trust).toBe(0.01);
    expect((await get("/v1/agents?sort=age")).status).toBe(400);
  });

  test("an endorsement by a trusted agent lifts an unknown agent, seen after the background refresh", async () => {
    const lifted = crowd[0] as KeyPair;
    const claims = await client.list({ agent: toHex(lifted.publicKey) });
    const target = claims.items[0]?.id as string;
    await client.vote(signClaim(expert, { kind: "vote", target, value: 1, ts: t0 + 50 }));
    let trust = 0.01;
    for (let i = 0; i < 100 && trust === 0.01; i++) {
      await Bun.sleep(20);
      trust = (await client.agent(toHex(lifted.publicKey))).trust;
    }
    expect(trust).toBeGreaterThan(0.5);
    expect((await client.agent(toHex(lifted.publicKey))).endorsed_by).toBe(1);
  });
});

describe("views", () => {
  test("a query asked again is kept and then served from a view (metrics count it), a write drops it, fresh=true bypasses it", async () => {
    const subject = "t/views";
    const k = crowd[1] as KeyPair;
    await put(k, { kind: "assertion", subject, predicate: "p", object: 1, confidence: 0.5 }, t0 + 60);
    const hits = async () => {
      const text = await (await fetch(`${server.url}/metrics`)).text();
      return Number(/stemedb_view_reads_total\{result="hit"\} (\d+)/.exec(text)?.[1] ?? 0);
    };
    const before = await hits();
    const first = await client.query(subject, "p", { lens: "recency" });
    const second = await client.query(subject, "p", { lens: "recency" }); // kept now (src/query/doorkeeper.ts)
    expect(await hits()).toBe(before);
    const third = await client.query(subject, "p", { lens: "recency" });
    expect(second).toEqual(first);
    expect(third).toEqual(first);
    expect(await hits()).toBe(before + 1);
    await put(k, { kind: "assertion", subject, predicate: "p", object: 2, confidence: 0.5 }, t0 + 61);
    expect((await client.query(subject, "p", { lens: "recency" })).value).toBe(2);
    const h = await hits();
    await client.query(subject, "p", { lens: "recency", fresh: true });
    expect(await hits()).toBe(h);
    const dropped = await fetch(`${server.url}/v1/admin/views`, { method: "DELETE" });
    expect(dropped.status).toBe(200);
    expect(((await dropped.json()) as { dropped: number }).dropped).toBeGreaterThan(0);
    expect((await client.query(subject, "p", { lens: "recency" })).value).toBe(2);
  });
});

describe("escalations", () => {
  test("κ at the threshold opens one escalation per winner, signed by the node; resolving closes it", async () => {
    const subject = "t/contested";
    await put(crowd[2] as KeyPair, { kind: "assertion", subject, predicate: "p", object: "yes", confidence: 0.8 }, t0 + 70);
    await put(crowd[3] as KeyPair, { kind: "assertion", subject, predicate: "p", object: "no", confidence: 0.8 }, t0 + 71);
    // Two equal camps: κ = 1, which reaches even the highest threshold.
    const split = await client.query(subject, "p", { lens: "consensus", escalate: 1 });
    expect(split.conflict).toBe(1);
    const opened = split.escalation as { id: string; target: string; opened: boolean };
    expect(opened.opened).toBe(true);
    expect(opened.target).toBe(split.winner?.id as string);
    // The same winner again: the open escalation is found, not duplicated.
    const again = await client.query(subject, "p", { lens: "skeptic", escalate: 0.5 });
    expect(again.escalation).toEqual({ ...opened, opened: false });
    const open = await client.escalations("open");
    expect(open.items).toHaveLength(1);
    expect(open.items[0]).toMatchObject({
      id: opened.id,
      status: "open",
      context: { subject, predicate: "p", lens: "consensus" },
    });
    // The escalation is a review record signed by the node's authority key.
    const review = await client.get(opened.id);
    expect(review).toMatchObject({
      kind: "review",
      action: "escalate",
      agent: toHex(authority.publicKey),
      target: opened.target,
    });

    const resolved = await client.resolveEscalation(opened.id, "checked the sources: yes");
    expect(resolved.escalation).toMatchObject({ status: "resolved", resolution: { note: "checked the sources: yes" } });
    expect((await client.escalations("open")).items).toHaveLength(0);
    const twice = await fetch(`${server.url}/v1/escalations/${opened.id}/resolve`, { method: "POST", body: "{}" });
    expect(twice.status).toBe(409);
    const unknown = await fetch(`${server.url}/v1/escalations/${"0".repeat(64)}/resolve`, { method: "POST", body: "{}" });
    expect(unknown.status).toBe(404);
    const bad = await fetch(`${server.url}/v1/escalations/${opened.id}/resolve`, { method: "POST", body: '{"nope":1}' });
    expect(bad.status).toBe(400);
    expect((await get("/v1/escalations?status=maybe")).status).toBe(400);
    // Below the threshold: no escalation field.
    const low = await client.query("t/claim", "holds", { lens: "recency", escalate: 0.99 });
    expect(low.escalation).toBeUndefined();
  });
});

/**
 * Waits until TrustRank has read up to the log's end (its timer runs every 50 ms here). A view is
 * kept only when TrustRank did not move while the query resolved, so a test that counts on
 * views asks once nothing will move under it.
 */
async function trustSettled(agent: KeyPair): Promise<void> {
  for (let i = 0; i < 250; i++) {
    const health = (await get("/v1/health")).body;
    const trust = (await get(`/v1/agents/${toHex(agent.publicKey)}`)).body;
    if (health.index_lsn === health.lsn && trust.trust_lsn === health.lsn) return;
    await Bun.sleep(20);
  }
  throw new Error("TrustRank did not catch up with the log within 5 s");
}

describe("query audit trail", () => {
  test("every query is recorded with caller, lens, parameters, winner, κ and LSN; filters and paging work", async () => {
    const subject = "t/audited";
    const w = await put(crowd[0] as KeyPair, { kind: "assertion", subject, predicate: "p", object: 7, confidence: 0.5 }, t0 + 80);
    await trustSettled(crowd[0] as KeyPair);
    await client.query(subject, "p", { lens: "authority", tolerance: 0.1 });
    await client.query(subject, "p", { lens: "authority", tolerance: 0.1 }); // asked again: kept as a view
    await client.query(subject, "p", { lens: "authority", tolerance: 0.1 }); // from a view: still recorded
    await client.queryLenses(subject, "p", ["recency", "skeptic"]);
    const all = await client.auditQueries({ subject });
    expect(all.items).toHaveLength(5);
    const newest = all.items[0] as Record<string, unknown>;
    expect(newest).toMatchObject({ caller: "127.0.0.1", subject, predicate: "p", winner: toHex(w.id), value: 7, conflict: 0 });
    expect(typeof newest.lsn).toBe("number");
    expect(typeof newest.request_id).toBe("string");
    const authorityOnes = await client.auditQueries({ subject, lens: "authority" });
    expect(authorityOnes.items.map((i) => i.from_view)).toEqual([true, false, false]);
    expect(authorityOnes.items[0]?.params).toEqual({ tolerance: 0.1 });
    const page1 = await client.auditQueries({ subject, limit: 3 });
    expect(page1.items).toHaveLength(3);
    const page2 = await client.auditQueries({ subject, limit: 3, cursor: page1.next_cursor as string });
    expect(page2.items).toHaveLength(2);
    expect(page2.next_cursor).toBeNull();
    expect((await get("/v1/audit/queries?nope=1")).status).toBe(400);
    expect((await get("/v1/audit/queries?cursor=abc")).status).toBe(400);
  });

  test("entries are in <data-dir>/audit.sqlite, apart from the derived index", async () => {
    await client.auditQueries({}); // flushes
    const db = new Database(path.join(dataDir, "audit.sqlite"), { readonly: true });
    try {
      const n = (db.query("SELECT sum(n) AS n FROM query_batches").get() as { n: number }).n;
      expect(n).toBeGreaterThan(5);
    } finally {
      db.close();
    }
  });
});
