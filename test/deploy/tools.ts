/**
 * Shared by the deploy/ tests: finding the external checkers (systemd-analyze, promtool, nginx,
 * strace, envoy), running them, and the metric names the rules and dashboards may use.
 *
 * A checker that is missing skips its test, saying so in the test's name — unless
 * STEMEDB_DEPLOY_STRICT=1 (`make check-deploy`, CI), where a missing checker is a failure:
 * `make deploy-tools` installs them (promtool and nginx unpacked from Debian's packages into
 * tools/deploy/, so no daemon is installed or started).
 */
import fs from "node:fs";
import { join, resolve } from "node:path";
import { test } from "bun:test";
import { createMetrics } from "../../src/metrics/index.ts";

export const repoRoot = resolve(import.meta.dir, "../..");
export const deployDir = join(repoRoot, "deploy");
export const strict = process.env.STEMEDB_DEPLOY_STRICT === "1";
const unpacked = join(repoRoot, "tools/deploy");

/** The path of an external tool: on PATH, or unpacked by `make deploy-tools`. */
export function findTool(name: string): string | null {
  const onPath = Bun.which(name, { PATH: `${process.env.PATH ?? ""}:/usr/sbin:/sbin` });
  if (onPath) return onPath;
  for (const dir of ["usr/bin", "usr/sbin"]) {
    const p = join(unpacked, dir, name);
    if (fs.existsSync(p)) return p;
  }
  return null;
}

/**
 * A test that needs `tool`: runs it with the tool's path, or skips with the reason in its name
 * (fails instead under STEMEDB_DEPLOY_STRICT=1).
 */
export function withTool(
  name: string,
  tool: string,
  fn: (path: string) => Promise<void> | void,
  options: { timeoutMs?: number; optional?: boolean } = {},
): void {
  const path = findTool(tool);
  if (path) {
    test(name, () => fn(path), options.timeoutMs);
  } else if (strict && !options.optional) {
    test(name, () => {
      throw new Error(`${tool} is not installed; run \`make deploy-tools\``);
    });
  } else {
    test.skip(`${name} (skipped: no ${tool} on this machine; \`make deploy-tools\` installs it)`, () => {});
  }
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function run(cmd: string[], options: { cwd?: string; env?: Record<string, string> } = {}): Promise<RunResult> {
  const proc = Bun.spawn(cmd, { cwd: options.cwd ?? repoRoot, env: options.env ?? process.env, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, stdout, stderr };
}

/** Metrics from other exporters that the rules and dashboards read, by the job that has them. */
export const externalMetrics = new Set([
  "up", // Prometheus, per target
  "probe_success", // blackbox exporter (job stemedb-ready)
  "node_filesystem_avail_bytes", // node exporter (job node)
  "node_filesystem_size_bytes",
]);

/** Every series name the server exports: its registry's metrics, histograms expanded. */
export async function serverMetricNames(): Promise<Set<string>> {
  const metrics = createMetrics();
  const names = new Set<string>();
  const add = (name: string, type: string) => {
    names.add(name);
    if (type === "histogram") for (const s of ["_bucket", "_sum", "_count"]) names.add(name + s);
  };
  for (const m of await metrics.registry.getMetricsAsJSON()) add(m.name, String(m.type));
  return names;
}

/** The metric names a PromQL expression reads: identifiers that are not functions, keywords or labels. */
export function metricNamesIn(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // strings
    .replace(/\{[^}]*\}/g, "") // label matchers
    .replace(/\[[^\]]*\]/g, "") // ranges
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, "") // label lists
    .replace(/\$\w+/g, ""); // Grafana variables
  const names = new Set<string>();
  for (const m of bare.matchAll(/(?<![\w.])[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const after = bare.slice((m.index ?? 0) + m[0].length).trimStart();
    if (after.startsWith("(") || promqlKeywords.has(m[0])) continue;
    names.add(m[0]);
  }
  return [...names];
}

const promqlKeywords = new Set(["and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "Inf", "NaN"]);

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
export function anchorsOf(markdown: string): Set<string> {
  const out = new Set<string>();
  for (const m of markdown.matchAll(/^#{1,6}\s+(.+)$/gm))
    out.add(
      (m[1] as string)
        .trim()
        .toLowerCase()
        .replace(/[^\p{L}\p{N} _-]/gu, "")
        .replace(/ /g, "-"),
    );
  return out;
}

/**
 * `make build`'s compile command with another output file: the entry points come from the
 * Makefile's recipe, so a worker added there (each worker thread is its own entry point) is
 * built here too.
 */
export function makeBuildCommand(outfile: string): string[] {
  const makefile = fs.readFileSync(join(repoRoot, "Makefile"), "utf8");
  const recipe = /^build:.*\n\t\$\(BUN\) (build --compile[^\n]*)$/m.exec(makefile);
  if (!recipe) throw new Error("Makefile: no `build:` recipe running `$(BUN) build --compile`");
  // Expand the Makefile's simple variables (`NAME := value`), e.g. the list of worker entry points.
  const variables = new Map<string, string>();
  for (const m of makefile.matchAll(/^([A-Z_]+)\s*:?=\s*(.*)$/gm)) variables.set(m[1] as string, (m[2] as string).trim());
  const expanded = (recipe[1] as string).replace(/\$\(([A-Z_]+)\)/g, (_, name: string) => {
    const value = variables.get(name);
    if (value === undefined) throw new Error(`Makefile: the build recipe uses $(${name}), which is not set`);
    return value;
  });
  const args = expanded.split(/\s+/);
  const out = args.indexOf("--outfile");
  if (out < 0) throw new Error("Makefile: the build recipe has no --outfile");
  args[out + 1] = outfile;
  return [process.execPath, ...args];
}
