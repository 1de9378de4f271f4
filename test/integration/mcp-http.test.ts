/**
 * The node's `/mcp` (Streamable HTTP) through the official SDK client, against a real server
 * process with API keys: a writer key with a signing key writes (the record's agent is the bound
 * public key, the signature verifies), a reader key's write is refused `forbidden`, a writer key
 * without one `no_signing_key`, no key is a 401 at the door; the tools' calls go through the
 * node's request path (the audit trail names the key); an open node reads but refuses writes.
 * And the signing secrets never appear in an HTTP answer, a log line or `keys list`.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { fromHex, generateKeyPair, verifySignature } from "../../src/client/index.ts";
import { problemMetaKey } from "../../src/mcp/index.ts";
import { initDataDir, writeKeyFile } from "../../src/store/datadir.ts";
import { bunPath, cleanupAll, mainTs, repoRoot, runCli, type ServerProcess, spawnServer, tempDir } from "./helpers.ts";

let server: ServerProcess;
let dataDir: string;
/** Every HTTP answer and tool result the test saw, to grep for secrets. */
const seen: string[] = [];
const keys: Record<string, { secret: string; id: string; agent?: string }> = {};
const clients: Client[] = [];

function lastLine(text: string): string {
  return text.trim().split("\n").at(-1) as string;
}

async function admin(method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${keys.admin?.secret}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  seen.push(text);
  return { status: res.status, body: JSON.parse(text) };
}

async function mcpClient(url: string, secret?: string): Promise<Client> {
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: secret ? { authorization: `Bearer ${secret}` } : {} },
  });
  const client = new Client({ name: "stemedb-test", version: "1" });
  await client.connect(transport);
  clients.push(client);
  return client;
}

async function call(client: Client, name: string, args: Record<string, unknown>): Promise<CallToolResult> {
  const result = (await client.callTool({ name, arguments: args })) as CallToolResult;
  seen.push(JSON.stringify(result));
  return result;
}

beforeAll(async () => {
  dataDir = join(tempDir("stemedb-mcp-http-"), "data");
  initDataDir(dataDir);
  const made = await runCli(["keys", "create", "--signing", "--role", "writer", "--name", "remote-agent", "--data-dir", dataDir]);
  expect(made.code).toBe(0);
  seen.push(made.stdout, made.stderr);
  keys.writer = {
    secret: lastLine(made.stdout),
    id: /^id\s+([0-9a-f]{16})$/m.exec(made.stdout)?.[1] as string,
    agent: /^agent\s+([0-9a-f]{64})\s/m.exec(made.stdout)?.[1] as string,
  };
  const ops = await runCli(["keys", "create", "--role", "admin", "--name", "ops", "--data-dir", dataDir]);
  keys.admin = { secret: lastLine(ops.stdout), id: "" };
  server = await spawnServer(dataDir);
  for (const [name, body] of Object.entries({
    http: { name: "http-agent", role: "writer", signing: true },
    reader: { name: "reader", role: "reader" },
    unsigned: { name: "unsigned-writer", role: "writer" },
  })) {
    const r = await admin("POST", "/v1/admin/keys", body);
    expect(r.status).toBe(201);
    keys[name] = { secret: r.body.secret as string, id: r.body.id as string, agent: r.body.agent as string | undefined };
  }
}, 60_000);

afterAll(async () => {
  for (const c of clients) await c.close();
  await server?.stop();
  await cleanupAll();
});

function refusal(result: CallToolResult): Record<string, unknown> {
  expect(result.isError).toBe(true);
  return result._meta?.[problemMetaKey] as Record<string, unknown>;
}

