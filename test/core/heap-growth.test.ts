import { describe, expect, test } from "bun:test";
import {
  heapGrowthThresholdMiB,
  heapGrowthVar,
  type ProcessFacts,
  reexecForHeap,
  reexecutedVar,
} from "../../src/core/heap-growth.ts";

const dev: ProcessFacts = {
  startEnv: { PATH: "/usr/bin", HOME: "/root" },
  env: { PATH: "/usr/bin", HOME: "/root" },
  execPath: "/opt/bun",
  cmdline: ["bun", "--smol", "src/main.ts", "serve", "--data-dir", "/d"],
  argv: ["/opt/bun", "/repo/src/main.ts", "serve", "--data-dir", "/d"],
};
const compiled: ProcessFacts = {
  startEnv: { PATH: "/usr/bin" },
  env: { PATH: "/usr/bin" },
  execPath: "/opt/stemedb-1.2/stemedb",
  cmdline: ["stemedb", "serve", "--bind", "0.0.0.0:8080"],
  argv: ["bun", "/$bunfs/root/stemedb", "serve", "--bind", "0.0.0.0:8080"],
};
const added = { [heapGrowthVar]: heapGrowthThresholdMiB, [reexecutedVar]: "1" };
/** `facts` with stemedb's arguments replaced by `own` (in argv and at the end of the command line). */
const withArgs = (facts: ProcessFacts, own: string[]): ProcessFacts => {
  const head = facts.cmdline.slice(0, facts.cmdline.length - (facts.argv.length - 2));
  return { ...facts, cmdline: [...head, ...own], argv: [...facts.argv.slice(0, 2), ...own] };
};

describe("reexecForHeap", () => {
  test("serve from the sources: the command line as given, the starting environment and the option", () => {
    expect(reexecForHeap(dev)).toEqual({
      file: "/opt/bun",
      args: ["bun", "--smol", "src/main.ts", "serve", "--data-dir", "/d"],
      env: { PATH: "/usr/bin", HOME: "/root", ...added },
    });
  });

  test("serve from the compiled binary: its name as given, the real file executed, no inner path", () => {
    expect(reexecForHeap(compiled)).toEqual({
      file: "/opt/stemedb-1.2/stemedb",
      args: ["stemedb", "serve", "--bind", "0.0.0.0:8080"],
      env: { PATH: "/usr/bin", ...added },
    });
  });

  test("the runtime's --cwd is dropped: the process is in that directory already", () => {
    for (const cwd of [["--cwd", "work/main"], ["--cwd=work/main"]]) {
      const facts = { ...dev, cmdline: ["bun", ...cwd, "src/main.ts", "serve", "--data-dir", "/d"] };
      expect(reexecForHeap(facts)?.args).toEqual(["bun", "src/main.ts", "serve", "--data-dir", "/d"]);
    }
  });

  test("never again once the option is in the starting environment: the operator's value, or after one re-execution", () => {
    const again = reexecForHeap(dev);
    expect(again).not.toBeNull();
    expect(reexecForHeap({ ...dev, startEnv: again?.env ?? {} })).toBeNull();
    expect(reexecForHeap({ ...compiled, startEnv: { [heapGrowthVar]: "16384" } })).toBeNull();
    expect(reexecForHeap({ ...compiled, startEnv: { [reexecutedVar]: "1" } })).toBeNull();
  });

  test("a .env file's value of the option is applied; its other runtime variables are not passed on", () => {
    const facts = { ...compiled, env: { ...compiled.env, [heapGrowthVar]: "16384", BUN_JSC_gcMaxHeapSize: "1" } };
    expect(reexecForHeap(facts)?.env).toEqual({ PATH: "/usr/bin", [heapGrowthVar]: "16384", [reexecutedVar]: "1" });
  });

  test("serve as the CLI reads it: --debug anywhere; not for --help or -h after it; 'help' as a value is a value", () => {
    expect(reexecForHeap(withArgs(compiled, ["--debug", "serve"]))).not.toBeNull();
    expect(reexecForHeap(withArgs(compiled, ["serve", "--data-dir", "help"]))).not.toBeNull();
    expect(reexecForHeap(withArgs(compiled, ["serve", "--help"]))).toBeNull();
    expect(reexecForHeap(withArgs(compiled, ["serve", "-h"]))).toBeNull();
    expect(reexecForHeap(withArgs(compiled, ["query", "--subject", "s"]))).toBeNull();
    expect(reexecForHeap(withArgs(compiled, []))).toBeNull();
  });

  test("not when the server is given an inherited file descriptor (the runtime's execve closes them)", () => {
    expect(reexecForHeap(withArgs(compiled, ["serve", "--tls-key-path", "/dev/fd/63"]))).toBeNull();
    expect(reexecForHeap(withArgs(compiled, ["serve", "--cluster-key-file=/proc/self/fd/3"]))).toBeNull();
    expect(reexecForHeap({ ...compiled, env: { ...compiled.env, STEMEDB_CLUSTER_KEY_FILE: "/dev/fd/3" } })).toBeNull();
    expect(reexecForHeap(withArgs(compiled, ["serve", "--data-dir", "/srv/dev/fd/data"]))).not.toBeNull();
  });

  test("not under a debugger, which would lose the first image", () => {
    for (const flag of ["--inspect", "--inspect-brk=9229", "--inspect-wait"]) {
      expect(reexecForHeap({ ...dev, cmdline: ["bun", flag, "src/main.ts", "serve", "--data-dir", "/d"] })).toBeNull();
    }
  });

  test("not when the command line does not end with stemedb's arguments (nothing to rebuild it from)", () => {
    expect(reexecForHeap({ ...compiled, cmdline: ["stemedb", "serve", "--bind", "other"] })).toBeNull();
    expect(reexecForHeap({ ...compiled, cmdline: ["serve", "--bind", "0.0.0.0:8080"] })).toBeNull();
  });
});
