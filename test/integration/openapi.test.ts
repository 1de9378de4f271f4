/**
 * The OpenAPI document against a real server's answers: every documented operation is
 * exercised over HTTP — successes and the errors a client meets most — and each answer must
 * have a documented status, a documented content type, the documented headers (X-Request-Id;
 * RateLimit fields on rate-limited operations, none on health checks) and a body that fits the
 * documented schema *closed*: a field the server sends but the document does not name fails.
 * An operation added to the document without an exercise here fails the last test.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { decode as decodeCbor, encode as encodeCbor } from "cbor-x";
import type { OpenApiDocument, Operation } from "../../src/api/openapi/types.ts";
import { type RunningServer, startServer } from "../../src/api/serve.ts";
import { generateKeyPair, type KeyPair, type SignedRecord, signClaim, toHex, toJsonSubmission } from "../../src/client/index.ts";
import { SseParser } from "../../src/client/sse.ts";
import { loadConfig } from "../../src/config/config.ts";
import { silentLogger } from "../../src/core/logger.ts";
import { type Schema, validate } from "../support/json-schema.ts";
import { cleanupAll, tempDir } from "./helpers.ts";

/** The document as the server serves it, by operationId. */
let doc: OpenApiDocument;
const byId = new Map<string, { method: string; path: string; op: Operation }>();

let server: RunningServer;
const exercised = new Set<string>();
const t0 = Date.now() - 60_000;

beforeAll(async () => {
  const config = {
    "data-dir": tempDir("stemedb-openapi-"),
    "backup-dir": tempDir("stemedb-openapi-backups-"),
    bind: "127.0.0.1:0",
  };
  server = await startServer(loadConfig(config, {}), { logger: silentLogger });
  doc = (await (await fetch(`${server.url}/openapi.json`)).json()) as OpenApiDocument;
  for (const [p, item] of Object.entries(doc.paths))
    for (const [method, op] of Object.entries(item))
      byId.set((op as Operation).operationId, { method: method.toUpperCase(), path: p, op: op as Operation });
});

afterAll(async () => {
  await server?.stop();
  await cleanupAll();
});

interface Call {
  body?: unknown;
  /** Send `body` as CBOR. */
  cbor?: boolean;
  headers?: Record<string, string>;
  key?: string;
}

/** Calls a documented operation and holds the answer to the document; returns the body. */
async function call(operationId: string, url: string, status: number, c: Call = {}): Promise<Record<string, unknown>> {
  const entry = byId.get(operationId);
  if (!entry) throw new Error(`no operation ${operationId} in the document`);
  const { method, op } = entry;
  const headers: Record<string, string> = { ...c.headers };
  if (c.key) headers.authorization = `Bearer ${c.key}`;
  let body: string | Uint8Array | undefined;
  if (c.body !== undefined) {
    headers["content-type"] ??= c.cbor ? "application/cbor" : "application/json";
    body = c.cbor ? encodeCbor(c.body) : typeof c.body === "string" ? c.body : JSON.stringify(c.body);
  }
  const res = await fetch(`${server.url}${url}`, { method, headers, ...(body !== undefined ? { body } : {}) });
  const raw = new Uint8Array(await res.arrayBuffer());
  const text = new TextDecoder().decode(raw);
  const where = `${method} ${url} → ${res.status}`;
  expect([where, res.status]).toEqual([where, status]);
  const documented = op.responses[String(res.status)];
  expect([where, documented !== undefined]).toEqual([where, true]);
  if (!documented) return {};
  if (!documented.content) {
    // An answer documented without a body (POST /mcp's 202) must have none.
    expect([where, raw.length, res.headers.has("x-request-id")]).toEqual([where, 0, true]);
    exercised.add(operationId);
    return {};
  }
  const type = (res.headers.get("content-type") ?? "").split(";")[0]?.trim() ?? "";
  const types = Object.keys(documented.content ?? {});
  expect([where, type, types.includes(type)]).toEqual([where, type, true]);
  expect([where, res.headers.has("x-request-id")]).toEqual([where, true]);
  exercised.add(operationId);
  const schema = documented.content?.[type]?.schema as Schema | undefined;
  const parsed = (type.endsWith("json") && type !== "application/x-ndjson") || type === "application/cbor";
  const value = !parsed ? { text } : type === "application/cbor" ? decodeCbor(raw) : JSON.parse(text);
  // RateLimit fields on every answer of a rate-limited operation but the door's 401 and 403 forbidden.
  const door = res.status === 401 || (res.status === 403 && value.code === "forbidden");
  const limited = "RateLimit" in (documented.headers ?? {}) && !door;
  expect([where, "ratelimit", res.headers.has("ratelimit")]).toEqual([where, "ratelimit", limited]);
  expect([where, "ratelimit-policy", res.headers.has("ratelimit-policy")]).toEqual([where, "ratelimit-policy", limited]);
  if (schema && parsed) expect([where, validate(value, schema, { root: doc, closed: true })]).toEqual([where, []]);
  return value as Record<string, unknown>;
}

