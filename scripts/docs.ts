#!/usr/bin/env bun
/**
 * `make docs`: writes the files derived from tables — docs/CLI.md from the command registry
 * (src/cli/docs.ts) and .env.example from the settings table (src/config/config.ts). With
 * `--check`, writes nothing and fails when either is out of date (test/cli/docs.test.ts checks
 * the same).
 *
 * Usage: bun scripts/docs.ts [--check]
 */
import fs from "node:fs";
import path from "node:path";
import { commands } from "../src/cli/commands/index.ts";
import { cliMarkdown } from "../src/cli/docs.ts";
import { envExample } from "../src/config/config.ts";

const root = path.resolve(import.meta.dir, "..");
const derived: Array<[string, string]> = [
  ["docs/CLI.md", cliMarkdown(commands)],
  [".env.example", envExample()],
];
const check = process.argv.includes("--check");
let stale = 0;
for (const [file, text] of derived) {
  const full = path.join(root, file);
  const now = fs.existsSync(full) ? fs.readFileSync(full, "utf8") : "";
  if (now === text) continue;
  if (check) {
    console.error(`${file} is out of date: run \`make docs\``);
    stale++;
  } else {
    fs.writeFileSync(full, text);
    console.log(`wrote ${file}`);
  }
}
process.exitCode = stale > 0 ? 1 : 0;
