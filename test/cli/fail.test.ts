/**
 * One way to fail: whatever a command throws is one line on stderr (and a hint), with the exit
 * code of its error code; a bug writes a report with the stack and says where, never the stack.
 */
import { afterAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fail, type FailContext } from "../../src/cli/fail.ts";
import { runCli } from "../../src/cli/index.ts";
import type { Io } from "../../src/cli/io.ts";
import { StemeClientError } from "../../src/client/index.ts";
import { StemeError } from "../../src/core/errors.ts";

const state = fs.mkdtempSync(path.join(os.tmpdir(), "stemedb-fail-"));
afterAll(() => fs.rmSync(state, { recursive: true, force: true }));

function fakeIo(): Io & { stdout: string[]; stderr: string } {
  const io = {
    stdout: [] as string[],
    stderr: "",
    out: (line: string) => io.stdout.push(line),
    err: (text: string) => {
      io.stderr += text;
    },
    env: { XDG_STATE_HOME: state },
    stdin: async () => "",
    interactive: false,
  };
  return io;
}

function failWith(err: unknown, extra: Partial<FailContext> = {}) {
  const io = fakeIo();
  const code = fail(err, { prefix: "stemedb test", debug: false, io, argv: ["test"], version: "9.9.9", ...extra });
  return { code, stderr: io.stderr };
}

const noStack = (text: string) => expect(text).not.toMatch(/^\s+at |\.ts:\d+/m);

describe("fail", () => {
  test("a StemeError: one line, its hint, the exit code of its code", () => {
    const r = failWith(new StemeError("not_initialized", "d is not a StemeDB data directory", { hint: "stemedb init" }));
    expect(r).toEqual({ code: 3, stderr: "stemedb test: d is not a StemeDB data directory\n  hint: stemedb init\n" });
    expect(failWith(new StemeError("bad_bundle", "item 3: bad")).code).toBe(1);
    expect(failWith(new StemeError("bad_path", "--out x: a directory")).code).toBe(2);
    expect(failWith(new StemeError("unreachable", "cannot reach")).code).toBe(4);
  });

  test("a usage mistake shows the synopsis instead of the generic hint", () => {
    const r = failWith(new StemeError("usage", "missing ID"), { usage: ["stemedb get ID", "stemedb get --other"] });
    expect(r).toEqual({ code: 2, stderr: "stemedb test: missing ID\n  usage: stemedb get ID\n         stemedb get --other\n" });
  });

  test("an error the server answered maps through its problem's code; a newline in its detail does not break the line", () => {
    const problem = { type: "", title: "", status: 404, code: "not_found", detail: "no record\nabc", hint: "check the id" };
    const r = failWith(new StemeClientError(404, problem, "r-1"));
    expect(r).toEqual({
      code: 3,
      stderr: "stemedb test: the server answered 404 not_found: no record abc (request r-1)\n  hint: check the id\n",
    });
    expect(failWith(new StemeClientError(400, { ...problem, status: 400, code: "bad_signature" }, null)).code).toBe(2);
    expect(failWith(new StemeClientError(502, { ...problem, status: 502, code: "bad_response" }, null)).code).toBe(3);
  });

  test("the client's own timeout (status 0) is said as no answer, not as something the server answered", () => {
    const problem = { type: "", title: "", status: 0, code: "timeout", detail: "no answer from http://x/v1/health within 5 ms" };
    expect(failWith(new StemeClientError(0, problem, null))).toEqual({
      code: 3,
      stderr: "stemedb test: no answer from http://x/v1/health within 5 ms\n",
    });
  });

  test("a request that reached nobody is unreachable (4); a stray system error is one line (3)", () => {
    const refused = Object.assign(new TypeError("Unable to connect"), { code: "ECONNREFUSED" });
    expect(failWith(refused)).toEqual({
      code: 4,
      stderr:
        "stemedb test: cannot reach the server: connection refused\n  hint: is the server running? (--server URL, or STEMEDB_URL)\n",
    });
    const enoent = Object.assign(new Error("ENOENT: no such file or directory, open '/x/y'"), {
      code: "ENOENT",
      syscall: "open",
      path: "/x/y",
    });
    expect(failWith(enoent)).toEqual({ code: 3, stderr: "stemedb test: cannot use /x/y: no such file or directory (ENOENT)\n" });
    const full = Object.assign(new Error("ENOSPC"), { code: "ENOSPC", syscall: "write", path: "/d/log" });
    expect(failWith(full).code).toBe(3);
    expect(failWith(full).stderr).toStartWith("stemedb test: cannot use /d/log: no space left on the device (ENOSPC)");
  });

  test("a bug: one line naming a report that holds the stack; exit 70", () => {
    const bug = new TypeError("Cannot read properties of undefined (reading 'x')");
    const r = failWith(bug, { argv: ["demo", "--api-key", "sekrit"] });
    expect(r.code).toBe(70);
    const lines = r.stderr.split("\n");
    expect(lines[0]).toMatch(
      /^stemedb test: internal error \(Cannot read properties of undefined \(reading 'x'\)\); a report was written to (.+)$/,
    );
    expect(lines[1]).toStartWith("  hint: this is a bug in stemedb");
    noStack(r.stderr);
    const file = /written to (.+)$/.exec(lines[0] as string)?.[1] as string;
    expect(path.dirname(file)).toBe(path.join(state, "stemedb"));
    expect(path.basename(file)).toMatch(new RegExp(`^stemedb-report-\\d{8}T\\d{6}Z-${process.pid}\\.txt$`));
    const report = fs.readFileSync(file, "utf8");
    expect(report).toContain("stemedb 9.9.9 internal error");
    expect(report).toContain("command: stemedb demo --api-key [redacted]");
    expect(report).toContain(bug.stack as string);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
  });

  test("--debug prints the stack instead; StemeError('internal') is a bug too", () => {
    const r = failWith(new Error("boom"), { debug: true });
    expect(r.code).toBe(70);
    expect(r.stderr).toStartWith("stemedb test: internal error (boom)\nError: boom\n    at ");
    expect(failWith(new StemeError("internal", "invariant")).code).toBe(70);
  });
});

