/**
 * The MCP tools through the real SDK client, in memory (no sockets): the published schemas (a
 * description on every argument, written per namespace), the guide covering every lens, the
 * refused calls with their problem codes, and what the tools send to the API — through a fetch
 * that records each request and answers as the node would (the integration tests use real nodes).
 */
import { afterEach, describe, expect, test } from "bun:test";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { generateKeyPair, recordId, toHex, verifySignature } from "../../src/client/index.ts";
import { StemeError } from "../../src/core/errors.ts";
import { silentLogger } from "../../src/core/logger.ts";
import { validateRecord } from "../../src/core/record.ts";
import { encodeBody } from "../../src/crypto/signed.ts";
import { lensNames } from "../../src/lens/index.ts";
import { lensGuide } from "../../src/mcp/guide.ts";
import { createBackend, createMcpServer, keySigner, Namespace, problemMetaKey, tools } from "../../src/mcp/index.ts";

interface Sent {
  method: string;
  path: string;
  body: Record<string, unknown> | null;
}

/** A fetch that records what the tools send and answers with `reply`. */
function recordingFetch(reply: (sent: Sent) => { status: number; body: unknown }) {
  const sent: Sent[] = [];
  const fetchFn = async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(String(input));
    const s = {
      method: init?.method ?? "GET",
      path: `${url.pathname}${url.search}`,
      body: init?.body ? JSON.parse(String(init.body)) : null,
    };
    sent.push(s);
    const r = reply(s);
    return new Response(JSON.stringify(r.body), { status: r.status, headers: { "content-type": "application/json" } });
  };
  return { sent, fetch: Object.assign(fetchFn, { preconnect: fetch.preconnect }) as typeof fetch };
}

const written = { status: 201, body: { id: "ab".repeat(32), lsn: 7, status: "accepted", duplicate: false } };
const key = generateKeyPair();
const clients: Client[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
});

async function connect(
  options: { namespace?: string; signer?: "key" | StemeError; reply?: (s: Sent) => { status: number; body: unknown } } = {},
) {
  const net = recordingFetch(options.reply ?? (() => written));
  const signer = options.signer instanceof StemeError ? options.signer : keySigner(key);
  const backend = createBackend(
    { url: "http://node.test", headers: {}, fetch: net.fetch },
    signer,
    Namespace.parse(options.namespace),
  );
  const server = createMcpServer(backend, { version: "test", logger: silentLogger });
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  const client = new Client({ name: "test", version: "1" });
  await client.connect(clientSide);
  clients.push(client);
  const call = (name: string, args: Record<string, unknown>) =>
    client.callTool({ name, arguments: args }) as Promise<CallToolResult>;
  return { client, call, sent: net.sent };
}

function problem(result: CallToolResult): Record<string, unknown> {
  expect(result.isError).toBe(true);
  return result._meta?.[problemMetaKey] as Record<string, unknown>;
}

describe("what a client lists", () => {
  test("seven tools, every argument described, output schemas, annotations; the namespace is in the subject's description", async () => {
    const { client } = await connect({ namespace: "team/alpha" });
    const listed = (await client.listTools()).tools;
    expect(listed.map((t) => t.name)).toEqual([
      "assert_claim",
      "query_claim",
      "list_claims",
      "vote_claim",
      "retract_claim",
      "trace_provenance",
      "register_source",
    ]);
    expect(listed.map((t) => t.name)).toEqual(tools.map((t) => t.name));
    for (const t of listed) {
      expect([t.name, (t.description ?? "").length > 200]).toEqual([t.name, true]);
      expect(t.outputSchema?.type).toBe("object");
      expect(t.annotations?.readOnlyHint).toBeBoolean();
      const props = t.inputSchema.properties as Record<string, { description?: string }>;
      for (const [name, p] of Object.entries(props))
        expect([t.name, name, (p.description ?? "").length > 10]).toEqual([t.name, name, true]);
      expect((t.inputSchema as { additionalProperties?: boolean }).additionalProperties).toBe(false);
    }
    const subject = (listed[0]?.inputSchema.properties?.subject as { description?: string } | undefined)?.description;
    expect(subject).toContain("namespace 'team/alpha'");
    expect(client.getInstructions()).toContain("κ");
  });

  test("the guide explains every lens (a new lens cannot be left out), as a resource; the fact-check prompt", async () => {
    for (const name of lensNames) expect([name, (lensGuide[name] ?? "").length > 40]).toEqual([name, true]);
    const { client } = await connect();
    const { resources } = await client.listResources();
    expect(resources.map((r) => r.uri)).toEqual(["stemedb://guide/lenses"]);
    const guide = await client.readResource({ uri: "stemedb://guide/lenses" });
    const text = (guide.contents[0] as { text: string }).text;
    for (const name of lensNames) expect(text).toContain(`**${name}**`);
    const prompt = await client.getPrompt({
      name: "fact_check",
      arguments: { subject: "pharma/drug/aspirin", predicate: "bleeding_risk_pct" },
    });
    expect((prompt.messages[0]?.content as { text?: string } | undefined)?.text).toContain('subject "pharma/drug/aspirin"');
  });
});

