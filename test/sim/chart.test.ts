/** The arena's chart: well-formed SVG, labels escaped, one line per lens and persona, the same bytes for the same report. */
import { expect, test } from "bun:test";
import type { ArenaReport } from "../../src/sim/arena.ts";
import { arenaChart } from "../../src/sim/chart.ts";
import { arenaLenses } from "../../src/sim/measure.ts";
import { scenarioDefaults } from "../../src/sim/scenario.ts";

function report(): ArenaReport {
  const ticks = 4;
  const series = (v: number) => ({
    accuracy: [null, v / 2, v, v],
    final: v,
    sourced: { accuracy: [null, null, 1, 1], final: 1 },
  });
  return {
    name: 'evil <script>"&',
    seed: 3,
    ticks,
    scenario: { ...scenarioDefaults, ticks, seed: 3 },
    lenses: Object.fromEntries(arenaLenses.map((l, i) => [l, series(i / 10)])) as ArenaReport["lenses"],
    trust: { scientist: [0.1, 0.2, 0.3, 0.4], troll: [0.01, 0.01, 0.01, 0.01] },
    records: { assertion: 10, total: 10 },
    eligible: { honest: [0, 1, 2, 3], sourced: [0, 0, 1, 1] },
    known_at: { checkpoints: 1, compared: 7, changed: 0 },
    as_of: { checkpoints: 1, compared: 7, changed: 2 },
    log: { written: 10, checked: 10, missing: 0, lsn: 10, holds_all: true },
    expect: {},
    ok: true,
  };
}

test("a well-formed SVG: text escaped, one polyline per lens (and authority on sourced subjects) and per persona", () => {
  const svg = arenaChart(report());
  expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
  expect(svg.trimEnd().endsWith("</svg>")).toBe(true);
  expect(svg).not.toContain("<script>");
  expect(svg).toContain("evil &lt;script&gt;&quot;&amp;");
  expect(svg.match(/<polyline /g)?.length).toBe(arenaLenses.length + 1 + 2);
  // Ticks with no subject to count draw no point: the first tick is left out of the lens lines.
  const first = /<polyline [^>]*points="([^"]*)"/.exec(svg)?.[1] ?? "";
  expect(first.split(" ")).toHaveLength(3);
  // Every opened element is closed or self-closed.
  const opened = (svg.match(/<(svg|text)\b/g) ?? []).length;
  const closed = (svg.match(/<\/(svg|text)>/g) ?? []).length;
  expect(closed).toBe(opened);
});

test("the same report draws the same bytes", () => {
  expect(arenaChart(report())).toBe(arenaChart(report()));
});