describe("/mcp with API keys", () => {
  test("keys create --signing prints the public key; the API makes one too; keys list shows them", async () => {
    expect(keys.writer?.agent).toMatch(/^[0-9a-f]{64}$/);
    expect(keys.http?.agent).toMatch(/^[0-9a-f]{64}$/);
    expect(keys.reader?.agent).toBeUndefined();
    const listed = await admin("GET", "/v1/admin/keys");
    const byName = Object.fromEntries((listed.body.items as Array<Record<string, unknown>>).map((k) => [k.name, k.agent]));
    expect(byName).toEqual({
      "remote-agent": keys.writer?.agent,
      ops: null,
      "http-agent": keys.http?.agent,
      reader: null,
      "unsigned-writer": null,
    });
  });

  test("a writer key with a signing key writes: the record's agent is the bound key, and it verifies", async () => {
    const client = await mcpClient(`${server.url}/mcp?namespace=remote`, keys.writer?.secret);
    const written = await call(client, "assert_claim", {
      subject: "drug/aspirin",
      predicate: "risk_pct",
      object: 0.2,
      confidence: 0.9,
    });
    expect(written.isError).toBeFalsy();
    const out = written.structuredContent as Record<string, unknown>;
    expect(out).toMatchObject({ agent: keys.writer?.agent, subject: "drug/aspirin", status: "accepted" });
    const record = (await admin("GET", `/v1/assertions/${out.id}`)).body;
    expect(record).toMatchObject({ agent: keys.writer?.agent, subject: "remote/drug/aspirin", object: 0.2 });
    expect(
      verifySignature(fromHex(record.sig, "sig", 64), fromHex(record.id, "id", 32), fromHex(record.agent, "agent", 32)),
    ).toBe(true);

    // A key made over HTTP signs as its own agent; its answers agree with GET /v1/query.
    const other = await mcpClient(`${server.url}/mcp?namespace=remote`, keys.http?.secret);
    const second = await call(other, "assert_claim", {
      subject: "drug/aspirin",
      predicate: "risk_pct",
      object: 12,
      confidence: 0.6,
    });
    expect((second.structuredContent as Record<string, unknown>).agent).toBe(keys.http?.agent);
    const q = await call(other, "query_claim", { subject: "drug/aspirin", predicate: "risk_pct", lens: "consensus" });
    const answer = (q.structuredContent as { answers: Array<Record<string, unknown>> }).answers[0] as Record<string, unknown>;
    const direct = (await admin("GET", "/v1/query?subject=remote/drug/aspirin&predicate=risk_pct&lens=consensus")).body;
    expect([answer.value, answer.conflict, (answer.winner as { id: string }).id]).toEqual([
      direct.value,
      direct.conflict,
      (direct.winner as { id: string }).id,
    ]);
    const vote = await call(other, "vote_claim", { target: out.id, value: 1 });
    expect(vote.isError).toBeFalsy();
    expect((await call(client, "trace_provenance", { id: out.id })).isError).toBeFalsy();
  });

  test("a reader key reads and its writes are refused `forbidden`; a writer key without a signing key, `no_signing_key`", async () => {
    const reader = await mcpClient(`${server.url}/mcp`, keys.reader?.secret);
    expect(refusal(await call(reader, "assert_claim", { subject: "x/y", predicate: "p", object: 1 }))).toMatchObject({
      code: "forbidden",
    });
    expect(refusal(await call(reader, "register_source", { source_id: "s", title: "t", tier: 3 }))).toMatchObject({
      code: "forbidden",
    });
    const listed = await call(reader, "list_claims", { subject: "remote/*" });
    expect((listed.structuredContent as { items: unknown[] }).items.length).toBe(2);
    const unsigned = await mcpClient(`${server.url}/mcp`, keys.unsigned?.secret);
    const p = refusal(await call(unsigned, "assert_claim", { subject: "x/y", predicate: "p", object: 1 }));
    expect(p.code).toBe("no_signing_key");
    expect(p.hint).toContain("keys create --signing");
  });

  test("the tools' calls go through the door as the caller: the audit trail names the key", async () => {
    const reader = await mcpClient(`${server.url}/mcp`, keys.reader?.secret);
    await call(reader, "query_claim", { subject: "remote/drug/aspirin", predicate: "risk_pct", lens: "recency" });
    await Bun.sleep(500); // the audit trail is written in batches every 250 ms
    const trail = (await admin("GET", "/v1/audit/queries?lens=recency")).body.items as Array<Record<string, unknown>>;
    expect(trail[0]).toMatchObject({ caller: `key:${keys.reader?.id}`, subject: "remote/drug/aspirin" });
  });

  test("no key: 401 at the door, before MCP; GET and DELETE /mcp are 405 (no sessions)", async () => {
    const init = {
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "1" } },
    };
    const headers = { accept: "application/json, text/event-stream", "content-type": "application/json" };
    const res = await fetch(`${server.url}/mcp`, { method: "POST", headers, body: JSON.stringify(init) });
    expect([res.status, ((await res.json()) as { code: string }).code]).toEqual([401, "unauthorized"]);
    await expect(mcpClient(`${server.url}/mcp`)).rejects.toThrow(/401|unauthorized/);
    for (const method of ["GET", "DELETE"]) {
      const r = await fetch(`${server.url}/mcp`, {
        method,
        headers: { ...headers, authorization: `Bearer ${keys.reader?.secret}` },
      });
      expect([method, r.status, r.headers.get("allow")]).toEqual([method, 405, "POST"]);
    }
  });

  test("stemedb mcp with an API key: a refused key stops it at start; a reader key's writes are refused by the server", async () => {
    const agentKey = join(dataDir, "..", "agent.key");
    writeKeyFile(agentKey, generateKeyPair());
    const wrong = await runCli([
      "mcp",
      "--key",
      agentKey,
      "--server",
      server.url,
      "--api-key",
      `stm_${"0".repeat(16)}_${"A".repeat(43)}`,
    ]);
    expect([wrong.code, wrong.stdout]).toEqual([3, ""]);
    expect(wrong.stderr).toStartWith("stemedb mcp: the server answered 401 unauthorized");
    seen.push(wrong.stderr);
    // With the reader key from the environment it starts; the agent signs its own claim, and the server refuses the write.
    const transport = new StdioClientTransport({
      command: bunPath,
      args: [mainTs, "mcp"],
      cwd: repoRoot,
      env: {
        PATH: process.env.PATH ?? "",
        STEMEDB_URL: server.url,
        STEMEDB_KEY_FILE: agentKey,
        STEMEDB_API_KEY: keys.reader?.secret as string,
      },
      stderr: "pipe",
    });
    const client = new Client({ name: "stemedb-test", version: "1" });
    await client.connect(transport);
    clients.push(client);
    const p = refusal(await call(client, "assert_claim", { subject: "x/y", predicate: "p", object: 1 }));
    expect([p.code, p.status]).toEqual(["forbidden", 403]);
    expect((await call(client, "query_claim", { subject: "remote/drug/aspirin", predicate: "risk_pct" })).isError).toBeFalsy();
  });

  test("the signing secrets appear in no HTTP answer, tool result, server log line or keys list", async () => {
    const file = JSON.parse(fs.readFileSync(join(dataDir, "keys.json"), "utf8")) as { keys: Array<{ signing_key?: string }> };
    const secrets = file.keys.map((k) => k.signing_key).filter((s): s is string => typeof s === "string");
    expect(secrets).toHaveLength(2);
    const list = await runCli(["keys", "list", "--data-dir", dataDir]);
    const listJson = await runCli(["keys", "list", "--json", "--data-dir", dataDir]);
    expect(listJson.stdout).toContain(keys.writer?.agent as string);
    const everything = [...seen, list.stdout, listJson.stdout, ...server.stderr].join("\n");
    expect(everything.length).toBeGreaterThan(1000);
    for (const secret of secrets) expect(everything.includes(secret)).toBe(false);
    expect(everything).not.toContain('"signing_key"'); // the field's name, in JSON
  });
});

describe("/mcp on an open node (no keys)", () => {
  test("reads work; writes are refused: there is nobody to sign as", async () => {
    const open = join(tempDir("stemedb-mcp-open-"), "data");
    initDataDir(open);
    const node = await spawnServer(open);
    try {
      const client = await mcpClient(`${node.url}/mcp`);
      const p = refusal(await call(client, "assert_claim", { subject: "a/b", predicate: "p", object: 1 }));
      expect(p.code).toBe("no_signing_key");
      expect(p.detail).toContain("no API keys");
      const q = await call(client, "query_claim", { subject: "a/b", predicate: "p" });
      expect(q.isError).toBeFalsy();
      expect((q.structuredContent as { summary: string }).summary).toBe("Nobody has claimed this yet.");
    } finally {
      await node.stop();
    }
  });
});
