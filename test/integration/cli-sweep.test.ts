/**
 * The CLI sweep: every command in the registry — so a command added later is swept without more
 * work — run as a real process (`bun src/main.ts …`) against the wrong inputs its declared flags
 * and positionals invite:
 *
 * - a `--data-dir`: a missing directory, a file where it belongs, a damaged meta.json,
 *   authorities.json or keys.json (and, as the baseline, a freshly initialised node);
 * - a `--server`: a string that is not a URL, a free port nobody listens on, a web server that
 *   is not StemeDB;
 * - a file to read (`--key`, `--record`, a bundle): missing, a directory, not JSON;
 * - a file to write: its directory missing, a directory in its place;
 * - a directory to read: missing, a file; a directory to write: a file, under a file;
 * - and each command bare and with `--help`.
 *
 * A run fails the sweep when its output holds a stack trace or source (`    at `, `file.ts:12`,
 * `node_modules`, Bun's `error: ` or its source excerpt) or an internal-error report was
 * written, when its exit code is not what the case expects (never 0 for a wrong input, never
 * outside the documented codes), or when a failure's first line is not `stemedb COMMAND: …`.
 * `serve` on a good directory is expected to run: it must come up, then stop on SIGTERM with 0.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import { join } from "node:path";
import { archiveOnce } from "../../src/backup/archive.ts";
import { takeBackup } from "../../src/backup/take.ts";
import type { Command } from "../../src/cli/command.ts";
import { allCommands } from "../../src/cli/commands/index.ts";
import type { Flag } from "../../src/cli/flags.ts";
import { exitCodes } from "../../src/core/errors.ts";
import { generateKeyPair } from "../../src/crypto/sign.ts";
import { initDataDir, writeKeyFile } from "../../src/store/datadir.ts";
import { bunPath, cleanupAll, mainTs, mapLimit, repoRoot, tempDir, track } from "./helpers.ts";

afterAll(cleanupAll);
afterAll(() => fixture?.notStemedb.stop(true));

type Expect = number[] | "runs";

interface Run {
  command: string;
  case: string;
  argv: string[];
  expect: Expect;
}

interface Outcome extends Run {
  code: number;
  stdout: string;
  stderr: string;
  problems: string[];
}

const documented = Object.values(exitCodes).filter((c) => c !== exitCodes.internal);
const hex64 = "ab".repeat(32);

/** The files and directories the cases point at; every run gets its own copies where it may write. */
class Fixture {
  readonly base = tempDir("stemedb-sweep-");
  readonly template = join(this.base, "template-node");
  readonly aFile = join(this.base, "a-file");
  readonly notJson = join(this.base, "not-json.json");
  readonly keyFile = join(this.base, "agent.key");
  readonly recordFile = join(this.base, "record.json");
  readonly bundle = join(repoRoot, "test/fixtures/bundles/golden.ndjson");
  readonly backupDir = join(this.base, "backup");
  readonly archiveDir = join(this.base, "archive");
  // Port 1 (tcpmux): privileged and unused, so nothing else started meanwhile can take it (a
  // free high port was once grabbed by another test's server between pick and use).
  readonly unreachable = "http://127.0.0.1:1";
  /** A web server that is not StemeDB: a 200 HTML page for every request. */
  readonly notStemedb = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("<html>it works</html>") });
  private n = 0;

  async build(): Promise<void> {
    initDataDir(this.template);
    fs.writeFileSync(this.aFile, "just a file\n");
    fs.writeFileSync(this.notJson, "{not json\n");
    writeKeyFile(this.keyFile, generateKeyPair());
    fs.writeFileSync(this.recordFile, JSON.stringify({ subject: "sweep/a", predicate: "p", object: 1, confidence: 0.5 }));
    await takeBackup({ dataDir: this.template, outDir: this.backupDir });
    await archiveOnce(this.template, this.archiveDir);
    fs.rmSync(join(this.template, "backup-status.json"), { force: true });
    fs.rmSync(join(this.template, "LOCK"), { force: true });
  }

  /** A path of its own for one run (not created). */
  fresh(name: string): string {
    return join(this.base, `run-${++this.n}`, name);
  }

  /** A copy of the initialised node, optionally with one file damaged. */
  node(damage?: "meta.json" | "authorities.json" | "keys.json"): string {
    const dir = this.fresh("node");
    fs.cpSync(this.template, dir, { recursive: true });
    if (damage) fs.writeFileSync(join(dir, damage), "{damaged\n", { mode: 0o600 });
    return dir;
  }
}

