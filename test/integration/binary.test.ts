/**
 * The compiled executable (built by the Makefile's own `build` recipe): it runs outside the
 * source tree, its signature worker threads and the index's checksum shim are bundled, it
 * serves and verifies, and its `mcp` command (the MCP SDK, loaded lazily) works over stdio.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { generateKeyPair, signClaim, StemeClient, toJsonSubmission } from "../../src/client/index.ts";
import { heapGrowthThresholdMiB, heapGrowthVar } from "../../src/core/heap-growth.ts";
import { makeBuildCommand } from "../deploy/tools.ts";
import { clusterKeyFile } from "./cluster-procs.ts";
import { cleanupAll, freePort, repoRoot, sleep, tempDir, track } from "./helpers.ts";

let dir: string;
let binary: string;

beforeAll(async () => {
  dir = tempDir("stemedb-bin-");
  binary = join(dir, "stemedb");
  const build = track(
    Bun.spawn(makeBuildCommand(binary), {
      cwd: repoRoot,
      stdout: "pipe",
      stderr: "pipe",
    }),
  );
  expect(await build.exited).toBe(0);
}, 120_000);
afterAll(cleanupAll);

/** This process's environment without the heap option, so `serve` sets it itself. */
function withoutHeapGrowth(): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = { ...process.env };
  delete env[heapGrowthVar];
  return env;
}

async function run(args: string[]) {
  const proc = track(Bun.spawn([binary, ...args], { cwd: dir, stdout: "pipe", stderr: "pipe" }));
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { stdout, stderr, code };
}

