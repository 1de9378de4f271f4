/**
 * The files derived from tables are up to date (`make docs` writes them), and the registry,
 * `stemedb --help` and docs/CLI.md name the same commands.
 */
import { describe, expect, test } from "bun:test";
import fs from "node:fs";
import path from "node:path";
import { allCommands, commands } from "../../src/cli/commands/index.ts";
import { cliMarkdown } from "../../src/cli/docs.ts";
import { commandHelp, mainHelp } from "../../src/cli/help.ts";
import { envExample, settings } from "../../src/config/config.ts";
import { exitCodes } from "../../src/core/errors.ts";

const root = path.resolve(import.meta.dir, "../..");
const read = (file: string) => fs.readFileSync(path.join(root, file), "utf8");

describe("derived documents", () => {
  test("docs/CLI.md is what the registry gives (run `make docs` after changing a command)", () => {
    expect(read("docs/CLI.md")).toBe(cliMarkdown(commands));
  });

  test(".env.example is what the settings table gives (run `make docs` after changing a setting)", () => {
    expect(read(".env.example")).toBe(envExample());
  });

  test("every command in the registry has its section in docs/CLI.md, and every section is a command", () => {
    const md = read("docs/CLI.md");
    const sections = [...md.matchAll(/^## (.+)$/gm)]
      .map((m) => m[1] as string)
      .filter((h) => h !== "Exit codes" && h !== "Commands");
    expect(sections.sort()).toEqual(
      allCommands()
        .map((c) => c.name)
        .sort(),
    );
  });

  test("every exit code is in docs/CLI.md's table and in `stemedb --help`", () => {
    const md = read("docs/CLI.md");
    const help = mainHelp(commands, "0.0.0");
    for (const [name, code] of Object.entries(exitCodes)) {
      expect(md).toContain(`| ${code} | \`${name}\` |`);
      expect(help).toMatch(new RegExp(`^  ${code}\\s+\\S`, "m"));
    }
  });

  test("`stemedb --help` lists every top-level command; `COMMAND --help` every option", () => {
    const help = mainHelp(commands, "0.0.0");
    for (const c of commands)
      expect(help).toMatch(new RegExp(`^  ${c.name}\\s+${c.summary.replace(/[()|+.*?[\]]/g, "\\$&")}$`, "m"));
    for (const c of allCommands()) {
      const text = commandHelp(c);
      for (const name of Object.keys(c.flags)) expect([c.name, text.includes(`--${name}`)]).toEqual([c.name, true]);
      for (const s of c.subcommands ?? []) expect(text).toContain(s.name);
    }
  });

  test("serve's options are the settings table: one flag per setting, with its variable and default", () => {
    const serve = commands.find((c) => c.name === "serve");
    expect(Object.keys(serve?.flags ?? {})).toEqual(settings.map((s) => s.flag));
    const help = commandHelp(serve as NonNullable<typeof serve>);
    for (const s of settings) expect(help).toContain(`$${s.env} or ${s.shownDefault ?? (s.default || '""')}`);
    for (const s of settings) expect(envExample()).toContain(`${s.env}=`);
  });
});
