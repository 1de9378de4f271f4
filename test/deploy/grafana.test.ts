// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Grafana writes its datasource input as ${DS_PROMETHEUS}, literally
/**
 * deploy/grafana: each dashboard imports cleanly (the fields Grafana needs, a ${DS_PROMETHEUS}
 * input that every panel and variable uses, panels that do not overlap), reads only metrics
 * the server exports, and — where promtool is at hand — every expression parses as PromQL.
 */
import { describe, expect, test } from "bun:test";
import fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deployDir, externalMetrics, metricNamesIn, run, serverMetricNames, withTool } from "./tools.ts";

interface Target {
  expr?: string;
  refId?: string;
  datasource?: { type?: string; uid?: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
  panels?: Panel[];
}
interface Dashboard {
  __inputs: { name: string; type: string; pluginId: string }[];
  __requires: { type: string; id: string }[];
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: { name: string; datasource?: { uid?: string } }[] };
  tags: string[];
}

const grafanaDir = join(deployDir, "grafana");
const files = fs
  .readdirSync(grafanaDir)
  .filter((f) => f.endsWith(".json"))
  .sort();
const dashboards = files.map((f) => ({ file: f, d: JSON.parse(fs.readFileSync(join(grafanaDir, f), "utf8")) as Dashboard }));
const ds = "${DS_PROMETHEUS}";

function allPanels(d: Dashboard): Panel[] {
  return d.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
}
function expressions(d: Dashboard): Array<{ panel: string; expr: string }> {
  return allPanels(d).flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr ?? "" })));
}

describe("deploy/grafana", () => {
  test("the four dashboards: storage health, SLI, ingest, the cluster", () => {
    expect(files).toEqual(["stemedb-cluster.json", "stemedb-ingest.json", "stemedb-sli.json", "stemedb-storage.json"]);
    expect(new Set(dashboards.map(({ d }) => d.uid)).size).toBe(files.length);
  });

  for (const { file, d } of dashboards) {
    describe(file, () => {
      test("has what Grafana needs to import it", () => {
        expect(d.uid).toMatch(/^[a-zA-Z0-9_-]{1,40}$/);
        expect(d.title.length).toBeGreaterThan(3);
        expect(typeof d.schemaVersion).toBe("number");
        expect(d.schemaVersion).toBeGreaterThanOrEqual(30);
        expect(d.tags).toContain("stemedb");
        expect(d.__inputs).toEqual([
          expect.objectContaining({ name: "DS_PROMETHEUS", type: "datasource", pluginId: "prometheus" }),
        ]);
        expect(d.__requires.map((r) => r.id)).toContain("prometheus");
        const variable = d.templating.list.find((v) => v.name === "instance");
        expect(variable?.datasource?.uid).toBe(ds);
      });

      test("every panel has a unique id, a place, and queries through ${DS_PROMETHEUS}", () => {
        const panels = allPanels(d);
        expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
        const data = panels.filter((p) => p.type !== "row");
        expect(data.length).toBeGreaterThanOrEqual(8);
        for (const p of data) {
          expect(p.title.length, `panel ${p.id}`).toBeGreaterThan(1);
          expect(p.datasource?.uid, p.title).toBe(ds);
          expect(p.targets?.length ?? 0, p.title).toBeGreaterThan(0);
          for (const t of p.targets ?? []) {
            expect(t.expr?.length ?? 0, p.title).toBeGreaterThan(0);
            expect(t.refId, p.title).toMatch(/^[A-Z]$/);
            expect(t.datasource?.uid, p.title).toBe(ds);
          }
        }
      });

      test("panels stay inside the 24-column grid and do not overlap", () => {
        const boxes = allPanels(d).map((p) => ({ title: p.title, ...p.gridPos }));
        for (const b of boxes) {
          expect(b.x + b.w, b.title).toBeLessThanOrEqual(24);
          expect(b.w > 0 && b.h > 0, b.title).toBe(true);
        }
        for (let i = 0; i < boxes.length; i++)
          for (let j = i + 1; j < boxes.length; j++) {
            const [a, b] = [boxes[i], boxes[j]] as [(typeof boxes)[0], (typeof boxes)[0]];
            const overlap = a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
            expect(overlap, `${a.title} overlaps ${b.title}`).toBe(false);
          }
      });

      test("every metric in an expression is exported by the server (or the named exporters)", async () => {
        const known = await serverMetricNames();
        for (const { panel, expr } of expressions(d))
          for (const name of metricNamesIn(expr))
            expect(known.has(name) || externalMetrics.has(name), `${panel}: ${name} in ${expr}`).toBe(true);
      });
    });
  }

  // promtool parses PromQL in rule files: each expression becomes a recording rule, with
  // Grafana's variables given the values Grafana would substitute.
  withTool("every dashboard expression parses as PromQL (promtool check rules)", "promtool", async (promtool) => {
    const grafanaVars = (expr: string) =>
      expr.replaceAll("$__rate_interval", "1m").replaceAll("$__range", "6h").replaceAll("$instance", ".*");
    const exprs = dashboards.flatMap(({ d }) => expressions(d)).map((e) => grafanaVars(e.expr));
    const yaml = `groups:\n  - name: dashboards\n    rules:\n${exprs
      .map((e, i) => `      - record: dashboard:expr_${i}\n        expr: ${JSON.stringify(e)}\n`)
      .join("")}`;
    const dir = fs.mkdtempSync(join(tmpdir(), "stemedb-grafana-"));
    try {
      fs.writeFileSync(join(dir, "exprs.yml"), yaml);
      const r = await run([promtool, "check", "rules", join(dir, "exprs.yml")]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toContain(`SUCCESS: ${exprs.length} rules found`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