/** A valid value for a flag, so a run gets as far as the flag under test. */
function goodValue(fx: Fixture, name: string, f: Flag<unknown>): string | undefined {
  if (f.kind === "data-dir") return fx.node();
  if (f.kind === "server") return fx.unreachable;
  if (f.kind === "in-file") return name === "key" ? fx.keyFile : name === "record" ? fx.recordFile : fx.bundle;
  if (f.kind === "out-file") {
    const file = fx.fresh("out.file");
    fs.mkdirSync(join(file, ".."), { recursive: true });
    return file;
  }
  if (f.kind === "in-dir") return name === "archive-dir" ? fx.archiveDir : fx.backupDir;
  if (f.kind === "out-dir") return fx.fresh("out-dir");
  if (name === "role") return "admin";
  if (name === "name") return "sweep";
  return undefined;
}

function goodPositional(fx: Fixture, p: { name: string; kind?: string }): string {
  if (p.kind === "in-file") return fx.bundle;
  return { SUBJECT: "sweep/a", PREDICATE: "p", OBJECT: "1", "+1|-1": "+1" }[p.name] ?? hex64;
}

/** The command line of `command` with valid values, `override` replacing (or adding) one flag's. */
function line(fx: Fixture, command: Command, override: Record<string, string> = {}, positionals?: string[]): string[] {
  const argv = command.name.split(" ");
  for (const [name, f] of Object.entries(command.flags)) {
    if (name in override) continue;
    const optionalPath = !f.required && f.kind !== "data-dir" && f.kind !== "server";
    if (optionalPath && f.kind !== undefined) continue; // an optional file (assert --record) only in its own cases
    const value = goodValue(fx, name, f);
    if (value !== undefined) argv.push(`--${name}`, value);
  }
  for (const [name, value] of Object.entries(override)) argv.push(`--${name}`, value);
  argv.push(...(positionals ?? (command.args ?? []).map((p) => goodPositional(fx, p))));
  return argv;
}

/** What the good command line should end with. */
function baselineExpect(command: Command): Expect {
  const special: Record<string, Expect> = { serve: "runs", init: [3], keys: [2], "keys revoke": [3] };
  const expect = special[command.name];
  if (expect) return expect;
  // A family without flags of its own (`sim`) asked for nothing: which subcommand?
  if (command.subcommands?.length && Object.keys(command.flags).length === 0) return [exitCodes.usage];
  return Object.values(command.flags).some((f) => f.kind === "server") ? [exitCodes.unreachable] : [exitCodes.ok];
}

function dataDirCases(fx: Fixture, c: Command, name: string): Run[] {
  const creates = c.name === "init" || c.name === "serve";
  const readsKeys = c.name.startsWith("keys ") || c.name === "serve" || c.name === "init";
  const run = (label: string, value: string, expect: Expect): Run => ({
    command: c.name,
    case: label,
    argv: line(fx, c, { [name]: value }),
    expect,
  });
  return [
    run("data dir missing", fx.fresh("missing"), creates ? (c.name === "serve" ? "runs" : [0]) : [3]),
    run("data dir is a file", fx.aFile, [2]),
    run("meta.json damaged", fx.node("meta.json"), [3]),
    run("authorities.json damaged", fx.node("authorities.json"), [3]),
    run("keys.json damaged", fx.node("keys.json"), readsKeys ? [3] : baselineExpect(c)),
  ];
}

