/**
 * `make bench-mcp`: what the MCP layer costs on a warm server (docs/BENCHMARKS.md#mcp).
 * Round trips one at a time, as an agent makes them, against a real server process:
 *
 * - `GET /v1/query` straight (the floor: HTTP and a materialized view);
 * - `query_claim` through `stemedb mcp` on stdio (the SDK client → the stdio server process →
 *   HTTP to the node), one lens and three;
 * - `query_claim` through the node's `/mcp` (Streamable HTTP, stateless: a server and a
 *   transport per request, the tool's request dispatched in-process);
 * - in this process, what a stateless request's set-up costs alone: an MCP server and a
 *   transport made, connected and closed.
 *
 *   bun bench/mcp.ts [--calls N]       (env BENCH_CALLS; default 2000, after 200 to warm up)
 *
 * Goal: query_claim over stdio p50 < 5 ms.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import { generateKeyPair, StemeClient, signClaim } from "../src/client/index.ts";
import { silentLogger } from "../src/core/logger.ts";
import { createBackend, createMcpServer, keySigner, Namespace } from "../src/mcp/index.ts";
import { writeKeyFile } from "../src/store/datadir.ts";
import { startBenchServer } from "./server.ts";

const { values: flags } = parseArgs({
  args: process.argv.slice(2),
  options: { calls: { type: "string" }, help: { type: "boolean", short: "h" } },
});
if (flags.help) {
  console.log("usage: bun bench/mcp.ts [--calls N]");
  process.exit(0);
}
const calls = Number(flags.calls ?? process.env.BENCH_CALLS ?? 2000);
const warmup = 200;
const root = path.resolve(import.meta.dir, "..");
const work = fs.mkdtempSync(path.join(os.tmpdir(), "stemedb-bench-mcp-"));
const claim = { subject: "bench/drug/aspirin", predicate: "bleeding_risk_pct" };

interface Row {
  what: string;
  p50: number;
  p90: number;
  p99: number;
  mean: number;
}

async function measure(what: string, once: () => Promise<unknown>): Promise<Row> {
  for (let i = 0; i < warmup; i++) await once();
  const ms: number[] = [];
  for (let i = 0; i < calls; i++) {
    const t = performance.now();
    await once();
    ms.push(performance.now() - t);
  }
  ms.sort((a, b) => a - b);
  const at = (q: number) => ms[Math.min(ms.length - 1, Math.floor(q * ms.length))] as number;
  const row = { what, p50: at(0.5), p90: at(0.9), p99: at(0.99), mean: ms.reduce((a, b) => a + b, 0) / ms.length };
  process.stderr.write(`${what}: p50 ${row.p50.toFixed(2)} ms\n`);
  return row;
}

function expectOk(result: unknown): void {
  if ((result as { isError?: boolean }).isError) throw new Error(`a tool call failed: ${JSON.stringify(result)}`);
}

async function main(): Promise<void> {
  const load = os.loadavg();
  const server = await startBenchServer(path.join(work, "data"), [], "ignore");
  const keyFile = path.join(work, "agent.key");
  writeKeyFile(keyFile, generateKeyPair());
  const stdio = new Client({ name: "bench", version: "1" });
  await stdio.connect(
    new StdioClientTransport({
      command: process.execPath,
      args: [path.join(root, "src/main.ts"), "mcp", "--key", keyFile, "--server", server.url],
      stderr: "ignore",
    }),
  );
  const http = new Client({ name: "bench", version: "1" });
  await http.connect(new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`)));
  try {
    // The LENSES.md disagreement: one claim through the tool, three more by other agents.
    expectOk(await stdio.callTool({ name: "assert_claim", arguments: { ...claim, object: 0.2, confidence: 0.95 } }));
    const api = new StemeClient({ url: server.url });
    for (let i = 0; i < 3; i++)
      await api.submit(signClaim(generateKeyPair(), { kind: "assertion", ...claim, object: 12, confidence: 0.6 }));
    const one = { name: "query_claim", arguments: claim };
    const three = { name: "query_claim", arguments: { ...claim, lenses: ["consensus", "authority", "skeptic"] } };
    const q = `${server.url}/v1/query?subject=${claim.subject}&predicate=${claim.predicate}`;
    const rows = [
      await measure("GET /v1/query (no MCP)", async () => (await fetch(q)).json()),
      await measure("query_claim, stdio", async () => expectOk(await stdio.callTool(one))),
      await measure("query_claim, 3 lenses, stdio", async () => expectOk(await stdio.callTool(three))),
      await measure("query_claim, HTTP /mcp", async () => expectOk(await http.callTool(one))),
      await measure("stateless set-up alone (in process)", setUpOnce),
    ];
    report(rows, load);
  } finally {
    await stdio.close();
    await http.close();
    await server.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/** What /mcp does per request before any tool runs: a server and a transport, connected and closed. */
async function setUpOnce(): Promise<void> {
  const backend = createBackend({ url: "http://unused", headers: {}, fetch }, keySigner(generateKeyPair()), Namespace.none);
  const server = createMcpServer(backend, { version: "bench", logger: silentLogger });
  const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
  await server.connect(transport);
  await server.close();
}

function report(rows: Row[], loadBefore: number[]): void {
  const f = (n: number) => n.toFixed(2).padStart(7);
  console.log(`\nMCP round trips, ${calls} each after ${warmup} to warm up (ms), ${os.cpus().length} cores`);
  console.log(`${"".padEnd(38)}    p50     p90     p99    mean`);
  for (const r of rows) console.log(`${r.what.padEnd(38)} ${f(r.p50)} ${f(r.p90)} ${f(r.p99)} ${f(r.mean)}`);
  const after = os.loadavg();
  console.log(
    `load average before ${loadBefore.map((x) => x.toFixed(2)).join(" ")}, after ${after.map((x) => x.toFixed(2)).join(" ")}`,
  );
}

await main();
