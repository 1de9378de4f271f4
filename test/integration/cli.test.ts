/**
 * The `stemedb` command line through real processes (`bun src/main.ts …`).
 */
import { afterAll, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import { join } from "node:path";
import { toHex } from "../../src/client/index.ts";
import { recordId } from "../../src/crypto/hash.ts";
import { heapGrowthThresholdMiB, heapGrowthVar, reexecutedVar } from "../../src/core/heap-growth.ts";
import { cleanupAll, getJson, mainTs, runCli, type ServerProcess, spawnServer, tempDir } from "./helpers.ts";

afterAll(async () => {
  await cleanupAll();
});

const mode = (file: string) => fs.statSync(file).mode & 0o777;

describe("cli", () => {
  test("--help and --version; unknown command → exit 2", async () => {
    const help = await runCli(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("Usage: stemedb COMMAND");
    for (const c of ["serve", "init", "keygen", "assert", "get", "reindex", "verify"])
      expect(help.stdout).toMatch(new RegExp(`\\n  ${c}\\s`));
    const version = await runCli(["--version"]);
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toBe("stemedb 0.1.0");
    const serveHelp = await runCli(["serve", "--help"]);
    expect(serveHelp.code).toBe(0);
    expect(serveHelp.stdout).toContain("--max-clock-skew-ms");
    const unknown = await runCli(["frobnicate"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe('stemedb: unknown command "frobnicate"\n  hint: `stemedb --help` lists the commands\n');
    for (const code of ["0", "1", "2", "3", "4", "70"]) expect(help.stdout).toMatch(new RegExp(`^  ${code}\\s+\\S`, "m"));
    const badFlag = await runCli(["verify", "--no-such-flag"]);
    expect(badFlag.code).toBe(2);
  });

  test("serve executes itself again with the heap's growth set: the same process and command line; an operator's value, or a .env file's, is the one in force", async () => {
    const dir = tempDir();
    fs.writeFileSync(join(dir, ".env"), `${heapGrowthVar}=8192\n`);
    const cases = [
      { given: undefined, cwd: undefined, expected: heapGrowthThresholdMiB },
      { given: "16384", cwd: undefined, expected: "16384" },
      { given: undefined, cwd: dir, expected: "8192" }, // from .env, which the runtime itself never reads for its options
    ];
    for (const [i, c] of cases.entries()) {
      const data = join(dir, `d${i}`);
      const server = await spawnServer(data, { args: ["--log-level", "info"], env: { [heapGrowthVar]: c.given }, cwd: c.cwd });
      const pid = server.proc.pid;
      // The process spawned is the one serving (execve keeps the PID), with the command line it was given.
      const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").slice(1, -1);
      expect(cmdline).toEqual([mainTs, "serve", "--data-dir", data, "--bind", `127.0.0.1:${server.port}`, "--log-level", "info"]);
      const environ = fs.readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
      expect(environ.filter((e) => e.startsWith(`${heapGrowthVar}=`))).toEqual([`${heapGrowthVar}=${c.expected}`]);
      expect(environ.includes(`${reexecutedVar}=1`)).toBe(c.given === undefined);
      expect((await getJson(`${server.url}/v1/health`)).status).toBe(200);
      expect(await server.stop()).toBe(0);
      const listening = server.logs().find((l) => l.msg === "stemedb listening");
      expect(listening?.heap_growth_threshold_mib).toBe(c.expected);
    }
  });

  test("init creates meta.json, node.key (0600), authorities.json; a second init is refused", async () => {
    const dir = join(tempDir(), "node");
    const first = await runCli(["init", "--data-dir", dir]);
    expect(first.code).toBe(0);
    const meta = JSON.parse(fs.readFileSync(join(dir, "meta.json"), "utf8")) as { format_version: number; node_id: string };
    expect(meta.format_version).toBe(1);
    expect(meta.node_id).toMatch(/^[0-9a-f]{16}$/);
    expect(mode(join(dir, "node.key"))).toBe(0o600);
    const nodeKey = JSON.parse(fs.readFileSync(join(dir, "node.key"), "utf8")) as { public_key: string; secret_key: string };
    expect(nodeKey.public_key).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.parse(fs.readFileSync(join(dir, "authorities.json"), "utf8"))).toEqual([nodeKey.public_key]);
    expect(first.stdout).toContain(nodeKey.public_key);
    expect(first.stdout).not.toContain(nodeKey.secret_key);
    const keyBefore = fs.readFileSync(join(dir, "node.key"), "utf8");

    const second = await runCli(["init", "--data-dir", dir]);
    expect(second.code).toBe(3); // already_initialized: the operation could not be done
    expect(second.stderr).toContain("already holds a StemeDB node");
    expect(fs.readFileSync(join(dir, "node.key"), "utf8")).toBe(keyBefore);
  });

  test("keygen --out writes mode 0600 and refuses to overwrite", async () => {
    const file = join(tempDir(), "agent.key");
    const first = await runCli(["keygen", "--out", file]);
    expect(first.code).toBe(0);
    expect(mode(file)).toBe(0o600);
    const key = JSON.parse(fs.readFileSync(file, "utf8")) as { public_key: string; secret_key: string };
    expect(key.public_key).toMatch(/^[0-9a-f]{64}$/);
    expect(key.secret_key).toMatch(/^[0-9a-f]{64}$/);
    expect(first.stdout).toContain(key.public_key);
    expect(first.stdout).not.toContain(key.secret_key);
    const before = fs.readFileSync(file, "utf8");
    const second = await runCli(["keygen", "--out", file]);
    expect(second.code).toBe(3); // exists
    expect(second.stderr).toContain("already exists");
    expect(fs.readFileSync(file, "utf8")).toBe(before);
  });

  test("assert and get against a running server; verify, verify --deep; reindex with the server stopped", async () => {
    const base = tempDir();
    const dir = join(base, "data");
    expect((await runCli(["init", "--data-dir", dir])).code).toBe(0);
    const keyFile = join(base, "a.key");
    expect((await runCli(["keygen", "--out", keyFile])).code).toBe(0);
    const pub = (JSON.parse(fs.readFileSync(keyFile, "utf8")) as { public_key: string }).public_key;
    let server: ServerProcess | null = await spawnServer(dir);
    const ids: string[] = [];
    try {
      const asserted = await runCli([
        "assert",
        "--key",
        keyFile,
        "--server",
        server.url,
        "pharma/drug/aspirin",
        "bleeding_risk_pct",
        "0.2",
        "--confidence",
        "0.9",
      ]);
      expect(asserted.stderr).toBe("");
      expect(asserted.code).toBe(0);
      const result = JSON.parse(asserted.stdout) as { id: string; lsn: number; status: string; duplicate: boolean };
      expect(result).toEqual({ id: expect.stringMatching(/^[0-9a-f]{64}$/), lsn: 1, status: "accepted", duplicate: false });
      ids.push(result.id);

      const second = await runCli([
        "assert",
        "--key",
        keyFile,
        "--server",
        server.url,
        "pharma/drug/aspirin",
        "note_text",
        "hello",
        "--source",
        "who",
      ]);
      expect(second.code).toBe(0);
      ids.push((JSON.parse(second.stdout) as { id: string }).id);

      const got = await runCli(["get", ids[0] as string, "--server", server.url]);
      expect(got.code).toBe(0);
      const record = JSON.parse(got.stdout) as Record<string, unknown>;
      expect(record).toMatchObject({
        id: ids[0],
        kind: "assertion",
        subject: "pharma/drug/aspirin",
        predicate: "bleeding_risk_pct",
        object: 0.2,
        confidence: 0.9,
        agent: pub,
        lsn: 1,
        flags: [],
      });
      expect(toHex(recordId(Buffer.from(record.body as string, "hex")))).toBe(ids[0] as string);
      const got2 = await runCli(["get", ids[1] as string, "--server", server.url]);
      expect(JSON.parse(got2.stdout)).toMatchObject({ object: "hello", confidence: 1, source: "who", lsn: 2 });

      const missing = await runCli(["get", "ab".repeat(32), "--server", server.url]);
      expect(missing.code).toBe(3);
      expect(missing.stderr).toContain("404 not_found");

      // verify is read-only and fine while the server runs.
      const v = await runCli(["verify", "--data-dir", dir]);
      expect(v.code).toBe(0);
      expect(v.stdout).toContain("ok: 1 segments, 2 records, last LSN 2");
      const deep = await runCli(["verify", "--data-dir", dir, "--deep"]);
      expect(deep.code).toBe(0);
      expect(deep.stdout).toContain("ids and signatures checked");

      // reindex refuses while the server holds the directory.
      const busy = await runCli(["reindex", "--data-dir", dir]);
      expect(busy.code).toBe(3);
      expect(busy.stderr).toContain("in use by process");
      expect(await server.stop()).toBe(0);
      server = null;

      const reindex = await runCli(["reindex", "--data-dir", dir]);
      expect(reindex.code).toBe(0);
      expect(reindex.stdout).toContain("reindexed 2 records");
      expect(fs.existsSync(join(dir, "index.sqlite"))).toBe(true);

      server = await spawnServer(dir);
      for (const id of ids) expect((await getJson(`${server.url}/v1/assertions/${id}`)).status).toBe(200);
      const health = await getJson(`${server.url}/v1/health`);
      expect({ lsn: health.body.lsn, index_lsn: health.body.index_lsn }).toEqual({ lsn: 2, index_lsn: 2 });
      const list = await getJson(`${server.url}/v1/assertions?subject=pharma/drug/aspirin`);
      expect((list.body.items as Array<{ id: string }>).map((x) => x.id)).toEqual(ids);
    } finally {
      if (server) await server.stop();
    }
  });

  test("vote +1 / -1, retract, and query a table", async () => {
    const base = tempDir();
    const keyFile = join(base, "agent.key");
    expect((await runCli(["keygen", "--out", keyFile])).code).toBe(0);
    const server = await spawnServer(join(base, "node"));
    try {
      const s = `--server=${server.url}`;
      const asserted = await runCli(["assert", s, "--key", keyFile, "cli/vote", "p", "1"]);
      const id = (JSON.parse(asserted.stdout) as { id: string }).id;
      for (const value of ["-1", "+1"]) {
        const voted = await runCli(["vote", s, "--key", keyFile, id, value]);
        expect(voted.code).toBe(0);
        expect(JSON.parse(voted.stdout)).toMatchObject({ status: "accepted", duplicate: false });
      }
      expect((await runCli(["vote", s, "--key", keyFile, id, "sideways"])).code).toBe(2);
      const before = await runCli(["query", s, "cli/vote", "p", "--lens", "recency"]);
      expect(before.stdout).toMatch(/^recency\s+1\s/m);
      expect((await runCli(["retract", s, "--key", keyFile, id])).code).toBe(0);
      const after = await runCli(["query", s, "cli/vote", "p", "--lens", "recency", "--json"]);
      expect((JSON.parse(after.stdout) as { recency: { winner: unknown } }).recency.winner).toBeNull();
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });

  test("query --escalate opens an escalation; escalations lists and resolves it; agents shows τ", async () => {
    const base = tempDir();
    const keys = [join(base, "a.key"), join(base, "b.key")];
    for (const k of keys) expect((await runCli(["keygen", "--out", k])).code).toBe(0);
    const server = await spawnServer(join(base, "node"));
    try {
      const s = `--server=${server.url}`;
      expect((await runCli(["assert", s, "--key", keys[0] as string, "cli/esc", "p", "1"])).code).toBe(0);
      expect((await runCli(["assert", s, "--key", keys[1] as string, "cli/esc", "p", "2"])).code).toBe(0);
      const q = await runCli(["query", s, "cli/esc", "p", "--lens", "trust", "--escalate", "0.5", "--fresh"]);
      expect(q.code).toBe(0);
      const id = /^escalation ([0-9a-f]{64}) opened \(trust\)$/m.exec(q.stdout)?.[1];
      expect(id).toBeDefined();
      const listed = await runCli(["escalations", s]);
      expect(listed.stdout).toContain(`${id}  open`);
      const resolved = await runCli(["escalations", s, "--resolve", id as string, "--note", "fine"]);
      expect(resolved.code).toBe(0);
      expect(resolved.stdout).toStartWith(`resolved ${id}`);
      expect((await runCli(["escalations", s, "--status", "resolved", "--json"])).stdout).toContain('"note": "fine"');
      const again = await runCli(["escalations", s, "--resolve", id as string]);
      expect(again.code).toBe(3);
      expect(again.stderr).toContain("409 already_resolved");
      const agents = await runCli(["agents", s]);
      expect(agents.stdout).toMatch(/^[0-9a-f]{64}\s+1\.000\s+authority/m);
      const pub = (JSON.parse(fs.readFileSync(keys[0] as string, "utf8")) as { public_key: string }).public_key;
      const one = await runCli(["agents", s, pub]);
      expect(one.stdout).toContain("trust      0.010");
      expect(one.stdout).toContain("records    1 assertion");
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });

  test("provenance prints the dependency tree; source --impact counts the cascade", async () => {
    const base = tempDir();
    const keyFile = join(base, "a.key");
    expect((await runCli(["keygen", "--out", keyFile])).code).toBe(0);
    const server = await spawnServer(join(base, "node"));
    try {
      const s = `--server=${server.url}`;
      const reg = await runCli(["assert", s, "--key", keyFile, "--record", "-"], {
        stdin: JSON.stringify({ kind: "source", source_id: "trial-9", title: "Trial 9", tier: 2 }),
      });
      expect(reg.code).toBe(0);
      const base1 = await runCli(["assert", s, "--key", keyFile, "cli/prov/base", "p", "1", "--source", "trial-9"]);
      const baseId = (JSON.parse(base1.stdout) as { id: string }).id;
      const dep = await runCli(["assert", s, "--key", keyFile, "--record", "-"], {
        stdin: JSON.stringify({ subject: "cli/prov/derived", predicate: "p", object: 2, confidence: 0.5, depends_on: [baseId] }),
      });
      const depId = (JSON.parse(dep.stdout) as { id: string }).id;
      const tree = await runCli(["provenance", s, depId]);
      expect(tree.code).toBe(0);
      expect(tree.stdout).toContain("cli/prov/derived p = 2");
      expect(tree.stdout).toMatch(/└─ [0-9a-f]{12}… cli\/prov\/base p = 1/);
      expect(tree.stdout).toContain("source trial-9: Trial 9 (tier 4)"); // tier 2 claimed, not confirmed yet
      const confirmed = await runCli(["source", "confirm", s, "trial-9", "--note", "checked"]);
      expect([confirmed.code, confirmed.stderr]).toEqual([0, ""]);
      expect(confirmed.stdout).toMatch(/^confirmed trial-9: record [0-9a-f]{12}… now counts as tier 2/);
      expect((await runCli(["provenance", s, depId])).stdout).toContain("source trial-9: Trial 9 (tier 2)");
      const missing = await runCli(["source", "confirm", s, "no-such-source"]);
      expect([missing.code, missing.stderr]).toEqual([3, expect.stringContaining("unknown_source")]);
      const known = JSON.parse(base1.stdout) as { id: string };
      const recordedAt = JSON.parse((await runCli(["get", s, known.id])).stdout).recorded_at as number;
      const then = await runCli(["query", s, "cli/prov/derived", "p", "--known-at", String(recordedAt), "--json"]);
      expect((JSON.parse(then.stdout) as { consensus: { value: unknown } }).consensus.value).toBeNull();
      const impact = await runCli(["source", s, "trial-9", "--impact"]);
      expect(impact.stdout).toContain("would flag 1 citing assertions and 1 more through depends_on");
      expect((await runCli(["provenance", s])).code).toBe(2);
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });

  test("quarantine lists a held assertion and approves it; breakers lists and resets", async () => {
    const base = tempDir();
    const keyFile = join(base, "a.key");
    expect((await runCli(["keygen", "--out", keyFile])).code).toBe(0);
    const server = await spawnServer(join(base, "node"), { args: ["--quarantine-unknown-agents"] });
    try {
      const s = `--server=${server.url}`;
      const held = await runCli(["assert", s, "--key", keyFile, "cli/held", "p", "1"]);
      const { id, status } = JSON.parse(held.stdout) as { id: string; status: string };
      expect(status).toBe("quarantined");
      const listed = await runCli(["quarantine", s]);
      expect(listed.stdout).toMatch(new RegExp(`${id}\\s+cli/held\\s+p\\s+unknown_agent`));
      const approved = await runCli(["quarantine", s, "--approve", id, "--note", "vetted"]);
      expect(approved.code).toBe(0);
      expect(approved.stdout).toStartWith(`approved ${id}`);
      expect((await runCli(["quarantine", s])).stdout).not.toContain(id);
      const breakers = await runCli(["breakers", s]);
      expect(breakers.code).toBe(0);
      expect(breakers.stdout).toContain("global:");
      const reset = await runCli(["breakers", s, "--reset", "ab".repeat(32)]);
      expect(reset.code).toBe(3); // no breaker for that agent: 404
      expect((await runCli(["breakers", s, "--state", "sideways"])).code).toBe(2);
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });

  test("assert without a reachable server (exit 4), without --key (2), verify without a node (3)", async () => {
    const base = tempDir();
    const keyFile = join(base, "a.key");
    expect((await runCli(["keygen", "--out", keyFile])).code).toBe(0);
    const noKey = await runCli(["assert", "a/b", "p", "1"]);
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toStartWith("stemedb assert: --key FILE is required\n  hint: make one with `stemedb keygen --out FILE`");
    const refused = await runCli(["assert", "--key", keyFile, "--server", "http://127.0.0.1:9", "a/b", "p", "1"]);
    expect(refused.code).toBe(4);
    expect(refused.stderr).toStartWith("stemedb assert: cannot reach the server at http://127.0.0.1:9: connection refused\n");
    const notDir = await runCli(["verify", "--data-dir", join(base, "nothing")]);
    expect(notDir.code).toBe(3);
    expect(notDir.stderr).toContain(`stemedb verify: ${join(base, "nothing")} does not exist: no StemeDB node there`);
    expect(notDir.stderr).toContain("hint: make one with `stemedb init --data-dir");
  });

  test("bad values are one usage line naming the flag, what was expected and what came", async () => {
    const keyFile = join(tempDir(), "a.key");
    expect((await runCli(["keygen", "--out", keyFile])).code).toBe(0);
    const cases: Array<[string[], string]> = [
      [
        ["assert", "--key", keyFile, "a/b", "p", "1", "--confidence", "abc"],
        '--confidence: expected a number between 0 and 1, got "abc"',
      ],
      [["agents", "--limit", "-1"], '--limit: expected an integer from 1 to 1,000, got "-1"'],
      [
        ["assert", "--key", keyFile, "--server", "notaurl", "a/b", "p", "1"],
        '--server: expected an http:// or https:// URL, got "notaurl"',
      ],
      [
        ["query", "a/b", "p", "--as-of", "yesterday"],
        '--as-of: expected milliseconds since the epoch or an ISO 8601 time, got "yesterday"',
      ],
      [["escalations", "--status", "closed"], '--status: expected "open", "resolved" or "all", got "closed"'],
      [["verify", "--deep=yes"], "--deep is a switch; it takes no value"],
      [["verify", "--dep"], "unknown option --dep"],
      [["get"], "missing ID"],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(args);
      expect([args, r.code]).toEqual([args, 2]);
      expect(r.stderr.split("\n")[0]).toBe(`stemedb ${args[0]}: ${message}`);
      expect(r.stderr).toContain("  usage: stemedb ");
      expect(r.stdout).toBe("");
    }
    expect((await runCli(["verify", "--dep"])).stderr).toContain("hint: did you mean --deep?");
  });

  test("subcommand forms: escalations resolve ID, quarantine approve|reject ID, breakers reset AGENT", async () => {
    const base = tempDir();
    const keys = [join(base, "a.key"), join(base, "b.key"), join(base, "c.key")];
    for (const k of keys) expect((await runCli(["keygen", "--out", k])).code).toBe(0);
    const server = await spawnServer(join(base, "node"), { args: ["--quarantine-unknown-agents"] });
    try {
      const s = `--server=${server.url}`;
      const assert = async (key: string, object: string) => {
        const r = await runCli(["assert", s, "--key", key, "cli/sub", "p", object]);
        return JSON.parse(r.stdout) as { id: string; status: string };
      };
      // Two unknown agents disagree; both are held, one approved, the other rejected, then a third approved.
      const first = await assert(keys[0] as string, "1");
      expect(first.status).toBe("quarantined");
      const approved = await runCli(["quarantine", "approve", first.id, s, "--note", "vetted"]);
      expect(approved.code).toBe(0);
      expect(approved.stdout).toStartWith(`approved ${first.id}`);
      const second = await assert(keys[1] as string, "2");
      const rejected = await runCli(["quarantine", "reject", second.id, s]);
      expect(rejected.code).toBe(0);
      expect(rejected.stdout).toStartWith(`rejected ${second.id}`);
      const twice = await runCli(["quarantine", "approve", second.id, s]);
      expect(twice.code).toBe(3);
      expect(twice.stderr).toContain("409 already_decided");
      const third = await assert(keys[2] as string, "3");
      expect((await runCli(["quarantine", "--approve", third.id, s])).code).toBe(0); // the older form

      const q = await runCli(["query", s, "cli/sub", "p", "--lens", "trust", "--escalate", "0.5", "--fresh"]);
      expect(q.code).toBe(0);
      const id = /^escalation ([0-9a-f]{64}) opened \(trust\)$/m.exec(q.stdout)?.[1] as string;
      expect(id).toMatch(/^[0-9a-f]{64}$/);
      const resolved = await runCli(["escalations", "resolve", id, s, "--note", "checked"]);
      expect(resolved.code).toBe(0);
      expect(resolved.stdout).toStartWith(`resolved ${id}`);
      const again = await runCli(["escalations", "resolve", id, s]);
      expect(again.code).toBe(3);
      expect(again.stderr).toStartWith("stemedb escalations resolve: the server answered 409 already_resolved: ");
      const noId = await runCli(["escalations", "resolve", s]);
      expect(noId.code).toBe(2);
      expect(noId.stderr).toStartWith("stemedb escalations resolve: missing ID");

      const reset = await runCli(["breakers", "reset", "ab".repeat(32), s]);
      expect(reset.code).toBe(3); // no breaker for that agent: 404
      expect(reset.stderr).toStartWith("stemedb breakers reset: the server answered 404 ");
      const help = await runCli(["escalations", "resolve", "--help"]);
      expect(help.code).toBe(0);
      expect(help.stdout).toContain("Usage: stemedb escalations resolve ID");
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });

  test("a server that is not StemeDB (an HTML page, an empty 502): one line, exit 3", async () => {
    const html = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("<html>hello</html>", { status: 200 }) });
    const empty = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response(null, { status: 502 }) });
    try {
      const page = await runCli(["agents", "--server", `http://127.0.0.1:${html.port}`]);
      expect(page.code).toBe(3);
      expect(page.stderr).toBe("stemedb agents: the server answered 200 bad_response: not JSON: <html>hello</html>\n");
      const gateway = await runCli(["get", "ab".repeat(32), "--server", `http://127.0.0.1:${empty.port}`]);
      expect(gateway.code).toBe(3);
      expect(gateway.stderr).toBe("stemedb get: the server answered 502 bad_response: an empty answer\n");
    } finally {
      html.stop(true);
      empty.stop(true);
    }
  });
});