describe("dist/stemedb", () => {
  test("--version and --help", async () => {
    expect((await run(["--version"])).stdout.trim()).toBe("stemedb 0.1.0");
    const help = await run(["--help"]);
    expect(help.code).toBe(0);
    for (const command of ["serve", "init", "keygen", "assert", "reindex", "verify"]) expect(help.stdout).toContain(command);
  });

  test("serves from outside the source tree: a batch large enough for the worker threads, then verify --deep", async () => {
    const data = join(dir, "data");
    const port = freePort();
    const server = track(
      Bun.spawn([binary, "serve", "--data-dir", data, "--bind", `127.0.0.1:${port}`], {
        cwd: dir,
        stdout: "pipe",
        stderr: "pipe",
        env: withoutHeapGrowth(),
      }),
    );
    const client = new StemeClient({ url: `http://127.0.0.1:${port}` });
    for (let i = 0; i < 200; i++) {
      try {
        await client.health();
        break;
      } catch {
        await sleep(25);
      }
    }
    // `serve` executed itself again with the heap's growth set (src/core/heap-growth.ts): the
    // same process, the command line it was given (not the binary's inner path), the option in
    // its environment.
    const environ = fs.readFileSync(`/proc/${server.pid}/environ`, "utf8").split("\0");
    expect(environ).toContain(`${heapGrowthVar}=${heapGrowthThresholdMiB}`);
    expect(fs.readFileSync(`/proc/${server.pid}/cmdline`, "utf8").split("\0").slice(1, -1)).toEqual([
      "serve",
      "--data-dir",
      data,
      "--bind",
      `127.0.0.1:${port}`,
    ]);
    const key = generateKeyPair();
    const records = Array.from({ length: 100 }, (_, i) =>
      signClaim(key, { kind: "assertion", subject: "bin/test", predicate: "n", object: i, confidence: 0.5 }),
    );
    const forged = signClaim(key, { kind: "assertion", subject: "bin/test", predicate: "n", object: -1, confidence: 0.5 });
    forged.sig = new Uint8Array(forged.sig);
    forged.sig[0] = (forged.sig[0] as number) ^ 1;
    const reply = await client.submitBatch([...records, forged], { format: "cbor" });
    expect(reply.accepted).toBe(100);
    expect(reply.rejected).toBe(1);
    expect(reply.results[100]).toMatchObject({ error: { code: "bad_signature" } });
    // The audit trail's writer thread loaded too: a query is recorded and read back.
    const answer = await client.query("bin/test", "n", { lens: "recency" });
    expect(answer.candidates).toBe(1); // one agent, one voice
    const trail = await client.auditQueries({ subject: "bin/test" });
    expect(trail.items[0]).toMatchObject({ lens: "recency", value: answer.value, winner: answer.winner?.id });
    // The Merkle-root thread loaded: health shows the root.
    let root: string | null = null;
    for (let i = 0; i < 100 && root === null; i++) {
      root = ((await (await fetch(`http://127.0.0.1:${port}/v1/health`)).json()) as { root: string | null }).root;
      if (root === null) await sleep(50);
    }
    expect(root).toMatch(/^[0-9a-f]{64}$/);
    server.kill("SIGTERM");
    expect(await server.exited).toBe(0);
    // The signature threads loaded inside the executable (no fallback to the runtime's pool).
    const log = await new Response(server.stderr).text();
    expect(log).toContain("stemedb listening");
    expect(log).toContain(`"heap_growth_threshold_mib":"${heapGrowthThresholdMiB}"`);
    expect(log).not.toContain("worker thread failed");
    // The index's checkpoint thread loaded too (a thread that fails to load logs this line).
    expect(log).not.toContain("background checkpoint failed");
    const verify = await run(["verify", "--data-dir", data, "--deep"]);
    expect(verify.code).toBe(0);
    expect(verify.stdout).toContain("100 records");
    // The hashing threads load too: a backup and its deep verification from the binary.
    const backup = await run(["backup", "--data-dir", data, "--out", join(dir, "backup")]);
    expect(backup.code).toBe(0);
    const checked = await run(["verify", "--backup", join(dir, "backup"), "--deep"]);
    expect(checked.stdout).toStartWith("ok:");
    // The index's checksum shim came out of the binary into the data directory (named by its
    // hash, owner-only), and the index is checksummed: verify --index checks every page.
    const shims = fs.readdirSync(data).filter((n) => /^stemedb_cksm-[0-9a-f]{16}\.so$/.test(n));
    expect(shims.length).toBe(1);
    expect(fs.statSync(join(data, shims[0] as string)).mode & 0o077).toBe(0);
    const index = await run(["verify", "--index", "--data-dir", data]);
    expect(index.code).toBe(0);
    expect(index.stdout).toMatch(/^ok: index checked: 100 records and 0 references to LSN 100 against the log, \d+ pages/);
  });

  test("the sweep's worst cases fail in one line with their exit code, never a stack trace or source", async () => {
    const fresh = join(dir, "fresh");
    expect((await run(["init", "--data-dir", fresh])).code).toBe(0);
    const aFile = join(dir, "a-file");
    fs.writeFileSync(aFile, "x");
    const key = join(dir, "k.key");
    expect((await run(["keygen", "--out", key])).code).toBe(0);
    const cases: Array<[string[], number, string]> = [
      [["root", "--data-dir", fresh], 0, ""],
      [["verify", "--data-dir", fresh], 0, ""],
      [["init", "--data-dir", aFile], 2, "stemedb init: --data-dir"],
      [
        ["keygen", "--out", "/missing/dir/k"],
        2,
        "stemedb keygen: cannot write /missing/dir/k: the directory /missing/dir does not exist",
      ],
      [["assert", "--key", key, "--server", "notaurl", "a/b", "p", "1"], 2, "stemedb assert: --server: expected"],
      [["assert", "--key", key, "--record", join(dir, "missing.json")], 2, "stemedb assert: --record"],
      [["verify-bundle", dir], 2, "stemedb verify-bundle: the bundle"],
      [["backup", "--data-dir", fresh, "--out", aFile], 2, "stemedb backup: --out"],
      [["verify", "--data-dir", join(dir, "nothing")], 3, "stemedb verify: "],
      [["get", "ab".repeat(32), "--server", "http://127.0.0.1:1"], 4, "stemedb get: cannot reach the server"],
    ];
    for (const [args, code, first] of cases) {
      const r = await run(args);
      expect([args, r.code]).toEqual([args, code]);
      if (first) expect(r.stderr).toStartWith(first);
      expect([args, r.stderr]).not.toEqual([args, expect.stringMatching(/^\s+at |\.ts:\d+|^\s*\d+ \| |^error: /m)]);
    }
  });
});