const agentA = generateKeyPair();
const agentB = generateKeyPair();
const stranger = generateKeyPair();
const sign = (key: KeyPair, fields: Record<string, unknown> & { kind: string }, dt: number): SignedRecord =>
  signClaim(key, { ...fields, ts: t0 + dt });
const submission = (s: SignedRecord) => toJsonSubmission(s);
const hex = (s: SignedRecord) => toHex(s.id);

const aspirin = { subject: "oa/drug/aspirin", predicate: "bleeding_risk_pct" };
const cited = sign(agentA, { kind: "assertion", ...aspirin, object: 0.2, confidence: 0.9, source: "oa/trial-1" }, 10);
const dependant = sign(agentB, { kind: "assertion", ...aspirin, object: 12, confidence: 0.8, depends_on: [cited.id] }, 20);
const dangling = sign(
  agentB,
  {
    kind: "assertion",
    subject: "oa/drug/ibuprofen",
    predicate: "p",
    object: "x",
    confidence: 0.5,
    depends_on: ["ab".repeat(32)],
  },
  30,
);
const doomed = sign(
  agentA,
  { kind: "assertion", subject: "oa/drug/ibuprofen", predicate: "q", object: true, confidence: 0.5 },
  40,
);
const vote = sign(agentB, { kind: "vote", target: cited.id, value: 1 }, 50);