function pathCases(fx: Fixture, c: Command, name: string, f: Flag<unknown>): Run[] {
  const run = (label: string, value: string, expect: number[]): Run => ({
    command: c.name,
    case: `--${name} ${label}`,
    // An optional flag's cases leave out optional positionals (assert: --record, not SUBJECT PREDICATE OBJECT).
    argv: line(fx, c, { [name]: value }, f.required || f.kind === "server" ? undefined : requiredPositionals(fx, c)),
    expect,
  });
  const bundleCheck = c.name === "verify-bundle" || c.name === "import";
  switch (f.kind) {
    case "server":
      return [
        run("not a URL", "notaurl", [2]),
        run("unreachable", fx.unreachable, [4]),
        run("not StemeDB", `http://127.0.0.1:${fx.notStemedb.port}`, [3]),
      ];
    case "in-file":
      return [
        run("missing", fx.fresh("missing.json"), [2]),
        run("a directory", fx.base, [2]),
        run("not JSON", fx.notJson, bundleCheck ? [1] : [2]),
      ];
    case "out-file":
      return [run("directory missing", join(fx.fresh("no-such-dir"), "out"), [2]), run("a directory", fx.base, [2])];
    case "in-dir":
      return [run("missing", fx.fresh("missing"), [2]), run("a file", fx.aFile, [2])];
    case "out-dir":
      return [run("a file", fx.aFile, [2]), run("under a file", join(fx.aFile, "sub"), [2])];
    default:
      return [];
  }
}

function requiredPositionals(fx: Fixture, c: Command): string[] {
  return (c.args ?? []).filter((p) => !p.optional).map((p) => goodPositional(fx, p));
}

/** The positionals that name files: missing, a directory, not JSON. */
function positionalCases(fx: Fixture, c: Command): Run[] {
  const args = c.args ?? [];
  return args.flatMap((p, i) => {
    if (p.kind !== "in-file") return [];
    const withValue = (value: string) => args.map((q, j) => (j === i ? value : goodPositional(fx, q)));
    const run = (label: string, value: string, expect: number[]): Run => ({
      command: c.name,
      case: `${p.name} ${label}`,
      argv: line(fx, c, {}, withValue(value)),
      expect,
    });
    return [run("missing", fx.fresh("missing.ndjson"), [2]), run("a directory", fx.base, [2]), run("not JSON", fx.notJson, [1])];
  });
}

function runsFor(fx: Fixture, c: Command): Run[] {
  const runs: Run[] = [
    { command: c.name, case: "bare", argv: c.name.split(" "), expect: c.name === "serve" ? "runs" : documented },
    { command: c.name, case: "--help", argv: [...c.name.split(" "), "--help"], expect: [0] },
    { command: c.name, case: "good values", argv: line(fx, c), expect: baselineExpect(c) },
  ];
  for (const [name, f] of Object.entries(c.flags)) {
    if (f.kind === "data-dir") runs.push(...dataDirCases(fx, c, name));
    else if (f.kind) runs.push(...pathCases(fx, c, name, f));
  }
  runs.push(...positionalCases(fx, c));
  return runs;
}

/** Signs of a crash on the terminal. */
const crashSigns: Array<[RegExp, string]> = [
  [/^\s+at .+/m, "a stack frame"],
  [/\.[cm]?[jt]sx?:\d+/, "a source position"],
  [/node_modules/, "node_modules"],
  [/^error: /m, "Bun's uncaught-error line"],
  [/^\s*\d+ \| /m, "a source excerpt"],
  [/^Bun v\d/m, "Bun's crash banner"],
];

function problemsOf(o: Omit<Outcome, "problems">, stateDir: string): string[] {
  const problems: string[] = [];
  for (const [pattern, what] of crashSigns)
    if (pattern.test(o.stdout) || pattern.test(o.stderr)) problems.push(`${what} in the output`);
  if (o.expect !== "runs" && !o.expect.includes(o.code)) problems.push(`exit ${o.code}, expected ${o.expect.join(" or ")}`);
  const prefix = `stemedb ${o.command}: `;
  if (o.expect !== "runs" && o.code >= 2 && !o.stderr.startsWith(prefix)) problems.push(`stderr does not start with "${prefix}"`);
  if (o.case === "--help" && !o.stdout.includes(`Usage: stemedb ${o.command}`)) problems.push("--help shows no usage");
  // The hint of an unreachable server names the flag the user gave (admin's is --gateway, not --server).
  const unreachableFlag = /^(--[\w-]+) unreachable$/.exec(o.case)?.[1];
  if (unreachableFlag && o.code === 4 && !o.stderr.includes(`${unreachableFlag} URL`))
    problems.push(`the unreachable hint does not name ${unreachableFlag}`);
  const reports = join(stateDir, "stemedb");
  if (fs.existsSync(reports) && fs.readdirSync(reports).length > 0) problems.push("an internal-error report was written");
  return problems;
}