describe("refused calls: a tool result with the problem's code, never a protocol error", () => {
  const cases: Array<[string, string, Record<string, unknown>, string, string]> = [
    ["a required argument missing", "assert_claim", { subject: "a/b", object: 1 }, "missing_field", "predicate"],
    [
      "an unknown argument (a typo)",
      "assert_claim",
      { subject: "a/b", predicate: "p", object: 1, confidance: 1 },
      "unknown_field",
      "confidance",
    ],
    ["a wrong type", "assert_claim", { subject: 7, predicate: "p", object: 1 }, "invalid_type", "subject"],
    [
      "confidence out of range",
      "assert_claim",
      { subject: "a/b", predicate: "p", object: 1, confidence: 2 },
      "out_of_range",
      "confidence",
    ],
    ["an empty text", "assert_claim", { subject: "", predicate: "p", object: 1 }, "invalid_text", "subject"],
    ["a bad id", "vote_claim", { target: "xyz", value: 1 }, "bad_hex", "target"],
    ["a vote of 2", "vote_claim", { target: "ab".repeat(32), value: 2 }, "invalid_request", "value"],
    ["an unknown lens", "query_claim", { subject: "a/b", predicate: "p", lens: "oracle" }, "out_of_range", "lens"],
    ["a tier of 7", "register_source", { source_id: "s", title: "t", tier: 7 }, "out_of_range", "tier"],
    [
      "too much evidence",
      "assert_claim",
      { subject: "a", predicate: "p", object: 1, evidence: Array(17).fill("e") },
      "too_long",
      "evidence",
    ],
    [
      "a time that is no time",
      "assert_claim",
      { subject: "a", predicate: "p", object: 1, valid_from: "someday" },
      "invalid_type",
      "valid_from",
    ],
  ];
  for (const [what, tool, args, code, field] of cases)
    test(what, async () => {
      const { call, sent } = await connect();
      const result = await call(tool, args);
      expect(problem(result)).toMatchObject({ code, field });
      const text = (result.content[0] as { text: string }).text;
      expect(text.startsWith(`${code}: ${field}: `)).toBe(true);
      expect(text).toContain("hint: ");
      expect(sent.filter((s) => s.method !== "GET")).toEqual([]); // nothing written
    });

  test("the server's problem comes back with its code, status and hint; a failing fetch is not a crash", async () => {
    const { call } = await connect({
      reply: () => ({
        status: 422,
        body: { code: "clock_skew", status: 422, detail: "ts: in the future", field: "ts", hint: "check the clock" },
      }),
    });
    expect(problem(await call("assert_claim", { subject: "a/b", predicate: "p", object: 1 }))).toEqual({
      code: "clock_skew",
      status: 422,
      detail: "ts: in the future",
      hint: "check the clock",
      field: "ts",
    });
    // The client checks a record before it signs it: a bad subject never leaves the agent.
    expect(problem(await call("assert_claim", { subject: "a//b", predicate: "p", object: 1 }))).toMatchObject({
      code: "invalid_path",
      field: "subject",
    });
    const broken = await connect({
      reply: (s) => (s.path.startsWith("/v1/provenance/") ? { status: 200, body: null } : written),
    });
    const result = await broken.call("trace_provenance", { id: "ab".repeat(32) });
    expect(result.isError).toBe(true); // a bug in what came back: `internal`, the process goes on
    expect((await broken.call("assert_claim", { subject: "a", predicate: "p", object: 1 })).isError).toBeFalsy();
  });

  test("a session without a signer refuses writes with its reason, and still reads", async () => {
    const why = new StemeError("no_signing_key", "no key to sign with");
    const { call } = await connect({ signer: why, reply: () => ({ status: 200, body: { items: [], next_cursor: null } }) });
    expect(problem(await call("assert_claim", { subject: "a", predicate: "p", object: 1 }))).toMatchObject({
      code: "no_signing_key",
    });
    expect(problem(await call("register_source", { source_id: "s", title: "t", tier: 1 }))).toMatchObject({
      code: "no_signing_key",
    });
    expect((await call("list_claims", {})).isError).toBeFalsy();
  });

  test("known_at is passed through; a server that refuses it says so in the hint", async () => {
    const { call, sent } = await connect({
      reply: () => ({
        status: 400,
        body: { code: "unknown_field", status: 400, detail: "known_at: not a query field", field: "known_at" },
      }),
    });
    const p = problem(await call("query_claim", { subject: "a", predicate: "p", known_at: "2025-01-01" }));
    expect(p).toMatchObject({ code: "unknown_field", field: "known_at" });
    expect(p.hint).toContain("older than known_at");
    expect(sent[0]).toMatchObject({ method: "POST", path: "/v1/query", body: { known_at: "2025-01-01", lenses: ["consensus"] } });
  });
});

