#!/usr/bin/env bun
/**
 * `make docs`: the documents that are facts written elsewhere as data, written from that data.
 * Whole files: docs/CLI.md from the command registry (src/cli/docs.ts) and .env.example from
 * the settings table (src/config/config.ts). Sections of a hand-written page, between
 * `<!-- generated: NAME -->` and `<!-- end: NAME -->`: docs/API.md's error table (from
 * core/errors.ts) and route list (from api/routes/), docs/METRICS.md's table (from the
 * metrics registry).
 *
 *   bun scripts/docs.ts          rewrite them
 *   bun scripts/docs.ts --check  exit 1, naming the stale ones, when a rewrite would change a file
 *
 * test/api/docs.test.ts and test/cli/docs.test.ts run the check, so a new route, error code,
 * command or setting cannot ship undocumented.
 */
import fs from "node:fs";
import path from "node:path";
import { type AppDeps, apiRoutes } from "../src/api/app.ts";
import { metricLabel } from "../src/api/route.ts";
import { roleFor } from "../src/auth/guard.ts";
import { commands } from "../src/cli/commands/index.ts";
import { cliMarkdown } from "../src/cli/docs.ts";
import { envExample } from "../src/config/config.ts";
import { httpProblemCodes, problems } from "../src/core/errors.ts";
import { createMetrics } from "../src/metrics/index.ts";

const repoRoot = path.resolve(import.meta.dir, "..");

/** `| code | status | meaning |`, one row per code an HTTP client can meet. */
function errorTable(): string {
  const rows = httpProblemCodes().map((code) => {
    const p = problems[code];
    const hint = "hint" in p && p.hint ? ` Hint: ${p.hint}.` : "";
    return `| \`${code}\` | ${p.status} | ${p.meaning.replaceAll("|", "\\|")}${hint.replaceAll("|", "\\|")} |`;
  });
  return ["| code | status | meaning |", "| --- | --- | --- |", ...rows].join("\n");
}

/** `| name | type | labels | meaning |`, one row per metric in registration order. */
function metricTable(): string {
  const rows = createMetrics({ processMetrics: true })
    .registry.getMetricsAsArray()
    .map((m) => {
      const labels = (m as unknown as { labelNames: readonly string[] }).labelNames.map((l) => `\`${l}\``).join(", ");
      return `| \`${m.name}\` | ${m.type} | ${labels || "—"} | ${m.help.replaceAll("|", "\\|")} |`;
    });
  return ["| name | type | labels | meaning |", "| --- | --- | --- | --- |", ...rows].join("\n");
}

/** `| method | path | role | what |`, in table order. */
function routeTable(): string {
  // The table is built without a node: handlers only capture their dependencies.
  const routes = apiRoutes({ version: "", limits: {} } as unknown as AppDeps);
  const rows = routes.map(
    (r) =>
      `| ${r.method} | \`${metricLabel(r.path)}\` | ${roleFor[r.class] ?? "none"} | ${r.doc.summary.replaceAll("|", "\\|")} |`,
  );
  return ["| method | path | role | what |", "| --- | --- | --- | --- |", ...rows].join("\n");
}

const sections: Record<string, { file: string; render: () => string }> = {
  errors: { file: "docs/API.md", render: errorTable },
  routes: { file: "docs/API.md", render: routeTable },
  metrics: { file: "docs/METRICS.md", render: metricTable },
};

/** Files written whole. */
const wholeFiles: Record<string, () => string> = {
  "docs/CLI.md": () => cliMarkdown(commands),
  ".env.example": envExample,
};

const read = (file: string) =>
  fs.existsSync(path.join(repoRoot, file)) ? fs.readFileSync(path.join(repoRoot, file), "utf8") : "";

/** Every derived file as it should be; `stale` names what differs from the file on disk. */
export function renderDocs(): { files: Map<string, string>; stale: string[] } {
  const files = new Map<string, string>();
  const stale: string[] = [];
  for (const [file, render] of Object.entries(wholeFiles)) {
    const text = render();
    if (text !== read(file)) stale.push(file);
    files.set(file, text);
  }
  for (const [name, { file, render }] of Object.entries(sections)) {
    const text = files.get(file) ?? read(file);
    const begin = `<!-- generated: ${name} (bun scripts/docs.ts) -->\n`;
    const end = `<!-- end: ${name} -->`;
    const a = text.indexOf(begin);
    const b = text.indexOf(end);
    if (a < 0 || b < a) throw new Error(`${file}: no generated section "${name}" (${begin.trim()} … ${end})`);
    const next = `${text.slice(0, a + begin.length)}${render()}\n${text.slice(b)}`;
    if (next !== text) stale.push(`${file}: ${name}`);
    files.set(file, next);
  }
  return { files, stale };
}

if (import.meta.main) {
  const { files, stale } = renderDocs();
  if (process.argv.includes("--check")) {
    for (const s of stale) process.stderr.write(`${s} is out of date: run \`make docs\`\n`);
    process.exitCode = stale.length ? 1 : 0;
  } else {
    for (const [file, text] of files) if (text !== read(file)) fs.writeFileSync(path.join(repoRoot, file), text);
    process.stdout.write(stale.length ? `rewrote ${stale.join(", ")}\n` : "docs are current\n");
  }
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
export function headingAnchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");
}

/** Every `docs/<page>.md#<anchor>` the code cites that does not lead to a page and heading. */
export function brokenCitations(dirs = ["src", "test", "bench", "scripts"]): string[] {
  const anchorsOf = new Map<string, Set<string>>();
  const anchors = (file: string): Set<string> | null => {
    if (!fs.existsSync(path.join(repoRoot, file))) return null;
    let set = anchorsOf.get(file);
    if (!set) {
      set = new Set([...read(file).matchAll(/^#{1,6} (.+)$/gm)].map((m) => headingAnchor(m[1] as string)));
      anchorsOf.set(file, set);
    }
    return set;
  };
  const broken: string[] = [];
  for (const dir of dirs)
    for (const file of new Bun.Glob(`${dir}/**/*.{ts,py,md}`).scanSync({ cwd: repoRoot }))
      for (const m of read(file).matchAll(/docs\/([A-Za-z0-9_/-]+\.md)(?:#([a-z0-9_-]+))?/g)) {
        const page = `docs/${m[1]}`;
        const set = anchors(page);
        if (!set || (m[2] && !set.has(m[2]))) broken.push(`${file}: ${m[0]}`);
      }
  return broken;
}
