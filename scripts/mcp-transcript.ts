/**
 * A real MCP session, printed as a transcript (docs/MCP.md#a-session): a fresh server, two agents
 * — each its own `stemedb mcp` process on stdio with its own key, as two desktop agents would run
 * it — driven through the official SDK client. A regulator asserts a claim, a forum poster
 * contradicts it, the claim is read through three lenses, and its provenance is traced.
 *
 *   bun scripts/mcp-transcript.ts > transcript.md
 *
 * Ids, keys and times differ from run to run; the shape of every answer does not.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { generateKeyPair, toHex } from "../src/client/index.ts";
import { writeKeyFile } from "../src/store/datadir.ts";

const root = path.resolve(import.meta.dir, "..");
const main = path.join(root, "src/main.ts");
const work = fs.mkdtempSync(path.join(os.tmpdir(), "stemedb-mcp-transcript-"));
const out: string[] = [];
const say = (line = "") => out.push(line);

async function startServer(): Promise<{ url: string; stop: () => Promise<void> }> {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = l.port;
  l.stop(true);
  const proc = Bun.spawn(
    [process.execPath, main, "serve", "--data-dir", path.join(work, "data"), "--bind", `127.0.0.1:${port}`],
    {
      stdout: "ignore",
      stderr: "ignore",
    },
  );
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 400; i++) {
    if (
      await fetch(`${url}/v1/ready`).then(
        (r) => r.ok,
        () => false,
      )
    )
      break;
    await Bun.sleep(25);
  }
  return {
    url,
    stop: async () => {
      proc.kill("SIGTERM");
      await proc.exited;
    },
  };
}

/** An agent: its key file and its own `stemedb mcp` process, configured as an MCP client's "env" block would. */
async function agent(name: string, url: string): Promise<{ name: string; key: string; client: Client }> {
  const pair = generateKeyPair();
  const keyFile = path.join(work, `${name}.key`);
  writeKeyFile(keyFile, pair);
  const client = new Client({ name, version: "1" });
  await client.connect(
    new StdioClientTransport({
      command: process.execPath,
      args: [main, "mcp"],
      env: { PATH: process.env.PATH ?? "", STEMEDB_URL: url, STEMEDB_KEY_FILE: keyFile, STEMEDB_NAMESPACE: "demo" },
      stderr: "ignore",
    }),
  );
  return { name, key: toHex(pair.publicKey), client };
}

async function call(who: { name: string; client: Client }, tool: string, args: Record<string, unknown>): Promise<CallToolResult> {
  const result = (await who.client.callTool({ name: tool, arguments: args })) as CallToolResult;
  say(`── ${who.name} → ${tool} ${JSON.stringify(args)}`);
  for (const c of result.content) if (c.type === "text") say(c.text);
  if (result.isError) say("(isError: true)");
  say();
  return result;
}

async function run(): Promise<void> {
  const server = await startServer();
  const regulator = await agent("regulator", server.url);
  const forum = await agent("forum-poster", server.url);
  try {
    const { tools } = await regulator.client.listTools();
    say(`# stemedb mcp: two agents, namespace "demo", server ${server.url}`);
    say(`regulator    agent ${regulator.key}`);
    say(`forum-poster agent ${forum.key}`);
    say(`tools: ${tools.map((t) => t.name).join(", ")}`);
    say();
    await call(regulator, "register_source", { source_id: "fda-aspirin-label-2023", title: "FDA aspirin label, 2023", tier: 1 });
    const claim = { subject: "drug/aspirin", predicate: "bleeding_risk_pct" };
    const first = await call(regulator, "assert_claim", {
      ...claim,
      object: 0.2,
      confidence: 0.95,
      source: "fda-aspirin-label-2023",
      unit: "percent",
    });
    await call(forum, "query_claim", claim);
    await call(forum, "register_source", {
      source_id: "aspirin-forum-thread",
      title: "Patient forum thread on aspirin",
      tier: 5,
    });
    await call(forum, "assert_claim", {
      ...claim,
      object: 12,
      confidence: 0.6,
      source: "aspirin-forum-thread",
      unit: "percent",
      evidence: ["three posters report stomach bleeding"],
    });
    await call(regulator, "query_claim", { ...claim, lenses: ["consensus", "authority", "recency"] });
    await call(forum, "trace_provenance", { id: (first.structuredContent as { id: string }).id });
    await call(forum, "assert_claim", { subject: "drug//aspirin", predicate: "bleeding_risk_pct", object: 12 });
  } finally {
    await regulator.client.close();
    await forum.client.close();
    await server.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }
  process.stdout.write(`${out.join("\n")}\n`);
}

await run();