async function execute(run: Run, fx: Fixture): Promise<Outcome> {
  const cwd = fx.fresh("cwd");
  fs.mkdirSync(cwd, { recursive: true });
  const env: Record<string, string | undefined> = {
    ...process.env,
    STEMEDB_URL: fx.unreachable,
    STEMEDB_BIND_ADDR: "127.0.0.1:0",
    XDG_STATE_HOME: join(cwd, "state"), // where a run's internal-error report would go
    STEMEDB_API_KEY: undefined,
    STEMEDB_DATA_DIR: undefined,
  };
  const proc = track(Bun.spawn([bunPath, mainTs, ...run.argv], { cwd, env, stdin: "ignore", stdout: "pipe", stderr: "pipe" }));
  const stdoutText = new Response(proc.stdout).text();
  const stderrText = run.expect === "runs" ? untilListening(proc, proc.stderr) : new Response(proc.stderr).text();
  const timer = setTimeout(() => proc.kill("SIGKILL"), 20_000);
  const [stdout, stderr, code] = await Promise.all([stdoutText, stderrText, proc.exited]);
  clearTimeout(timer);
  const outcome = { ...run, code, stdout, stderr };
  const problems = problemsOf(outcome, join(cwd, "state"));
  if (run.expect === "runs" && !stderr.includes("stemedb listening")) problems.push(`did not come up (exit ${code})`);
  if (run.expect === "runs" && code !== 0) problems.push(`stopped with ${code}, expected 0 after SIGTERM`);
  return { ...outcome, problems };
}

/** Reads a server's stderr; once it says it listens, asks it to stop (SIGTERM). */
async function untilListening(proc: { kill(signal: "SIGTERM"): void }, stream: ReadableStream<Uint8Array>): Promise<string> {
  let text = "";
  const decoder = new TextDecoder();
  let stopped = false;
  for await (const chunk of stream) {
    text += decoder.decode(chunk, { stream: true });
    if (!stopped && text.includes("stemedb listening")) {
      stopped = true;
      proc.kill("SIGTERM");
    }
  }
  return text;
}

let fixture: Fixture | undefined;

describe("cli sweep", () => {
  const fx = new Fixture();
  fixture = fx;
  beforeAll(() => fx.build());

  test("every command × every wrong input: one line, a documented exit code, never a stack trace", async () => {
    const started = performance.now();
    const commands = allCommands();
    const runs = commands.flatMap((c) => runsFor(fx, c));
    const outcomes = await mapLimit(runs, 6, (r) => execute(r, fx));
    const seconds = (performance.now() - started) / 1000;

    const byCode = new Map<number, number>();
    for (const o of outcomes) byCode.set(o.code, (byCode.get(o.code) ?? 0) + 1);
    const failed = outcomes.filter((o) => o.problems.length > 0);
    const codes = [...byCode].sort((a, b) => a[0] - b[0]).map(([code, n]) => `exit ${code}: ${n}`);
    console.log(
      `cli sweep: ${commands.length} commands × ${new Set(runs.map((r) => r.case.replace(/^--[a-z-]+ /, "--flag "))).size} kinds of case = ${runs.length} runs in ${seconds.toFixed(1)} s; ${codes.join(", ")}; ${failed.length} failed`,
    );
    for (const o of failed)
      console.log(
        `  ✗ stemedb ${o.argv.join(" ")}  [${o.case}]: ${o.problems.join("; ")}\n    stderr: ${o.stderr.trim().split("\n").slice(0, 4).join("\n            ")}`,
      );
    expect(failed.map((o) => `${o.command} [${o.case}]: ${o.problems.join("; ")}`)).toEqual([]);
    expect(runs.length).toBeGreaterThan(150);
  }, 180_000);
});
