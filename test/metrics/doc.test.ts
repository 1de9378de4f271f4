/**
 * docs/METRICS.md lists every metric the server registers — name, type, labels, meaning —
 * in a table rendered from the registry itself, so the list cannot drift from the code.
 * After adding or changing a metric, regenerate the table with
 * `STEMEDB_UPDATE_DOCS=1 bun test test/metrics/doc.test.ts`.
 */
import { expect, test } from "bun:test";
import fs from "node:fs";
import { join, resolve } from "node:path";
import { createMetrics } from "../../src/metrics/index.ts";

const docPath = join(resolve(import.meta.dir, "../.."), "docs/METRICS.md");
const begin = "<!-- metrics table: generated from the registry by test/metrics/doc.test.ts -->";
const end = "<!-- end of metrics table -->";

/** The table, one row per metric in registration order. */
function renderTable(): string {
  const rows = createMetrics()
    .registry.getMetricsAsArray()
    .map((m) => {
      const labels = (m as unknown as { labelNames: readonly string[] }).labelNames.map((l) => `\`${l}\``).join(", ");
      return `| \`${m.name}\` | ${m.type} | ${labels || "—"} | ${m.help.replaceAll("|", "\\|")} |`;
    });
  return ["| name | type | labels | meaning |", "| --- | --- | --- | --- |", ...rows].join("\n");
}

test("docs/METRICS.md lists exactly the registered metrics, as the registry describes them", () => {
  const doc = fs.readFileSync(docPath, "utf8");
  const from = doc.indexOf(begin);
  const to = doc.indexOf(end);
  expect(from, `docs/METRICS.md: the marker ${begin}`).toBeGreaterThanOrEqual(0);
  expect(to, `docs/METRICS.md: the marker ${end}`).toBeGreaterThan(from);
  const current = doc.slice(from + begin.length, to).trim();
  const rendered = renderTable();
  if (current !== rendered && process.env.STEMEDB_UPDATE_DOCS === "1") {
    fs.writeFileSync(docPath, `${doc.slice(0, from + begin.length)}\n${rendered}\n${doc.slice(to)}`);
    return;
  }
  expect(current, "docs/METRICS.md is out of date: STEMEDB_UPDATE_DOCS=1 bun test test/metrics/doc.test.ts").toBe(rendered);
});
