/**
 * How far the server's JS heaps may grow between full collections.
 *
 * The runtime (JavaScriptCore) picks the growth by the machine's RAM:
 * - below 16 GiB, a heap may grow to twice what survived the last full collection;
 * - at 16 GiB or more, to about three times that ("aggressive" growth).
 *
 * So the same server held more memory on a bigger machine, for no measured gain. Loading 1M
 * records on this 24 GiB machine peaked at 377–404 MB of RSS with the aggressive growth, and at
 * 263–275 MB with the factor of two, at the same rate (docs/BENCHMARKS.md, "The loading
 * server's peak: the heap's growth").
 *
 * The runtime reads its options once, before any JavaScript runs. So `serve` re-executes itself
 * at once (`execve`: the same process and PID, the same arguments) with the option set in its
 * environment. A value the operator set is kept; `16384` (the runtime's own threshold, in MiB)
 * asks for the aggressive growth back. This module imports nothing: main.ts runs it before it
 * loads the rest of the program.
 */

/** The runtime's option: the RAM (MiB) from which a heap grows aggressively. */
export const heapGrowthVar = "BUN_JSC_heapGrowthFunctionThresholdInMB";
/** 1 TiB: above any machine this runs on, so every heap grows by the factor of two. */
export const heapGrowthThresholdMiB = "1048576";

/** Commands that run for long enough for the heap's growth to matter. */
const longRunning = new Set(["serve"]);
const helpWords = new Set(["--help", "-h", "help"]);

export interface ProcessFacts {
  env: Record<string, string | undefined>;
  execPath: string;
  execArgv: readonly string[];
  /** As the runtime gives it: the runtime, the script (or the compiled binary's inner path), then the command line. */
  argv: readonly string[];
}

export interface Reexec {
  file: string;
  args: string[];
  env: Record<string, string | undefined>;
}

/**
 * What to execute again so the runtime starts with the heap's growth set, or null: another
 * command, a request for help, or the option already in the environment (set by the operator,
 * or by this same re-execution).
 */
export function reexecForHeap(p: ProcessFacts): Reexec | null {
  if (p.env[heapGrowthVar] !== undefined) return null;
  // A compiled binary's argv[1] is its path inside the binary's own filesystem (/$bunfs/…);
  // executed again, the binary puts it back itself, as it does any runtime flags it was built with.
  const compiled = p.argv[1]?.startsWith("/$bunfs/") ?? false;
  const line = p.argv.slice(2);
  if (!longRunning.has(line[0] ?? "") || line.some((a) => helpWords.has(a))) return null;
  const args = compiled ? [p.execPath, ...line] : [p.execPath, ...p.execArgv, ...p.argv.slice(1)];
  return { file: p.execPath, args, env: { ...p.env, [heapGrowthVar]: heapGrowthThresholdMiB } };
}

/**
 * Re-executes this process as `reexecForHeap` says, when it says so. Returns only when it does
 * not, or when the runtime cannot (no `execve` on this platform, or the call failed): the
 * server then runs with the runtime's own growth.
 */
export function applyHeapGrowth(): void {
  const plan = reexecForHeap(process);
  const execve = (process as { execve?: (file: string, args: string[], env: Record<string, string | undefined>) => never })
    .execve;
  if (plan === null || typeof execve !== "function") return;
  try {
    execve.call(process, plan.file, plan.args, plan.env);
  } catch {
    // Not fatal: the same server, with the runtime's default growth.
  }
}
