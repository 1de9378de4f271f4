/**
 * The arena (docs/ARENA.md) replayed: every scenario kept under test/fixtures/scenarios/ runs
 * against a real server of its own and must still meet its expectations — the bad cases found
 * once stay fixed. Also: a run is the same for a seed, and `stemedb sim truth` works as a
 * command, against its own server and against a running one.
 */
import { afterAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import { join } from "node:path";
import { type ArenaReport, runArena } from "../../src/sim/arena.ts";
import { startEmbedded } from "../../src/sim/embedded.ts";
import { parseScenario, type Scenario } from "../../src/sim/scenario.ts";
import { cleanupAll, repoRoot, runCli, spawnServer, tempDir } from "./helpers.ts";

afterAll(cleanupAll);

const dir = join(repoRoot, "test/fixtures/scenarios");
const scenarios = fs
  .readdirSync(dir)
  .filter((f) => f.endsWith(".json"))
  .sort()
  .map((f) => parseScenario(JSON.parse(fs.readFileSync(join(dir, f), "utf8")), f));

async function play(scenario: Scenario): Promise<ArenaReport> {
  const server = await startEmbedded();
  try {
    return await runArena({ scenario, server: server.url, authorityKey: server.authorityKey, sameClock: true });
  } finally {
    await server.stop();
  }
}

describe("kept scenarios", () => {
  test("there are some, and each says what it expects", () => {
    expect(scenarios.length).toBeGreaterThanOrEqual(3);
    for (const s of scenarios) expect(Object.keys(s.expect).length).toBeGreaterThan(0);
  });

  for (const scenario of scenarios)
    test(`${scenario.name}: every expectation met; known_at never moves; the log keeps every record`, async () => {
      const report = await play(scenario);
      const unmet = Object.entries(report.expect).filter(([, e]) => !e.ok);
      expect(unmet).toEqual([]);
      expect(report.known_at.changed).toBe(0);
      expect(report.known_at.compared).toBeGreaterThan(0);
      expect(report.log).toMatchObject({ missing: 0, holds_all: true });
      expect(report.log.lsn).toBe(report.log.written); // a fresh server holds exactly what was written
      // consensus is the control: outnumbered, it names the lie.
      expect(report.lenses.consensus.final as number).toBeLessThan(0.5);
      // Backdated writes do reach as_of answers (which is why known_at exists).
      if (scenario.backdaters > 0) expect(report.as_of.changed).toBeGreaterThan(0);
    }, 120_000);
});

test("a run is a function of its seed: the same report twice", async () => {
  const scenario = scenarios.find((s) => s.name === "hijack") as Scenario;
  const [a, b] = [await play(scenario), await play(scenario)];
  expect(JSON.stringify(b)).toBe(JSON.stringify(a));
  const other = await play({ ...scenario, seed: scenario.seed + 1 });
  expect(JSON.stringify(other.records)).not.toBe(JSON.stringify(a.records));
}, 120_000);

describe("stemedb sim truth", () => {
  test("its own server: --scenario, --json and --chart; exit 1 when an expectation is not met", async () => {
    const out = tempDir("stemedb-arena-");
    const chart = join(out, "arena.svg");
    const ok = await runCli(["sim", "truth", "--scenario", join(dir, "hijack.json"), "--json", "--chart", chart], {
      timeoutMs: 60_000,
    });
    expect([ok.code, ok.stderr]).toEqual([0, ""]);
    const report = JSON.parse(ok.stdout) as ArenaReport;
    expect(report.seed).toBe(11);
    expect(report.lenses.authority.sourced.accuracy).toHaveLength(12);
    expect(Object.keys(report.trust).sort()).toEqual(["backdater", "believer", "forger", "scientist", "troll"]);
    const svg = fs.readFileSync(chart, "utf8");
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg.trimEnd().endsWith("</svg>")).toBe(true);
    const strict = join(out, "strict.json");
    fs.writeFileSync(
      strict,
      JSON.stringify({ ...JSON.parse(fs.readFileSync(join(dir, "hijack.json"), "utf8")), expect: { consensus: 0.99 } }),
    );
    const failed = await runCli(["sim", "truth", "--scenario", strict, "--ticks", "3", "--quiet"], { timeoutMs: 60_000 });
    expect(failed.code).toBe(1);
    expect(failed.stdout).toContain("✗ consensus:");
  }, 120_000);

  test("a running server: --server with its node key as --authority-key; without one, a usage error", async () => {
    const node = join(tempDir("stemedb-arena-node-"), "node");
    const server = await spawnServer(node);
    try {
      const small = ["--agents", "20", "--subjects", "6", "--ticks", "3", "--sybils", "4", "--forgers", "1", "--backdaters", "1"];
      const run = await runCli(
        ["sim", "truth", "--server", server.url, "--authority-key", join(node, "node.key"), ...small, "--json"],
        { timeoutMs: 60_000 },
      );
      expect([run.code, run.stderr]).toEqual([0, ""]);
      const report = JSON.parse(run.stdout) as ArenaReport;
      expect(report.log.holds_all).toBe(true);
      expect(report.known_at.changed).toBe(0);
      const keyless = await runCli(["sim", "truth", "--server", server.url, ...small]);
      expect(keyless.code).toBe(2);
      expect(keyless.stderr).toContain("--server needs --authority-key FILE");
    } finally {
      await server.stop();
    }
  }, 120_000);
});