describe("runCli in process", () => {
  test("unknown command, help, version", async () => {
    const io = fakeIo();
    expect(await runCli(["verfy"], io)).toBe(2);
    expect(io.stderr).toBe(
      'stemedb: unknown command "verfy"\n  hint: did you mean `stemedb verify`? (`stemedb --help` lists the commands)\n',
    );
    const help = fakeIo();
    expect(await runCli(["keys", "create", "--help"], help)).toBe(0);
    expect(help.stdout.join("\n")).toContain("Usage: stemedb keys create --role reader|writer|admin --name NAME");
    const version = fakeIo();
    expect(await runCli(["--version"], version)).toBe(0);
    expect(version.stdout).toEqual([expect.stringMatching(/^stemedb \d+\.\d+\.\d+$/)]);
  });

  test("a command's mistake goes through fail: the prefix names the subcommand", async () => {
    const io = fakeIo();
    expect(await runCli(["keys", "revoke"], io)).toBe(2);
    expect(io.stderr).toBe("stemedb keys revoke: missing ID\n  usage: stemedb keys revoke ID [--data-dir DIR]\n");
    const debug = fakeIo();
    expect(await runCli(["keys", "--debug", "revoke"], debug)).toBe(2); // --debug is global, anywhere on the line
    expect(debug.stderr).toStartWith(
      "stemedb keys revoke: missing ID\n  usage: stemedb keys revoke ID [--data-dir DIR]\nStemeError: missing ID\n    at ",
    );
    const bare = fakeIo();
    expect(await runCli(["keys"], bare)).toBe(2);
    expect(bare.stderr.split("\n")[0]).toBe("stemedb keys: give a subcommand: create, list or revoke");
  });
});
