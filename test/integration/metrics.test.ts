/**
 * /metrics of a real server, after writes, queries (views hit and missed), refused requests
 * and a snapshot have put values in the labelled and scrape-time series, passes `promtool
 * check metrics` without a complaint (names, types, units, help — Prometheus's own linter),
 * and its counters never go backwards between scrapes. Needs promtool: skipped when it is
 * absent, a failure under STEMEDB_DEPLOY_STRICT=1 (`make check-deploy` runs this file).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { generateKeyPair, signClaim, StemeClient } from "../../src/client/index.ts";
import { withTool } from "../deploy/tools.ts";
import { cleanupAll, type ServerProcess, spawnServer, tempDir } from "./helpers.ts";

let server: ServerProcess;

/** Each sample line of a scrape, `name{labels}` → value, and each metric's declared type. */
function parse(text: string): { samples: Map<string, number>; types: Map<string, string> } {
  const samples = new Map<string, number>();
  const types = new Map<string, string>();
  for (const line of text.split("\n")) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) types.set(type[1] as string, type[2] as string);
    if (line.length === 0 || line.startsWith("#")) continue;
    const sp = line.lastIndexOf(" ");
    samples.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return { samples, types };
}

const scrape = async () => (await fetch(`${server.url}/metrics`)).text();

/** `promtool check metrics` over `text` on stdin: its exit code and everything it printed. */
async function promtoolCheck(promtool: string, text: string): Promise<{ code: number; output: string }> {
  const proc = Bun.spawn([promtool, "check", "metrics"], {
    stdin: new TextEncoder().encode(text),
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, output: stdout + stderr };
}

beforeAll(async () => {
  const dataDir = tempDir("stemedb-metrics-");
  server = await spawnServer(dataDir, { args: ["--backup-dir", tempDir("stemedb-metrics-snapshots-")] });
  const client = new StemeClient({ url: server.url });
  const agent = generateKeyPair();
  const t0 = Date.now();
  for (let i = 0; i < 5; i++)
    await client.submit(
      signClaim(agent, { kind: "assertion", subject: `m/s${i % 2}`, predicate: "p", object: i, confidence: 0.6, ts: t0 + i }),
    );
  // recency: resolved, resolved and kept (src/query/doorkeeper.ts), then read from its view.
  for (const lens of ["recency", "consensus", "recency", "recency"]) await client.query("m/s0", "p", { lens });
  await fetch(`${server.url}/v1/assert`, { method: "POST", body: "{}", headers: { "content-type": "application/json" } });
  await fetch(`${server.url}/v1/nowhere`);
  const snapshot = await fetch(`${server.url}/v1/admin/snapshot`, { method: "POST", body: JSON.stringify({ name: "m" }) });
  expect(snapshot.status).toBe(201);
}, 30_000);

afterAll(async () => {
  await cleanupAll();
});

describe("/metrics of a live server", () => {
  test("has the labelled and scrape-time series the checks below are about", async () => {
    const { samples, types } = parse(await scrape());
    expect(samples.get('stemedb_view_reads_total{result="hit"}')).toBeGreaterThan(0);
    expect(samples.get('stemedb_ingest_records_total{kind="assertion",result="accepted"}')).toBe(5);
    expect(samples.get('stemedb_http_requests_total{route="other",method="GET",status="404"}')).toBe(1);
    expect([...samples.keys()].filter((k) => k.startsWith("stemedb_errors_total{")).length).toBeGreaterThan(0);
    expect(samples.get("stemedb_backup_last_success_timestamp_seconds")).toBeGreaterThan(0);
    expect(samples.get("process_cpu_seconds_total")).toBeGreaterThan(0);
    expect(types.get("process_cpu_seconds_total")).toBe("counter");
    expect(types.get("stemedb_view_reads_total")).toBe("counter");
    expect(types.get("stemedb_view_invalidations_total")).toBe("counter");
  });

  test("counters never go backwards between scrapes", async () => {
    const before = parse(await scrape());
    const client = new StemeClient({ url: server.url });
    await client.submit(
      signClaim(generateKeyPair(), {
        kind: "assertion",
        subject: "m/s0",
        predicate: "p",
        object: 9,
        confidence: 0.6,
        ts: Date.now(),
      }),
    );
    await client.query("m/s0", "p", { lens: "recency" });
    const after = parse(await scrape());
    let compared = 0;
    for (const [series, value] of before.samples) {
      const name = series.replace(/\{.*$/, "");
      if (after.types.get(name) !== "counter") continue;
      expect(after.samples.get(series), series).toBeGreaterThanOrEqual(value);
      compared++;
    }
    expect(compared).toBeGreaterThan(10);
    expect(after.samples.get("stemedb_view_invalidations_total")).toBeGreaterThan(
      before.samples.get("stemedb_view_invalidations_total") ?? 0,
    );
  });

  withTool(
    "promtool check metrics finds nothing to complain about",
    "promtool",
    async (promtool) => {
      const r = await promtoolCheck(promtool, await scrape());
      expect(r.output, "promtool's complaints").toBe("");
      expect(r.code).toBe(0);
    },
    { timeoutMs: 30_000 },
  );

  withTool(
    "promtool check metrics does complain about a gauge named like a counter (the check can fail)",
    "promtool",
    async (promtool) => {
      const r = await promtoolCheck(promtool, "# HELP x_total grows\n# TYPE x_total gauge\nx_total 1\n");
      expect(r.output).toContain('non-counter metrics should not have "_total" suffix');
      expect(r.code).not.toBe(0);
    },
  );
});