describe("dist/stemedb mcp", () => {
  test("the MCP SDK is in the binary: over stdio it lists the tools, writes and answers query_claim as the API does", async () => {
    const data = join(dir, "mcp-data");
    const port = freePort();
    const server = track(
      Bun.spawn([binary, "serve", "--data-dir", data, "--bind", `127.0.0.1:${port}`], {
        cwd: dir,
        stdout: "pipe",
        stderr: "pipe",
      }),
    );
    const url = `http://127.0.0.1:${port}`;
    const http = new StemeClient({ url });
    for (let i = 0; i < 200; i++) {
      try {
        await http.health();
        break;
      } catch {
        await sleep(25);
      }
    }
    const keyFile = join(dir, "mcp-agent.key");
    expect((await run(["keygen", "--out", keyFile])).code).toBe(0);
    const transport = new StdioClientTransport({
      command: binary,
      args: ["mcp", "--key", keyFile, "--server", url],
      cwd: dir,
      stderr: "pipe",
    });
    const client = new Client({ name: "binary-test", version: "1" });
    await client.connect(transport);
    try {
      expect((await client.listTools()).tools).toHaveLength(7);
      const written = (await client.callTool({
        name: "assert_claim",
        arguments: { subject: "bin/mcp", predicate: "p", object: 1, confidence: 0.7 },
      })) as CallToolResult;
      expect(written.isError).toBeFalsy();
      const id = (written.structuredContent as { id: string }).id;
      expect((await http.get(id)).subject).toBe("bin/mcp");
      const q = (await client.callTool({
        name: "query_claim",
        arguments: { subject: "bin/mcp", predicate: "p" },
      })) as CallToolResult;
      const answer = (q.structuredContent as { answers: Array<{ value: unknown; winner: { id: string } }> }).answers[0];
      expect([answer?.value, answer?.winner.id]).toEqual([1, id]);
    } finally {
      await client.close();
      server.kill("SIGTERM");
      await server.exited;
    }
  });

  test("three binaries started as docs/CLUSTER.md says form a cluster: a batch through one is read through another; admin cluster health exits 0", async () => {
    const keyFile = clusterKeyFile();
    const nodes: Array<{ name: string; url: string; cport: number; proc: ReturnType<typeof Bun.spawn> }> = [];
    for (const name of ["db1", "db2", "db3"]) {
      const port = freePort();
      const cport = freePort();
      const join0 = nodes[0] ? ["--join", `127.0.0.1:${nodes[0].cport}`] : [];
      const args = ["--bind", `127.0.0.1:${port}`, "--cluster-bind", `127.0.0.1:${cport}`, "--cluster-key-file", keyFile];
      const proc = track(
        Bun.spawn([binary, "serve", "--data-dir", join(dir, name), ...args, "--node-name", name, ...join0], {
          cwd: dir,
          stdout: "pipe",
          stderr: "pipe",
        }),
      );
      const url = `http://127.0.0.1:${port}`;
      nodes.push({ name, url, cport, proc });
      for (let i = 0; i < 400; i++) {
        const ready = await fetch(`${url}/v1/ready`).catch(() => null);
        if (ready?.status === 200) break;
        await sleep(25);
      }
    }
    const [db1, db2, db3] = nodes as [(typeof nodes)[0], (typeof nodes)[0], (typeof nodes)[0]];
    let health = await run(["admin", "cluster", "health", "--gateway", db1.url]);
    for (let i = 0; i < 120 && health.code !== 0; i++) {
      await sleep(250);
      health = await run(["admin", "cluster", "health", "--gateway", db1.url]);
    }
    expect([health.code, health.stdout.trim()]).toEqual([0, "healthy: 3 members alive, 256 shards healthy"]);
    const key = generateKeyPair();
    const records = Array.from({ length: 40 }, (_, i) =>
      signClaim(key, { kind: "assertion", subject: `bin/cluster/${i}`, predicate: "n", object: i, confidence: 0.5 }),
    );
    const written = await fetch(`${db2.url}/v1/assert/batch?ack=quorum`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ records: records.map(toJsonSubmission) }),
    });
    const body = (await written.json()) as { accepted: number; results: Array<{ replicas_acked: number }> };
    expect([written.status, body.accepted]).toEqual([200, 40]);
    for (const r of body.results) expect(r.replicas_acked).toBe(2);
    const reader = new StemeClient({ url: db3.url });
    for (let i = 0; i < records.length; i++) expect((await reader.query(`bin/cluster/${i}`, "n")).value).toBe(i);
    const status = await run(["admin", "node", "list", "--gateway", db3.url, "--json"]);
    expect(status.code).toBe(0);
    expect(status.stdout).toContain('"db1"');
    for (const n of nodes) n.proc.kill("SIGTERM");
    for (const n of nodes) expect(await n.proc.exited).toBe(0);
  }, 120_000);
});
