/**
 * `stemedb demo` against a real server process on loopback with a temp data dir: the five
 * moments as the walk reports them (values, κ, the ≥ 110 cascade, signatures checked
 * client-side, as_of, three winners), the command-line run, and a second run on the same server.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type DemoResult, runDemo } from "../../src/demo/moments.ts";
import { cleanupAll, runCli, type ServerProcess, spawnServer, tempDir } from "./helpers.ts";

let server: ServerProcess;
let result: DemoResult;
const printed: string[] = [];

beforeAll(async () => {
  const dataDir = tempDir("stemedb-demo-");
  const init = await runCli(["init", "--data-dir", dataDir]);
  expect(init.code).toBe(0);
  server = await spawnServer(dataDir);
  result = await runDemo({ server: server.url, seed: 20260401, print: (line) => printed.push(line) });
}, 60_000);

afterAll(async () => {
  await cleanupAll();
});

describe("stemedb demo", () => {
  test("loads the living review in CBOR batches, every record accepted", () => {
    expect(result.load.records).toBeGreaterThan(500);
    expect(result.load.accepted).toBe(result.load.records);
    expect(result.load.duplicates).toBe(0);
    expect(result.load.quarantined).toBe(0);
    expect(result.load.counts.source).toBeGreaterThan(20);
    expect(result.load.counts.vote).toBeGreaterThan(50);
  });

  test("1: authority picks the regulator's 0.2, consensus the anecdotes' 12, κ > 0.5, skeptic contested", () => {
    const { authority, consensus, skeptic } = result.contradiction.answers;
    expect(authority?.value).toBe(0.2);
    expect(consensus?.value).toBe(12);
    expect(consensus?.conflict).toBeGreaterThan(0.5);
    expect(authority?.conflict).toBeGreaterThan(0.5);
    expect(skeptic?.verdict).toBe("contested");
    expect(authority?.explain.some((l) => l.includes("tier 1"))).toBe(true);
  });

  test("2: the dry run and the retraction agree; ≥ 110 dependants cascade; the answer falls back", () => {
    const c = result.cascade;
    expect(c.dryRun.sourceRetracted).toBe(24);
    expect(c.dryRun.cascade).toBeGreaterThanOrEqual(110);
    expect(c.dryRun.byDepth).toEqual({ 0: 24, 1: 72, 2: 24, 3: 12, 4: 12 });
    expect(c.retraction).toMatchObject({ sourceRetracted: 24, cascade: c.dryRun.cascade, total: 24 + c.dryRun.cascade });
    expect(c.retraction.lsn).toBeGreaterThan(result.load.records);
    expect(c.before.value).toBe(2.5);
    expect(c.before.candidates).toBe(5);
    expect(c.after.value).toBe(2);
    expect(c.after.candidates).toBe(1);
    expect(c.flagged).toBe(24 + c.dryRun.cascade);
    expect(c.untouched).toBe(24);
  });

  test("3: the audit trail reaches the retracted source; every id and signature verifies client-side", () => {
    const a = result.audit;
    expect(a.reachedSource).toMatchObject({ tier: 2, retracted: true });
    expect(a.reachedSource?.source_id).toBe(result.cascade.sourceId);
    expect(a.nodes).toBeGreaterThan(10);
    // the leaflet, 14 distinct records in its chain, the source registration and its retraction
    expect(a.verified.length).toBe(17);
    for (const v of a.verified) expect(v).toMatchObject({ idMatches: true, signatureValid: true, fieldsMatch: true, ok: true });
    expect(a.verified.map((v) => v.kind)).toContain("source_retraction");
    expect(a.tamperCaught).toBe(true);
  });

  test("4: as of 2023 the label said 4000 mg, as of 2025 3000 mg", () => {
    const t = result.timeTravel;
    expect(t.before.authority?.value).toBe(4000);
    expect(t.after.authority?.value).toBe(3000);
    expect(t.before.consensus?.value).toBe(4000);
    expect(t.after.consensus?.value).toBe(3000);
  });

  test("5: authority, consensus and recency give three different winners, each explained", () => {
    const { authority, consensus, recency } = result.threeLenses.answers;
    expect([authority?.value, consensus?.value, recency?.value]).toEqual([3200, 1200, 2400]);
    expect(new Set([authority?.winner, consensus?.winner, recency?.winner]).size).toBe(3);
    expect(authority?.explain.some((l) => l.includes("outranks"))).toBe(true);
    expect(consensus?.explain.some((l) => l.includes("largest Σ confidence"))).toBe(true);
    expect(recency?.explain.some((l) => l.startsWith("latest: 2400"))).toBe(true);
  });

  test("every check passed, and the walk printed a heading, a command and a table per moment", () => {
    expect(result.checks.filter((c) => !c.ok)).toEqual([]);
    expect(result.ok).toBe(true);
    const text = printed.join("\n");
    for (const n of [1, 2, 3, 4, 5]) expect(text).toContain(`  ${n}. `);
    expect(text).toContain("$ stemedb query ");
    expect(text).toContain("$ stemedb provenance ");
    expect(text).toContain("lens       value  support  κ");
    expect(text).toContain("RETRACTED");
  });

  test("the command runs again on the same server (a fresh seed), and a replayed seed still passes", async () => {
    const cli = await runCli(["demo", "--server", server.url], { timeoutMs: 60_000 });
    expect(cli.stderr).toBe("");
    expect(cli.code).toBe(0);
    expect(cli.stdout).toContain("All five moments answered as expected");
    expect(cli.stdout).not.toContain("✗");
    const replay = await runDemo({ server: server.url, seed: 20260401 });
    expect(replay.load.duplicates).toBe(replay.load.records);
    expect(replay.ok).toBe(true);
  }, 60_000);

  test("--help, a bad --seed, and no server", async () => {
    const help = await runCli(["demo", "--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("pharma-demo-<seed hex>");
    const bad = await runCli(["demo", "--seed", "-3", "--server", server.url]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--seed");
    const none = await runCli(["demo", "--server", "http://127.0.0.1:9"]);
    expect(none.code).toBe(4); // unreachable
    expect(none.stderr).toContain("cannot reach the server");
  });
});
