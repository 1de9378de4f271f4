/**
 * `stemedb mcp` on stdio, through the official SDK client, against a real server process: the
 * tools as listed, every tool called by two agents (each its own `stemedb mcp` process and key)
 * with its answer checked against the HTTP API, refused calls as tool errors with their codes,
 * standard output holding nothing but the protocol, and the start-up and shutdown rules. The
 * compiled binary's `mcp` is covered in binary.test.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { fromHex, generateKeyPair, type KeyPair, toHex, verifySignature } from "../../src/client/index.ts";
import { problemMetaKey } from "../../src/mcp/index.ts";
import { initDataDir, writeKeyFile } from "../../src/store/datadir.ts";
import { bunPath, cleanupAll, mainTs, repoRoot, runCli, type ServerProcess, spawnServer, tempDir, track } from "./helpers.ts";

let server: ServerProcess;
let dir: string;
const agents: Record<"a" | "b", { key: KeyPair; file: string; client: Client }> = {} as never;
const namespace = "it";

async function stdioClient(keyFile: string, extraEnv: Record<string, string> = {}): Promise<Client> {
  const transport = new StdioClientTransport({
    command: bunPath,
    args: [mainTs, "mcp"],
    cwd: repoRoot,
    // Everything from the environment, as an MCP client's "env" block gives it.
    env: {
      PATH: process.env.PATH ?? "",
      STEMEDB_URL: server.url,
      STEMEDB_KEY_FILE: keyFile,
      STEMEDB_NAMESPACE: namespace,
      ...extraEnv,
    },
    stderr: "pipe",
  });
  const client = new Client({ name: "stemedb-test", version: "1" });
  await client.connect(transport);
  return client;
}

beforeAll(async () => {
  dir = tempDir("stemedb-mcp-stdio-");
  initDataDir(join(dir, "data"));
  server = await spawnServer(join(dir, "data"));
  for (const name of ["a", "b"] as const) {
    const key = generateKeyPair();
    const file = join(dir, `${name}.key`);
    writeKeyFile(file, key);
    agents[name] = { key, file, client: await stdioClient(file) };
  }
}, 60_000);

afterAll(async () => {
  for (const a of Object.values(agents)) await a.client?.close();
  await server?.stop();
  await cleanupAll();
});

async function call(who: "a" | "b", name: string, args: Record<string, unknown>): Promise<CallToolResult> {
  return (await agents[who].client.callTool({ name, arguments: args })) as CallToolResult;
}

async function ok(who: "a" | "b", name: string, args: Record<string, unknown>): Promise<Record<string, unknown>> {
  const result = await call(who, name, args);
  expect([name, result.isError ?? false, (result.content[0] as { text: string }).text.length > 0]).toEqual([name, false, true]);
  return result.structuredContent as Record<string, unknown>;
}

function refusal(result: CallToolResult): Record<string, unknown> {
  expect(result.isError).toBe(true);
  const p = result._meta?.[problemMetaKey] as Record<string, unknown>;
  expect((result.content[0] as { text: string }).text.startsWith(`${p.code}: `)).toBe(true);
  return p;
}

async function http(path: string, init?: RequestInit): Promise<Record<string, unknown>> {
  const res = await fetch(`${server.url}${path}`, init);
  return (await res.json()) as Record<string, unknown>;
}

describe("stemedb mcp over stdio", () => {
  test("lists seven described tools, the lens guide and the fact-check prompt", async () => {
    const { tools } = await agents.a.client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(
      ["assert_claim", "list_claims", "query_claim", "register_source", "retract_claim", "trace_provenance", "vote_claim"].sort(),
    );
    for (const t of tools)
      for (const [arg, schema] of Object.entries(t.inputSchema.properties ?? {}))
        expect([t.name, arg, typeof (schema as { description?: string }).description]).toEqual([t.name, arg, "string"]);
    expect((await agents.a.client.listResources()).resources[0]?.uri).toBe("stemedb://guide/lenses");
    expect((await agents.a.client.listPrompts()).prompts[0]?.name).toBe("fact_check");
    expect(agents.a.client.getInstructions()).toContain(toHex(agents.a.key.publicKey));
  });

  test("every tool, by two agents, each answer checked against the HTTP API", async () => {
    const A = toHex(agents.a.key.publicKey);
    const B = toHex(agents.b.key.publicKey);
    await ok("a", "register_source", { source_id: "it-label", title: "A regulator's label", tier: 1 });
    await ok("b", "register_source", { source_id: "it-forum", title: "A forum thread", tier: 5 });
    const source = await http("/v1/sources/it-label");
    // A tier is a claim: 1 as registered, 4 as it counts until an authority confirms it.
    expect(source).toMatchObject({ source_id: "it-label", claimed_tier: 1, tier: 4, confirmed: false });

    // assert_claim: the id it answers is GET-able, signed by the agent, under the namespace.
    const claim = { subject: "drug/aspirin", predicate: "bleeding_risk_pct" };
    const a = await ok("a", "assert_claim", { ...claim, object: 0.2, confidence: 0.95, source: "it-label" });
    const b = await ok("b", "assert_claim", {
      ...claim,
      object: 12,
      confidence: 0.6,
      source: "it-forum",
      evidence: ["a forum post"],
    });
    const stored = await http(`/v1/assertions/${a.id}`);
    expect(stored).toMatchObject({ agent: A, subject: "it/drug/aspirin", object: 0.2, confidence: 0.95, source: "it-label" });
    expect(verifySignature(fromHex(stored.sig, "sig", 64), fromHex(stored.id, "id", 32), fromHex(A, "agent", 32))).toBe(true);
    expect(a).toMatchObject({ agent: A, subject: "drug/aspirin", status: "accepted", duplicate: false });

    // query_claim: κ, value and winner equal GET /v1/query's, lens by lens.
    const q = await ok("a", "query_claim", { ...claim, lenses: ["consensus", "authority", "skeptic"] });
    for (const answer of q.answers as Array<Record<string, unknown>>) {
      const direct = await http(`/v1/query?subject=it/drug/aspirin&predicate=bleeding_risk_pct&lens=${answer.lens}`);
      expect([answer.lens, answer.value, (answer.winner as { id: string }).id, answer.conflict, answer.support]).toEqual([
        answer.lens,
        direct.value,
        (direct.winner as { id: string }).id,
        direct.conflict,
        direct.support,
      ]);
    }
    const byLens = Object.fromEntries((q.answers as Array<{ lens: string; value: unknown }>).map((x) => [x.lens, x.value]));
    expect(byLens).toEqual({ consensus: 0.2, authority: 0.2, skeptic: 0.2 });

    // list_claims: both claims, subjects shown inside the namespace.
    const listed = await ok("b", "list_claims", { subject: "drug/*" });
    const items = listed.items as Array<Record<string, unknown>>;
    expect(items.map((i) => i.id).sort()).toEqual([a.id, b.id].sort());
    expect(new Set(items.map((i) => i.subject))).toEqual(new Set(["drug/aspirin"]));

    // vote_claim: the vote is a record of B's on A's claim.
    const vote = await ok("b", "vote_claim", { target: a.id, value: 1, reason: "matches the label" });
    expect(await http(`/v1/assertions/${vote.id}`)).toMatchObject({ kind: "vote", agent: B, target: a.id, value: 1 });

    // trace_provenance: the source and the vote show in the tree.
    const traced = await call("a", "trace_provenance", { id: a.id as string });
    expect((traced.content[0] as { text: string }).text).toContain("it-label");
    const root = (traced.structuredContent as { root: Record<string, unknown> }).root;
    expect(root.id).toBe(a.id);
    expect((root.votes as unknown[]).length).toBe(1);
    expect((root.record as Record<string, unknown>).subject).toBe("drug/aspirin");

    // retract_claim: one's own claim is flagged; someone else's is refused.
    const doomed = await ok("a", "assert_claim", { subject: "drug/ibuprofen", predicate: "p", object: "x", confidence: 0.5 });
    await ok("a", "retract_claim", { target: doomed.id, reason: "wrong drug" });
    expect((await http(`/v1/assertions/${doomed.id}`)).flags).toEqual(["retracted"]);
    expect(refusal(await call("a", "retract_claim", { target: b.id }))).toMatchObject({ code: "forbidden", field: "target" });
  });

  test("refused calls are tool errors with the problem's code; the server goes on", async () => {
    const cases: Array<[string, Record<string, unknown>, string]> = [
      ["assert_claim", { subject: "drug//aspirin", predicate: "p", object: 1 }, "invalid_path"],
      ["assert_claim", { subject: "drug/aspirin", predicate: "p", object: 1, confidence: 3 }, "out_of_range"],
      ["query_claim", { subject: "drug/aspirin", predicate: "p", lens: "layered", layers: ["layered"] }, "unknown_lens"],
      ["vote_claim", { target: "00".repeat(32), value: -1 }, "not_found"],
      ["list_claims", { subject: "*/aspirin" }, "invalid_query"],
      ["trace_provenance", { id: "00".repeat(32) }, "not_found"],
    ];
    for (const [tool, args, code] of cases) expect([tool, refusal(await call("b", tool, args)).code]).toEqual([tool, code]);
    expect((await call("b", "query_claim", { subject: "drug/aspirin", predicate: "bleeding_risk_pct" })).isError).toBeFalsy();
  });
});

