/**
 * deploy/prometheus: the scrape config and alert rules are valid (promtool check), every alert
 * is unit-tested firing and staying quiet (promtool test rules), every alert carries a
 * severity, a summary, a description and a runbook that exists, and every metric the rules
 * read is one the server exports.
 */
import { describe, expect, test } from "bun:test";
import fs from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { anchorsOf, deployDir, externalMetrics, metricNamesIn, repoRoot, run, serverMetricNames, withTool } from "./tools.ts";

interface Rule {
  alert?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleTest {
  eval_time: string;
  alertname: string;
  exp_alerts: unknown[];
}

const promDir = join(deployDir, "prometheus");
const rules = (
  Bun.YAML.parse(fs.readFileSync(join(promDir, "alerts.yml"), "utf8")) as { groups: { rules: Rule[] }[] }
).groups.flatMap((g) => g.rules);
const alerts = rules.filter((r) => r.alert !== undefined);
const unitTests = (
  Bun.YAML.parse(fs.readFileSync(join(promDir, "alerts.test.yml"), "utf8")) as { tests: { alert_rule_test: RuleTest[] }[] }
).tests.flatMap((t) => t.alert_rule_test);

describe("deploy/prometheus/alerts.yml", () => {
  test("covers what operators asked to be told about", () => {
    const names = alerts.map((a) => a.alert);
    for (const name of [
      "StemeDBDown",
      "StemeDBNotReady",
      "StemeDBFsyncSlow",
      "StemeDBServerErrors",
      "StemeDBIngestOverload",
      "StemeDBRateLimitSurge",
      "StemeDBIndexLagging",
      "StemeDBTrustRankLagging",
      "StemeDBTornTailRecovered",
      "StemeDBDiskFillingUp",
      "StemeDBBackupTooOld",
      "StemeDBBackupVerifyFailed",
      "StemeDBArchiveStale",
    ])
      expect(names).toContain(name);
    expect(new Set(names).size).toBe(names.length);
    expect(new Set(alerts.map((a) => a.labels?.severity))).toEqual(new Set(["critical", "warning", "info"]));
  });

  test("every alert has a severity, a summary, a description and a runbook that exists", () => {
    for (const a of alerts) {
      const where = `alert ${a.alert}`;
      expect(["critical", "warning", "info"], where).toContain(a.labels?.severity as string);
      expect(a.annotations?.summary?.length ?? 0, `${where}: summary`).toBeGreaterThan(10);
      expect(a.annotations?.description?.length ?? 0, `${where}: description`).toBeGreaterThan(30);
      const url = a.annotations?.runbook_url ?? "";
      const m = /^(docs\/operations\/[a-z-]+\.md)(?:#([a-z0-9-]+))?$/.exec(url);
      expect(m, `${where}: runbook_url "${url}"`).not.toBeNull();
      const file = join(repoRoot, (m as RegExpExecArray)[1] as string);
      expect(fs.existsSync(file), `${where}: ${file}`).toBe(true);
      const anchor = (m as RegExpExecArray)[2];
      if (anchor) expect(anchorsOf(fs.readFileSync(file, "utf8")).has(anchor), `${where}: #${anchor} in ${file}`).toBe(true);
    }
  });

  test("every metric the rules read is exported by the server (or the named exporters)", async () => {
    const known = await serverMetricNames();
    for (const r of rules)
      for (const name of metricNamesIn(r.expr))
        expect(known.has(name) || externalMetrics.has(name), `${r.alert}: ${name} in ${r.expr}`).toBe(true);
  });

  test("alerts.test.yml sees every alert both firing and quiet", () => {
    for (const a of alerts) {
      const cases = unitTests.filter((t) => t.alertname === a.alert);
      expect(
        cases.some((t) => t.exp_alerts.length > 0),
        `${a.alert} is never tested firing`,
      ).toBe(true);
      expect(
        cases.some((t) => t.exp_alerts.length === 0),
        `${a.alert} is never tested quiet`,
      ).toBe(true);
    }
    for (const t of unitTests) expect(alerts.map((a) => a.alert)).toContain(t.alertname);
  });
});

describe("promtool", () => {
  withTool("check config: prometheus.yml and the rule files it names", "promtool", async (promtool) => {
    const r = await run([promtool, "check", "config", join(promDir, "prometheus.yml")]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout + r.stderr).toContain(`SUCCESS: ${rules.length} rules found`);
  });

  withTool("check rules: alerts.yml", "promtool", async (promtool) => {
    const r = await run([promtool, "check", "rules", join(promDir, "alerts.yml")]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
  });

  withTool(
    "test rules: alerts.test.yml",
    "promtool",
    async (promtool) => {
      const r = await run([promtool, "test", "rules", "alerts.test.yml"], { cwd: promDir });
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toContain("SUCCESS");
    },
    { timeoutMs: 60_000 },
  );

  withTool(
    "test rules fails when an expectation is wrong (the check can fail)",
    "promtool",
    async (promtool) => {
      const dir = fs.mkdtempSync(join(tmpdir(), "stemedb-promtool-"));
      try {
        fs.copyFileSync(join(promDir, "alerts.yml"), join(dir, "alerts.yml"));
        const broken = fs
          .readFileSync(join(promDir, "alerts.test.yml"), "utf8")
          .replace(
            'exp_labels: {severity: critical, job: stemedb, instance: "n1:18180"}',
            'exp_labels: {severity: critical, job: stemedb, instance: "n9:18180"}',
          );
        fs.writeFileSync(join(dir, "alerts.test.yml"), broken);
        const r = await run([promtool, "test", "rules", "alerts.test.yml"], { cwd: dir });
        expect(r.code).not.toBe(0);
        expect(r.stdout + r.stderr).toContain("FAILED");
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
    { timeoutMs: 60_000 },
  );
});