describe("what the tools send", () => {
  test("assert_claim signs with the agent's key, under the namespace; ISO times become milliseconds", async () => {
    const { call, sent } = await connect({ namespace: "team/alpha" });
    const result = await call("assert_claim", {
      subject: "drug/aspirin",
      predicate: "bleeding_risk_pct",
      object: 0.2,
      confidence: 0.9,
      valid_from: "2025-01-01T00:00:00Z",
    });
    expect(result.structuredContent).toMatchObject({ id: "ab".repeat(32), agent: toHex(key.publicKey), subject: "drug/aspirin" });
    const body = sent[0]?.body as Record<string, unknown>;
    expect(sent[0]?.path).toBe("/v1/assert");
    expect(body).toMatchObject({
      kind: "assertion",
      subject: "team/alpha/drug/aspirin",
      agent: toHex(key.publicKey),
      valid_from: Date.UTC(2025, 0, 1),
    });
    const { sig, ...fields } = body;
    const id = recordId(encodeBody(validateRecord(fields, "json")));
    expect(verifySignature(Buffer.from(String(sig), "hex"), id, key.publicKey)).toBe(true);
  });

  test("query_claim asks every lens in one POST and shows subjects inside the namespace", async () => {
    const answer = (lens: string) => ({
      lens,
      winner: {
        id: "cd".repeat(32),
        agent: "ef".repeat(32),
        subject: "team/alpha/drug/aspirin",
        confidence: 0.9,
        ts: 1,
        object: 0.2,
      },
      value: 0.2,
      support: 0.6,
      conflict: 0.8,
      groups: [{ value: 0.2, weight: 0.9, count: 1, ids: [] }],
      candidates: 2,
      explain: ["why"],
      lsn: 9,
    });
    const { call, sent } = await connect({
      namespace: "team/alpha",
      reply: () => ({ status: 200, body: { results: { consensus: answer("consensus"), authority: answer("authority") } } }),
    });
    const result = await call("query_claim", {
      subject: "drug/aspirin",
      predicate: "p",
      lenses: ["consensus", "authority"],
      tolerance: 0.1,
    });
    expect(sent).toHaveLength(1);
    expect(sent[0]?.body).toEqual({
      subject: "team/alpha/drug/aspirin",
      predicate: "p",
      lenses: ["consensus", "authority"],
      tolerance: 0.1,
    });
    const s = result.structuredContent as { answers: Array<Record<string, unknown>>; summary: string };
    expect(s.answers.map((a) => [a.lens, a.verdict, a.conflict])).toEqual([
      ["consensus", "contested", 0.8],
      ["authority", "contested", 0.8],
    ]);
    expect(s.summary).toContain("Contested");
  });

  test("list_claims stays inside the namespace unless told otherwise, newest first", async () => {
    const { call, sent } = await connect({
      namespace: "team/alpha",
      reply: () => ({ status: 200, body: { items: [], next_cursor: null } }),
    });
    await call("list_claims", {});
    await call("list_claims", { subject: "drug/*", predicate: "p" });
    await call("list_claims", { kind: "source" });
    const queries = sent.map((s) => Object.fromEntries(new URL(s.path, "http://x").searchParams));
    expect(queries).toEqual([
      { subject: "team/alpha/*", kind: "assertion", limit: "20", order: "desc" },
      { subject: "team/alpha/drug/*", predicate: "p", kind: "assertion", limit: "20", order: "desc" },
      { kind: "source", limit: "20", order: "desc" },
    ]);
  });
});
