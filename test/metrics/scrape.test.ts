/**
 * The scrape-time metrics: gauges show what the sources say when /metrics is rendered, counts
 * kept by another layer become real counters (only grow; a count that starts over is a
 * reset), and each source is read once per scrape however many metrics use it.
 */
import { describe, expect, test } from "bun:test";
import { Registry } from "prom-client";
import { createMetrics, type ScrapeSources } from "../../src/metrics/index.ts";
import { mirroredCounter } from "../../src/metrics/scrape.ts";

/** Sources whose values the test sets, counting how often each is read. */
function fakeSources() {
  const state = {
    views: { hits: 0, misses: 0, invalidations: 0, size: 0, bytes: 0 },
    recordCache: { records: 0, bytes: 0 },
    queryWorkers: { answered: 0, handedBack: 0, ready: 0 },
    trust: { lsn: 0, agents: 0 },
    defense: { quarantined: 0, breakers: { closed: 0, open: 0, half_open: 0 }, globalBreakerOpen: false },
    backup: {} as ReturnType<ScrapeSources["backupStatus"]>,
    changes: { followers: 0, bufferedEvents: 0, bufferedBytes: 0, sent: { record: 0, conflict: 0 } },
  };
  const reads = { views: 0, recordCache: 0, queryWorkers: 0, trust: 0, defense: 0, backupStatus: 0, changes: 0 };
  const counted =
    <K extends keyof typeof reads, T>(source: K, value: () => T) =>
    (): T => {
      reads[source]++;
      return value();
    };
  const sources: ScrapeSources = {
    views: counted("views", () => state.views),
    recordCache: counted("recordCache", () => state.recordCache),
    queryWorkers: counted("queryWorkers", () => state.queryWorkers),
    trust: counted("trust", () => state.trust),
    defense: counted("defense", () => state.defense),
    backupStatus: counted("backupStatus", () => state.backup),
    changes: counted("changes", () => state.changes),
  };
  return { state, reads, sources };
}

/** `name{labels} value` lines of a rendering, as a map. */
async function samples(registry: Registry): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const line of (await registry.metrics()).split("\n")) {
    if (line.length === 0 || line.startsWith("#")) continue;
    const sp = line.lastIndexOf(" ");
    out.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return out;
}

describe("scrape-time metrics", () => {
  test("gauges show the sources at each scrape; each source is read once per scrape", async () => {
    const metrics = createMetrics({ processMetrics: false });
    const { state, reads, sources } = fakeSources();
    metrics.sampleAtScrape(sources);
    state.views.size = 7;
    state.views.bytes = 70_000;
    state.recordCache = { records: 12, bytes: 9_000 };
    state.trust = { lsn: 40, agents: 3 };
    state.defense.quarantined = 2;
    state.defense.breakers.open = 1;
    state.defense.globalBreakerOpen = true;
    state.backup = { last_backup: { at: "2026-01-02T03:04:05Z" }, last_verify: { at: "2026-01-02T04:00:00Z", ok: true } };
    state.changes = { followers: 3, bufferedEvents: 12, bufferedBytes: 3400, sent: { record: 90, conflict: 2 } };
    const s = await samples(metrics.registry);
    expect(s.get("stemedb_views")).toBe(7);
    expect(s.get("stemedb_views_bytes")).toBe(70_000);
    expect(s.get("stemedb_record_cache_records")).toBe(12);
    expect(s.get("stemedb_record_cache_bytes")).toBe(9_000);
    expect(s.get("stemedb_trust_lsn")).toBe(40);
    expect(s.get("stemedb_trust_agents")).toBe(3);
    expect(s.get("stemedb_quarantined")).toBe(2);
    expect(s.get('stemedb_breakers{state="open"}')).toBe(1);
    expect(s.get("stemedb_global_breaker_open")).toBe(1);
    expect(s.get("stemedb_backup_last_success_timestamp_seconds")).toBe(Date.parse("2026-01-02T03:04:05Z") / 1000);
    expect(s.get("stemedb_backup_last_verify_ok")).toBe(1);
    expect(s.get("stemedb_archive_last_copy_timestamp_seconds")).toBe(0);
    expect(s.get("stemedb_changes_followers")).toBe(3);
    expect(s.get("stemedb_changes_buffered_events")).toBe(12);
    expect(s.get("stemedb_changes_buffered_bytes")).toBe(3400);
    expect(s.get('stemedb_changes_events_total{type="record"}')).toBe(90);
    expect(s.get('stemedb_changes_events_total{type="conflict"}')).toBe(2);
    expect(reads).toEqual({ views: 1, recordCache: 1, queryWorkers: 1, trust: 1, defense: 1, backupStatus: 1, changes: 1 });
    state.trust = { lsn: 41, agents: 3 };
    expect((await samples(metrics.registry)).get("stemedb_trust_lsn")).toBe(41);
    expect(reads).toEqual({ views: 2, recordCache: 2, queryWorkers: 2, trust: 2, defense: 2, backupStatus: 2, changes: 2 });
  });

  test("before the sources are attached the gauges stay as they are and nothing throws", async () => {
    const metrics = createMetrics({ processMetrics: false });
    const s = await samples(metrics.registry);
    expect(s.get("stemedb_views")).toBe(0);
    expect(s.get("stemedb_view_invalidations_total")).toBe(0);
  });

  test("the view cache's counts are counters: they advance by what moved between scrapes", async () => {
    const metrics = createMetrics({ processMetrics: false });
    const { state, sources } = fakeSources();
    metrics.sampleAtScrape(sources);
    state.views = { hits: 5, misses: 2, invalidations: 1, size: 0, bytes: 0 };
    let s = await samples(metrics.registry);
    expect(s.get('stemedb_view_reads_total{result="hit"}')).toBe(5);
    expect(s.get('stemedb_view_reads_total{result="miss"}')).toBe(2);
    expect(s.get("stemedb_view_invalidations_total")).toBe(1);
    state.views = { hits: 9, misses: 2, invalidations: 4, size: 0, bytes: 0 };
    s = await samples(metrics.registry);
    expect(s.get('stemedb_view_reads_total{result="hit"}')).toBe(9);
    expect(s.get("stemedb_view_invalidations_total")).toBe(4);
    const json = await metrics.registry.getSingleMetric("stemedb_view_reads_total")?.get();
    expect(String(json?.type)).toBe("counter");
  });

  test("a mirrored count that starts over starts the counter over (a reset), never a negative step", async () => {
    const registry = new Registry();
    let count = 10;
    mirroredCounter({
      name: "t_things_total",
      help: "things counted elsewhere",
      registers: [registry],
      counts: () => [[{}, count]],
    });
    expect((await samples(registry)).get("t_things_total")).toBe(10);
    count = 3;
    expect((await samples(registry)).get("t_things_total")).toBe(3);
    count = 8;
    expect((await samples(registry)).get("t_things_total")).toBe(8);
  });
});