describe("the process", () => {
  test("stdout carries JSON-RPC and nothing else, whatever comes in; it ends with stdin", async () => {
    const proc = track(
      Bun.spawn([bunPath, mainTs, "mcp", "--key", agents.a.file, "--server", server.url], {
        cwd: repoRoot,
        stdin: "pipe",
        stdout: "pipe",
        stderr: "pipe",
      }),
    );
    const send = (message: unknown) => proc.stdin.write(`${typeof message === "string" ? message : JSON.stringify(message)}\n`);
    send({
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "1" } },
    });
    send({ jsonrpc: "2.0", method: "notifications/initialized" });
    send("this is not JSON");
    send({ jsonrpc: "2.0", id: 2, method: "tools/list" });
    send({
      jsonrpc: "2.0",
      id: 3,
      method: "tools/call",
      params: { name: "assert_claim", arguments: { subject: "a//b", predicate: "p", object: 1 } },
    });
    send({ jsonrpc: "2.0", id: 4, method: "tools/call", params: { name: "no_such_tool", arguments: {} } });
    send({
      jsonrpc: "2.0",
      id: 5,
      method: "tools/call",
      params: { name: "query_claim", arguments: { subject: "drug/aspirin", predicate: "p" } },
    });
    await proc.stdin.flush();
    const stderr = new Response(proc.stderr).text();
    // Read until the five answers are in (or 20 s pass), then close stdin: the client goes away.
    let text = "";
    const decoder = new TextDecoder();
    const reader = proc.stdout.getReader();
    const deadline = Date.now() + 20_000;
    while (text.split("\n").filter(Boolean).length < 5 && Date.now() < deadline) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    proc.stdin.end();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    expect(await proc.exited).toBe(0);
    const lines = text.split("\n").filter((l) => l.length > 0);
    const messages = lines
      .map((l) => JSON.parse(l) as { jsonrpc: string; id: number; result?: Record<string, unknown>; error?: unknown })
      .sort((x, y) => x.id - y.id); // calls run concurrently: answers come as they finish
    for (const m of messages) expect(m.jsonrpc).toBe("2.0");
    expect(messages.map((m) => m.id)).toEqual([1, 2, 3, 4, 5]);
    expect(messages[2]?.result?.isError).toBe(true);
    expect(messages[3]?.error).toBeDefined(); // an unknown tool is the protocol's error
    expect(messages[4]?.result?.isError).toBeUndefined();
    expect(await stderr).toContain("stemedb mcp serving on stdio");
  }, 30_000);

  test("a server that goes away later: tool errors (unreachable) and the process carries on", async () => {
    const otherDir = join(dir, "other");
    initDataDir(otherDir);
    const other = await spawnServer(otherDir);
    const client = await stdioClient(agents.b.file, { STEMEDB_URL: other.url });
    try {
      expect((await client.callTool({ name: "query_claim", arguments: { subject: "a/b", predicate: "p" } })).isError).toBeFalsy();
      await other.stop();
      const gone = (await client.callTool({
        name: "query_claim",
        arguments: { subject: "a/b", predicate: "p" },
      })) as CallToolResult;
      expect(refusal(gone)).toMatchObject({ code: "unreachable" });
      expect((gone.content[0] as { text: string }).text).toContain("hint: is the server running?");
      expect((await client.listTools()).tools).toHaveLength(7); // still serving
    } finally {
      await client.close();
    }
  }, 30_000);

  test("fails at start in one line, nothing on stdout: no server, a bad key file, a bad namespace", async () => {
    const unreachable = await runCli(["mcp", "--key", agents.a.file, "--server", "http://127.0.0.1:1"]); // port 1: nothing listens
    expect([unreachable.code, unreachable.stdout]).toEqual([4, ""]);
    expect(unreachable.stderr).toStartWith("stemedb mcp: cannot reach the server");
    const notJson = join(dir, "x.key");
    fs.writeFileSync(notJson, "{");
    const badKey = await runCli(["mcp", "--key", notJson, "--server", server.url]);
    expect([badKey.code, badKey.stdout]).toEqual([2, ""]);
    const badNamespace = await runCli(["mcp", "--key", agents.a.file, "--server", server.url, "--namespace", "/x"]);
    expect([badNamespace.code, badNamespace.stderr.split("\n")[0]]).toEqual([
      2,
      'stemedb mcp: namespace: expected a subject path like team/alpha, got "/x"',
    ]);
  }, 30_000);
});
