/**
 * How far the server's JS heaps may grow between full collections.
 *
 * The runtime (JavaScriptCore) picks the growth by the machine's RAM:
 * - below 16 GiB, a heap may grow to twice what survived the last full collection;
 * - at 16 GiB or more, to about three times that ("aggressive" growth).
 *
 * So the same server held more memory on a bigger machine, for no measured gain. Loading 1M
 * records on this 24 GiB machine peaked at 363–404 MB of RSS with the aggressive growth, and at
 * 260–275 MB with the factor of two, at the same rate (docs/BENCHMARKS.md, "The loading
 * server's peak: the heap's growth").
 *
 * The runtime reads its options once, from the environment the process started with, before
 * any JavaScript runs (and before it loads `.env` files). So `serve` executes itself again at
 * once (`execve`: the same process and PID, the same command line) with the option added to
 * that environment. Where it cannot do that without changing what the server is given, it does
 * not, and the server runs with the runtime's own growth:
 * - the option is already in the starting environment (the operator's value, or this re-execution);
 * - an argument or a `STEMEDB_*` setting names an inherited file descriptor (`/dev/fd/N`,
 *   `/proc/self/fd/N`): the runtime's `execve` closes every descriptor above 2;
 * - the runtime was started with a debugger (`--inspect…`), which would lose this image;
 * - no /proc (the starting environment and command line are read from it).
 * A value set in a `.env` file is applied by the re-execution. main.ts runs this before it
 * loads the rest of the program.
 */
import fs from "node:fs";

/** The runtime's option: the RAM (MiB) from which a heap grows aggressively. */
export const heapGrowthVar = "BUN_JSC_heapGrowthFunctionThresholdInMB";
/** 1 TiB: above any machine this runs on, so every heap grows by the factor of two. */
export const heapGrowthThresholdMiB = "1048576";
/** Set by the re-execution: never a second one, whatever happens to the option. */
export const reexecutedVar = "STEMEDB_HEAP_REEXECUTED";

/** Commands that run long enough for the heap's growth to matter. */
const longRunning = new Set(["serve"]);
/** A path that reaches a file descriptor this process inherited. */
const fdPath = /(^|=)\/(dev\/fd|proc\/[^/]+\/fd)\//;

export interface ProcessFacts {
  /** The environment the process started with (/proc/self/environ), without what `.env` files added. */
  startEnv: Record<string, string>;
  /** The environment now: the starting one and what `.env` files added. */
  env: Record<string, string | undefined>;
  execPath: string;
  /** The command line exactly as given (/proc/self/cmdline). */
  cmdline: readonly string[];
  /** As the runtime gives it: the runtime, the script (or the compiled binary's inner path), then stemedb's arguments. */
  argv: readonly string[];
}

export interface Reexec {
  file: string;
  args: string[];
  env: Record<string, string>;
}

/** Whether stemedb's own arguments (`args`, after the script) ask for `serve`, as the CLI reads them. */
function isServe(args: readonly string[]): boolean {
  const line = args.filter((a) => a !== "--debug");
  return longRunning.has(line[0] ?? "") && !line.slice(1).some((a) => a === "--help" || a === "-h");
}

/** The runtime's own flags without `--cwd`: the process is in that directory already. */
function withoutCwd(head: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < head.length; i++) {
    const a = head[i] as string;
    if (a === "--cwd") i++;
    else if (!a.startsWith("--cwd=")) out.push(a);
  }
  return out;
}

/**
 * What to execute again so the runtime starts with the heap's growth set, or null when there
 * is nothing to do or it would change what the server is given (the module's comment says when).
 */
export function reexecForHeap(p: ProcessFacts): Reexec | null {
  if (p.startEnv[heapGrowthVar] !== undefined || p.startEnv[reexecutedVar] !== undefined) return null;
  const own = p.argv.slice(2);
  if (!isServe(own)) return null;
  // stemedb's arguments end the command line as given; before them, the runtime, its flags and the script.
  const head = p.cmdline.slice(0, p.cmdline.length - own.length);
  if (head.length === 0 || own.some((a, i) => p.cmdline[head.length + i] !== a)) return null;
  // A debugger attached to this image would lose it.
  if (head.some((a) => a.startsWith("--inspect"))) return null;
  if (own.some((a) => fdPath.test(a))) return null;
  if (Object.entries(p.env).some(([k, v]) => k.startsWith("STEMEDB_") && v !== undefined && fdPath.test(v))) return null;
  return {
    file: p.execPath,
    args: [...withoutCwd(head), ...own],
    env: { ...p.startEnv, [heapGrowthVar]: p.env[heapGrowthVar] ?? heapGrowthThresholdMiB, [reexecutedVar]: "1" },
  };
}

/** NUL-separated strings, as /proc gives a command line or an environment. */
function nulSeparated(text: string): string[] {
  const parts = text.split("\0");
  if (parts[parts.length - 1] === "") parts.pop();
  return parts;
}

/** The environment this process started with, or null without /proc. */
export function startingEnv(): Record<string, string> | null {
  try {
    const env: Record<string, string> = {};
    for (const entry of nulSeparated(fs.readFileSync("/proc/self/environ", "utf8"))) {
      const eq = entry.indexOf("=");
      if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1);
    }
    return env;
  } catch {
    return null;
  }
}

/** The heap option the runtime started with (what the `stemedb listening` line reports). */
export function heapGrowthInForce(): string {
  return startingEnv()?.[heapGrowthVar] ?? "runtime default";
}

/**
 * Re-executes this process as `reexecForHeap` says, when it says so. Returns only when it does
 * not, or when the runtime cannot (no `execve` on this platform, or the call failed): the
 * server then runs with the runtime's own growth.
 */
export function applyHeapGrowth(): void {
  const execve = (process as { execve?: (file: string, args: string[], env: Record<string, string>) => never }).execve;
  if (typeof execve !== "function") return;
  const startEnv = startingEnv();
  if (startEnv === null) return;
  let cmdline: string[];
  try {
    cmdline = nulSeparated(fs.readFileSync("/proc/self/cmdline", "utf8"));
  } catch {
    return;
  }
  const plan = reexecForHeap({ startEnv, env: process.env, execPath: process.execPath, cmdline, argv: process.argv });
  if (plan === null) return;
  try {
    execve.call(process, plan.file, plan.args, plan.env);
  } catch {
    // Not fatal: the same server, with the runtime's default growth.
  }
}
