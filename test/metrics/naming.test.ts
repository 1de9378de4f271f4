/**
 * Every metric the server registers is named and typed by Prometheus's conventions
 * (https://prometheus.io/docs/practices/naming/), so a metric added later cannot regress:
 * counters end in `_total` and nothing else does; units are base units and come last (before
 * `_total`); names and labels are snake_case under our prefixes; every metric has help text.
 * `promtool check metrics` over a live server's output is test/integration/metrics.test.ts.
 */
import { describe, expect, test } from "bun:test";
import { createMetrics } from "../../src/metrics/index.ts";

interface MetricFacts {
  name: string;
  type: string;
  help: string;
  labelNames: readonly string[];
}

/** The registry's metrics with their declared label names. */
function facts(registry: ReturnType<typeof createMetrics>["registry"]): MetricFacts[] {
  return registry.getMetricsAsArray().map((m) => ({
    name: m.name,
    type: String(m.type),
    help: m.help,
    labelNames: (m as unknown as { labelNames: readonly string[] }).labelNames,
  }));
}

const prefixes = ["stemedb_", "process_", "nodejs_"];
/** Units not in base units, as a name's words: use seconds and bytes (and ratios, not percents). */
const nonBaseUnits = new Set([
  "ms",
  "millis",
  "milliseconds",
  "microseconds",
  "us",
  "ns",
  "minutes",
  "hours",
  "days",
  "kb",
  "mb",
  "gb",
  "kib",
  "mib",
  "kilobytes",
  "megabytes",
  "percent",
  "percentage",
]);
const baseUnits = new Set(["seconds", "bytes"]);
/** Labels a metric must not declare: Prometheus's own, a histogram's, and the target's. */
const reservedLabels = new Set(["le", "quantile", "job", "instance"]);

/** What is wrong with one metric's name, type, help and labels (empty when nothing). */
function namingProblems(m: MetricFacts): string[] {
  const problems: string[] = [];
  const words = m.name.split("_");
  if (!/^[a-z][a-z0-9]*(_[a-z0-9]+)*$/.test(m.name)) problems.push("not snake_case");
  if (!prefixes.some((p) => m.name.startsWith(p))) problems.push(`no prefix (${prefixes.join(", ")})`);
  if (m.type === "counter" && !m.name.endsWith("_total")) problems.push("a counter without the _total suffix");
  if (m.type !== "counter" && m.name.endsWith("_total")) problems.push(`a ${m.type} with the _total suffix`);
  if (m.type === "histogram" && /_(count|sum|bucket)$/.test(m.name)) problems.push("a histogram named like one of its series");
  for (const w of words) if (nonBaseUnits.has(w)) problems.push(`unit "${w}" is not a base unit`);
  const unitless = m.type === "counter" ? words.slice(0, -1) : words;
  unitless.forEach((w, i) => {
    if (baseUnits.has(w) && i !== unitless.length - 1) problems.push(`unit "${w}" is not last`);
  });
  if (m.help.trim().length < 8 || m.help === m.name) problems.push("no help text");
  for (const l of m.labelNames) {
    if (!/^[a-z][a-z0-9_]*$/.test(l)) problems.push(`label "${l}" is not snake_case`);
    if (reservedLabels.has(l) || l.startsWith("__")) problems.push(`label "${l}" is reserved`);
  }
  return problems;
}

describe("metric names and types", () => {
  const all = facts(createMetrics().registry);

  test("every registered metric follows the conventions", () => {
    expect(all.length).toBeGreaterThan(40);
    const wrong = all.map((m) => ({ name: m.name, problems: namingProblems(m) })).filter((x) => x.problems.length > 0);
    expect(wrong).toEqual([]);
  });

  test("the process metrics go by the names every Prometheus client uses", () => {
    const types = new Map(all.map((m) => [m.name, m.type]));
    for (const [name, type] of [
      ["process_cpu_seconds_total", "counter"],
      ["process_cpu_user_seconds_total", "counter"],
      ["process_cpu_system_seconds_total", "counter"],
      ["process_resident_memory_bytes", "gauge"],
      ["process_virtual_memory_bytes", "gauge"],
      ["process_open_fds", "gauge"],
      ["process_max_fds", "gauge"],
      ["process_start_time_seconds", "gauge"],
    ])
      expect(types.get(name as string), name).toBe(type as string);
    expect(all.filter((m) => m.name.startsWith("stemedb_process_"))).toEqual([]);
  });

  test("the rules catch what they are about (each would fail a wrong metric)", () => {
    const ok: MetricFacts = { name: "stemedb_x_bytes_total", type: "counter", help: "bytes written to x", labelNames: ["kind"] };
    expect(namingProblems(ok)).toEqual([]);
    const cases: Array<[Partial<MetricFacts>, string]> = [
      [{ name: "stemedb_x_bytes" }, "a counter without the _total suffix"],
      [{ type: "gauge" }, "a gauge with the _total suffix"],
      [{ name: "stemedb_latency_ms", type: "gauge" }, 'unit "ms" is not a base unit'],
      [{ name: "stemedb_x_seconds_count_total" }, 'unit "seconds" is not last'],
      [{ name: "stemedb_xBytes_total" }, "not snake_case"],
      [{ name: "x_bytes_total" }, "no prefix (stemedb_, process_, nodejs_)"],
      [{ help: "" }, "no help text"],
      [{ labelNames: ["instance"] }, 'label "instance" is reserved'],
      [{ labelNames: ["Kind"] }, 'label "Kind" is not snake_case'],
      [{ name: "stemedb_x_seconds_bucket", type: "histogram" }, "a histogram named like one of its series"],
    ];
    for (const [change, problem] of cases) expect(namingProblems({ ...ok, ...change }), problem).toContain(problem);
  });
});
