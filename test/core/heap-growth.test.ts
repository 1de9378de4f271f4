import { describe, expect, test } from "bun:test";
import { heapGrowthThresholdMiB, heapGrowthVar, reexecForHeap } from "../../src/core/heap-growth.ts";

const dev = {
  env: { PATH: "/usr/bin", HOME: "/root" },
  execPath: "/opt/bun",
  execArgv: ["--smol"],
  argv: ["/opt/bun", "/repo/src/main.ts", "serve", "--data-dir", "/d"],
};
const compiled = {
  env: { PATH: "/usr/bin" },
  execPath: "/usr/local/bin/stemedb",
  execArgv: [],
  argv: ["bun", "/$bunfs/root/stemedb", "serve", "--bind", "0.0.0.0:8080"],
};

describe("reexecForHeap", () => {
  test("serve from the sources: the runtime, its flags, the script and the command line again, the option added to the environment", () => {
    expect(reexecForHeap(dev)).toEqual({
      file: "/opt/bun",
      args: ["/opt/bun", "--smol", "/repo/src/main.ts", "serve", "--data-dir", "/d"],
      env: { PATH: "/usr/bin", HOME: "/root", [heapGrowthVar]: heapGrowthThresholdMiB },
    });
  });

  test("serve from the compiled binary: the binary and the command line, without its inner path", () => {
    expect(reexecForHeap(compiled)).toEqual({
      file: "/usr/local/bin/stemedb",
      args: ["/usr/local/bin/stemedb", "serve", "--bind", "0.0.0.0:8080"],
      env: { PATH: "/usr/bin", [heapGrowthVar]: heapGrowthThresholdMiB },
    });
  });

  test("never again once the option is set: by this re-execution, or by the operator (any value)", () => {
    const again = reexecForHeap(dev);
    expect(again).not.toBeNull();
    expect(reexecForHeap({ ...dev, env: again?.env ?? {} })).toBeNull();
    expect(reexecForHeap({ ...compiled, env: { [heapGrowthVar]: "16384" } })).toBeNull();
    expect(reexecForHeap({ ...compiled, env: { [heapGrowthVar]: "" } })).toBeNull();
  });

  test("only serve, and not for its help", () => {
    expect(reexecForHeap({ ...dev, argv: ["/opt/bun", "/repo/src/main.ts", "query", "--subject", "s"] })).toBeNull();
    expect(reexecForHeap({ ...dev, argv: ["/opt/bun", "/repo/src/main.ts"] })).toBeNull();
    expect(reexecForHeap({ ...compiled, argv: ["bun", "/$bunfs/root/stemedb", "serve", "--help"] })).toBeNull();
    expect(reexecForHeap({ ...compiled, argv: ["bun", "/$bunfs/root/stemedb", "serve", "-h"] })).toBeNull();
  });
});
