#!/usr/bin/env bun
/**
 * The parts of docs/ that are facts written elsewhere as data, written into the docs from
 * that data: the error table (core/errors.ts) and the route list (api/routes/) in
 * docs/API.md. Each lives between `<!-- generated: NAME -->` and `<!-- end: NAME -->`.
 *
 *   bun scripts/docs.ts          rewrite the generated sections
 *   bun scripts/docs.ts --check  exit 1, naming the stale sections, when a rewrite would change a file
 *
 * test/api/docs.test.ts runs the check, so a new route or error code cannot ship undocumented.
 */
import fs from "node:fs";
import path from "node:path";
import { type AppDeps, apiRoutes } from "../src/api/app.ts";
import { metricLabel } from "../src/api/route.ts";
import { roleFor } from "../src/auth/guard.ts";
import { httpProblemCodes, problems } from "../src/core/errors.ts";

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
};

/** The docs with every generated section rewritten; `stale` names the sections that changed. */
export function renderDocs(): { files: Map<string, string>; stale: string[] } {
  const files = new Map<string, string>();
  const stale: string[] = [];
  for (const [name, { file, render }] of Object.entries(sections)) {
    const text = files.get(file) ?? fs.readFileSync(path.join(repoRoot, file), "utf8");
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
    for (const s of stale) process.stderr.write(`stale generated section ${s}; run: bun scripts/docs.ts\n`);
    process.exitCode = stale.length ? 1 : 0;
  } else {
    for (const [file, text] of files) fs.writeFileSync(path.join(repoRoot, file), text);
    process.stdout.write(stale.length ? `rewrote ${stale.join(", ")}\n` : "docs are current\n");
  }
}