describe("every operation answers as documented", () => {
  test("ops: health, ready, metrics and the description itself", async () => {
    await call("health", "/v1/health", 200);
    await call("ready", "/v1/ready", 200);
    await call("metrics", "/metrics", 200);
    await call("openapi", "/openapi.json", 200);
    await call("docs", "/docs", 200);
  });

  test("writes: JSON and CBOR, duplicates, batches, votes, retractions, sources, epochs", async () => {
    const source = sign(agentA, { kind: "source", source_id: "oa/trial-1", title: "Trial 1", tier: 2 }, 1);
    await call("registerSource", "/v1/sources", 201, { body: submission(source) });
    await call("assert", "/v1/assert", 201, { body: submission(cited) });
    await call("assert", "/v1/assert", 200, { body: submission(cited) });
    await call("assert", "/v1/assert", 201, { cbor: true, body: { body: doomed.body, sig: doomed.sig } });
    await call("assertBatch", "/v1/assert/batch", 200, { body: { records: [submission(dependant), { kind: "assertion" }] } });
    const batch = await call("assertBatch", "/v1/assert/batch", 200, {
      cbor: true,
      headers: { accept: "application/cbor" },
      body: { records: [{ body: dangling.body, sig: dangling.sig }] },
    });
    expect(batch.accepted).toBe(1);
    await call("vote", "/v1/vote", 201, { body: submission(vote) });
    await call("vote", "/v1/vote", 400, { body: submission(sign(agentB, { kind: "retraction", target: cited.id }, 51)) });
    await call("retract", "/v1/retract", 201, { body: submission(sign(agentA, { kind: "retraction", target: doomed.id }, 60)) });
    await call("declareEpoch", "/v1/epochs", 201, {
      body: submission(sign(agentA, { kind: "epoch", name: "oa-e1", starts_at: t0 }, 2)),
    });
  });

  test("write errors are problems with documented codes", async () => {
    await call("assert", "/v1/assert", 400, { body: "{" });
    await call("assert", "/v1/assert", 400, { body: { ...submission(cited), colour: "red" } });
    await call("assert", "/v1/assert", 415, { body: "x", headers: { "content-type": "text/plain" } });
    const future = signClaim(agentA, { kind: "assertion", ...aspirin, object: 1, confidence: 1, ts: Date.now() + 3_600_000 });
    await call("assert", "/v1/assert", 422, { body: submission(future) });
    await call("assertBatch", "/v1/assert/batch", 400, { body: { records: [] } });
  });

  test("reads: records, listings, concepts", async () => {
    await call("getRecord", `/v1/assertions/${hex(cited)}`, 200);
    await call("getRecord", `/v1/assertions/${hex(vote)}`, 200);
    await call("getRecord", `/v1/assertions/${"00".repeat(32)}`, 404);
    await call("getRecord", "/v1/assertions/nothex", 400);
    await call("listRecords", "/v1/assertions?subject=oa/drug/*&limit=2", 200);
    await call("listRecords", "/v1/assertions?kind=any&order=desc", 200);
    await call("listRecords", "/v1/assertions?subjet=typo", 400);
    await call("concepts", "/v1/concepts?prefix=oa", 200);
    await call("concepts", "/v1/concepts", 200);
  });

  test("the change feed: a stream whose events fit their schemas; its errors", async () => {
    await call("changes", "/v1/changes?since=x", 400);
    await call("changes", "/v1/changes?watch=oa/drug/aspirin|p&lens=nope", 400);
    const { op } = byId.get("changes") as { op: Operation };
    const q = `since=0&kind=assertion&watch=${aspirin.subject}|${aspirin.predicate}&min_conflict=0.1`;
    const stop = new AbortController();
    const res = await fetch(`${server.url}/v1/changes?${q}`, { signal: stop.signal });
    const documented = op.responses["200"];
    expect(res.status).toBe(200);
    const type = (res.headers.get("content-type") ?? "").split(";")[0] as string;
    expect(Object.keys(documented?.content ?? {})).toContain(type);
    for (const h of ["x-request-id", "ratelimit", "ratelimit-policy", "cache-control", "x-accel-buffering"])
      expect([h, res.headers.has(h)]).toEqual([h, true]);
    // Read until one record and one conflict event; each data fits its component schema, closed.
    const parser = new SseParser();
    const decoder = new TextDecoder();
    const seen = new Map<string, unknown>();
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    while (!seen.has("record") || !seen.has("conflict")) {
      const { value, done } = await reader.read();
      if (done) break;
      for (const m of parser.push(decoder.decode(value, { stream: true })))
        if (!seen.has(m.type)) seen.set(m.type, JSON.parse(m.data));
    }
    stop.abort();
    const schemaOf = (name: string) => ({ $ref: `#/components/schemas/${name}` }) as Schema;
    expect(validate(seen.get("record"), schemaOf("Record"), { root: doc, closed: true })).toEqual([]);
    expect(validate(seen.get("conflict"), schemaOf("ChangeConflict"), { root: doc, closed: true })).toEqual([]);
    const cutoff = { last_lsn: 12, reason: "slow_consumer" };
    expect(validate(cutoff, schemaOf("ChangeCutoff"), { root: doc, closed: true })).toEqual([]);
    exercised.add("changes");
  });

  test("queries: one lens, several side by side, a subject, escalation", async () => {
    const q = `subject=${aspirin.subject}&predicate=${aspirin.predicate}`;
    const skeptic = await call("query", `/v1/query?${q}&lens=skeptic&escalate=0.1`, 200);
    expect(skeptic.escalation).toBeDefined();
    await call("query", `/v1/query?${q}&explain=false&as_of=${t0 + 15}`, 200);
    await call("query", `/v1/query?${q}&lens=nope`, 400);
    await call("query", "/v1/query?subject=oa/none&predicate=p", 200);
    await call("queryLenses", "/v1/query", 200, {
      body: {
        ...aspirin,
        lenses: ["trust", "recency", "vote", "authority", "layered"],
        layers: ["authority", "recency"],
        tolerance: 0.1,
      },
    });
    await call("queryLenses", "/v1/query", 400, { body: { ...aspirin, colour: 1 } });
    await call("subject", `/v1/subjects/${aspirin.subject}?lens=consensus`, 200);
  });

  test("trust: agents, escalations and their resolution, the query audit trail", async () => {
    await call("listAgents", "/v1/agents", 200);
    await call("listAgents", "/v1/agents?sort=key&limit=1", 200);
    await call("getAgent", `/v1/agents/${toHex(agentA.publicKey)}?recent=2`, 200);
    await call("getAgent", `/v1/agents/${toHex(stranger.publicKey)}`, 404);
    const open = await call("listEscalations", "/v1/escalations", 200);
    const id = (open.items as Array<{ id: string }>)[0]?.id as string;
    await call("resolveEscalation", `/v1/escalations/${id}/resolve`, 200, { body: { note: "checked", gold: hex(cited) } });
    await call("resolveEscalation", `/v1/escalations/${id}/resolve`, 409, { body: {} });
    await call("listEscalations", "/v1/escalations?status=all", 200);
    await Bun.sleep(400); // the audit trail is written in batches every 250 ms
    const trail = await call("queryAudit", "/v1/audit/queries?limit=3", 200);
    expect((trail.items as unknown[]).length).toBeGreaterThan(0);
  });

  test("provenance: sources, impact, retraction, epochs, chains", async () => {
    await call("listSources", "/v1/sources", 200);
    await call("getSource", "/v1/sources/oa%2Ftrial-1", 200);
    await call("getSource", "/v1/sources/never-seen", 404);
    await call("confirmSource", "/v1/admin/sources/oa%2Ftrial-1/confirm", 201, { body: { note: "checked" } });
    await call("confirmSource", "/v1/admin/sources/never-seen/confirm", 404);
    await call("confirmSource", "/v1/admin/sources/oa%2Ftrial-1/confirm", 400, { body: { tier: 1 } });
    await call("sourceImpact", "/v1/sources/oa%2Ftrial-1/impact?limit=1", 200);
    const wrong = sign(stranger, { kind: "source_retraction", source_id: "oa/trial-1" }, 70);
    await call("retractSource", "/v1/sources/oa%2Ftrial-1/retract", 403, { body: submission(wrong) });
    const right = sign(agentA, { kind: "source_retraction", source_id: "oa/trial-1", reason: "withdrawn" }, 71);
    await call("retractSource", "/v1/sources/oa%2Ftrial-1/retract", 201, { body: submission(right) });
    await call("getSource", "/v1/sources/oa%2Ftrial-1", 200);
    await call("listEpochs", "/v1/epochs", 200);
    await call("supersedeEpoch", "/v1/epochs/oa-e1/supersede", 201, { body: { by: "oa-e2" } });
    await call("supersedeEpoch", "/v1/epochs/never/supersede", 404, { body: { by: "x" } });
    await call("listEpochs", "/v1/epochs", 200);
    await call("provenance", `/v1/provenance/${hex(dependant)}`, 200);
    await call("provenance", `/v1/provenance/${hex(dependant)}?depth=0`, 200);
    await call("provenance", `/v1/provenance/${hex(dangling)}`, 200);
    await call("provenance", `/v1/provenance/${hex(vote)}`, 200);
    await call("provenance", `/v1/provenance/${"00".repeat(32)}`, 404);
    await call("exportBundle", "/v1/export?subject_prefix=oa/drug/*", 200);
    await call("exportBundle", "/v1/export?subject_prefix=oa/drug/aspirin&format=cbor", 200);
    await call("exportBundle", "/v1/export?format=xml", 400);
  });

  test("admin: gold standards, the decision audit, views, snapshots", async () => {
    await call("markGold", "/v1/admin/gold", 201, { body: { target: hex(dependant), note: "reviewed" } });
    await call("markGold", "/v1/admin/gold", 404, { body: { target: "00".repeat(32) } });
    await call("adminAudit", "/v1/admin/audit?limit=50", 200);
    await call("dropViews", "/v1/admin/views", 200);
    await call("snapshot", "/v1/admin/snapshot", 201);
    await call("snapshot", "/v1/admin/snapshot", 201, { body: { name: "oa-1" } });
    await call("snapshot", "/v1/admin/snapshot", 409, { body: { name: "oa-1" } });
    await call("snapshot", "/v1/admin/snapshot", 400, { body: { name: "../escape" } });
  });

  test("content defense: the quarantine queue, approval and rejection, circuit breakers", async () => {
    const authority = server.store.dataDir.nodeKey;
    const held = [1, 2].map((i) =>
      sign(agentB, { kind: "assertion", subject: "oa/held", predicate: "p", object: i, confidence: 0.9 }, 80 + i),
    );
    for (const h of held) {
      await call("assert", "/v1/assert", 201, { body: submission(h) });
      const hold = sign(authority, { kind: "review", action: "hold", target: h.id }, 90);
      await call("assert", "/v1/assert", 201, { body: submission(hold) });
    }
    const queue = await call("listQuarantine", "/v1/admin/quarantine?limit=1", 200);
    expect(queue.held).toBe(2);
    await call("listQuarantine", "/v1/admin/quarantine?cursor=nope", 400);
    await call("approveQuarantine", `/v1/admin/quarantine/${hex(held[0] as SignedRecord)}/approve`, 201, {
      body: { note: "checked" },
    });
    await call("approveQuarantine", `/v1/admin/quarantine/${hex(held[0] as SignedRecord)}/approve`, 409);
    await call("approveQuarantine", `/v1/admin/quarantine/${hex(cited)}/approve`, 404);
    await call("rejectQuarantine", `/v1/admin/quarantine/${hex(held[1] as SignedRecord)}/reject`, 201);
    await call("rejectQuarantine", `/v1/admin/quarantine/${hex(held[1] as SignedRecord)}/reject`, 409, { body: {} });
    await call("rejectQuarantine", `/v1/admin/quarantine/${hex(held[1] as SignedRecord)}/reject`, 400, { body: { why: 1 } });
    await call("listBreakers", "/v1/admin/breakers", 200);
    await call("listBreakers", "/v1/admin/breakers?state=ajar", 400);
    await call("resetBreaker", `/v1/admin/breakers/${toHex(agentB.publicKey)}/reset`, 200);
    await call("resetBreaker", `/v1/admin/breakers/${"00".repeat(32)}/reset`, 404);
  });

  test("mcp: JSON-RPC in and out; a notification; not JSON-RPC; not accepting JSON", async () => {
    const headers = { accept: "application/json, text/event-stream" };
    const init = {
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "openapi-test", version: "1" } },
    };
    const initialized = await call("mcp", "/mcp", 200, { headers, body: init });
    expect((initialized.result as { serverInfo: { name: string } }).serverInfo.name).toBe("stemedb");
    const listed = await call("mcp", "/mcp?namespace=oa", 200, {
      headers: { ...headers, "mcp-protocol-version": "2025-06-18" },
      body: { jsonrpc: "2.0", id: 2, method: "tools/list" },
    });
    expect((listed.result as { tools: unknown[] }).tools.length).toBe(7);
    await call("mcp", "/mcp", 202, { headers, body: { jsonrpc: "2.0", method: "notifications/initialized" } });
    await call("mcp", "/mcp", 400, { headers, body: { not: "json-rpc" } });
    await call("mcp", "/mcp", 400, { headers, body: "{" });
    await call("mcp", "/mcp?namespace=/bad", 400, { headers, body: init });
    await call("mcp", "/mcp", 406, { headers: { accept: "text/html" }, body: init });
    await call("mcp", "/mcp", 415, { headers: { ...headers, "content-type": "text/plain" }, body: JSON.stringify(init) });
  });

  test("cluster: a single node answers as a cluster of one; leaving and draining are not for it", async () => {
    const members = await call("clusterMembers", "/v1/cluster/members", 200);
    expect([members.clustered, (members.members as unknown[]).length]).toEqual([false, 1]);
    await call("clusterMembers", "/v1/cluster/members?x=1", 400);
    const shards = await call("clusterShards", "/v1/cluster/shards", 200);
    expect([shards.shard_count, shards.replication_factor]).toEqual([256, 1]);
    const local = await call("clusterShards", "/v1/cluster/shards?local=1", 200);
    expect((local.shards as unknown[]).length).toBe(256);
    await call("clusterShards", "/v1/cluster/shards?local=maybe", 400);
    await call("clusterLeave", "/v1/cluster/leave", 409);
    await call("clusterLeave", "/v1/cluster/leave", 400, { body: { now: true } });
    await call("clusterDrain", "/v1/cluster/nodes/n1/drain", 409);
  });

  test("keys: created, listed, revoked; then the door's 401 and 403 are documented too", async () => {
    const admin = await call("createKey", "/v1/admin/keys", 201, { body: { name: "oa-admin", role: "admin" } });
    const signing = await call("createKey", "/v1/admin/keys", 201, {
      key: admin.secret as string,
      body: { name: "oa-agent", role: "writer", signing: true },
    });
    expect(signing.agent).toMatch(/^[0-9a-f]{64}$/);
    const secret = admin.secret as string;
    const reader = await call("createKey", "/v1/admin/keys", 201, { key: secret, body: { name: "oa-reader", role: "reader" } });
    await call("createKey", "/v1/admin/keys", 400, { key: secret, body: { name: "x", role: "god" } });
    await call("listKeys", "/v1/admin/keys", 200, { key: secret });
    await call("listKeys", "/v1/admin/keys", 401);
    await call("listKeys", "/v1/admin/keys", 403, { key: reader.secret as string });
    await call("assert", "/v1/assert", 403, { key: reader.secret as string, body: submission(cited) });
    await call("health", "/v1/health", 200);
    await call("revokeKey", `/v1/admin/keys/${reader.id}`, 200, { key: secret });
    await call("revokeKey", `/v1/admin/keys/${"0".repeat(16)}`, 404, { key: secret });
  });

  test("every documented operation was exercised", () => {
    expect([...byId.keys()].filter((id) => !exercised.has(id))).toEqual([]);
  });
});
