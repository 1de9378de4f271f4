/** Flags as data: typed values, the environment and defaults, and one clear usage error per mistake. */
import { describe, expect, test } from "bun:test";
import { choice, dataDirFlag, flag, many, number, parseInput, serverFlag, text, time } from "../../src/cli/flags.ts";
import { StemeError } from "../../src/core/errors.ts";

const flags = {
  confidence: number({ help: "c", value: "C", min: 0, max: 1, default: 1 }),
  limit: number({ help: "l", integer: true, min: 1, max: 1000 }),
  sort: choice({ help: "s", values: ["trust", "key"], default: "trust" }),
  since: time("t"),
  lens: many({ help: "l", value: "L" }),
  json: flag("j"),
  server: serverFlag,
  "data-dir": dataDirFlag,
  key: text({ help: "k", value: "FILE", kind: "in-file", required: true, requiredHint: "make one" }),
};

const parse = (argv: string[], env: Record<string, string> = {}) => parseInput(flags, [{ name: "ID" }], argv, env);

function usageOf(fn: () => unknown): { message: string; hint: string | undefined } {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(StemeError);
    expect((err as StemeError).code).toBe("usage");
    return { message: (err as StemeError).message, hint: (err as StemeError).hint };
  }
  throw new Error("no error");
}

describe("parseInput", () => {
  test("typed values, defaults, the environment, positionals", () => {
    const { values, args } = parse([
      "--key",
      "k",
      "x",
      "--limit",
      "5",
      "--lens",
      "a",
      "--lens",
      "b",
      "--json",
      "--since",
      "2024-01-01",
    ]);
    expect(values).toEqual({
      confidence: 1,
      limit: 5,
      sort: "trust",
      since: Date.parse("2024-01-01"),
      lens: ["a", "b"],
      json: true,
      server: "http://127.0.0.1:18180",
      "data-dir": "./data",
      key: "k",
    });
    expect(args).toEqual(["x"]);
    const env = parse(["--key", "k", "x"], { STEMEDB_URL: "https://db.example:8443", STEMEDB_DATA_DIR: "/srv/d" }).values;
    expect([env.server, env["data-dir"]]).toEqual(["https://db.example:8443", "/srv/d"]);
    expect(parse(["--key", "k", "x", "--server", "http://h:1"], { STEMEDB_URL: "http://env:2" }).values.server).toBe(
      "http://h:1",
    );
    expect(parse(["--key", "k", "x"], { STEMEDB_URL: "" }).values.server).toBe("http://127.0.0.1:18180"); // empty = unset
  });

  test("a bad value names the flag, what was expected and what came", () => {
    const cases: Array<[string[], string]> = [
      [["--confidence", "abc"], '--confidence: expected a number between 0 and 1, got "abc"'],
      [["--confidence", "1.5"], '--confidence: expected a number between 0 and 1, got "1.5"'],
      [["--confidence", ""], '--confidence: expected a number between 0 and 1, got ""'],
      [["--limit", "-1"], '--limit: expected an integer from 1 to 1,000, got "-1"'],
      [["--limit", "2.5"], '--limit: expected an integer from 1 to 1,000, got "2.5"'],
      [["--sort", "name"], '--sort: expected "trust" or "key", got "name"'],
      [["--since", "soon"], '--since: expected milliseconds since the epoch or an ISO 8601 time, got "soon"'],
      [["--server", "notaurl"], '--server: expected an http:// or https:// URL, got "notaurl"'],
      [["--server", "ftp://x"], '--server: expected an http:// or https:// URL, got "ftp://x"'],
      [["--data-dir", ""], '--data-dir: expected a path, got ""'],
    ];
    for (const [argv, message] of cases) expect(usageOf(() => parse(["--key", "k", "x", ...argv])).message).toBe(message);
  });

  test("parseArgs' mistakes in this CLI's words", () => {
    expect(usageOf(() => parse(["--key", "k", "x", "--jsn"]))).toEqual({
      message: "unknown option --jsn",
      hint: "did you mean --json?",
    });
    expect(usageOf(() => parse(["--key", "k", "x", "--frobnicate"])).hint).toBe("see --help");
    expect(usageOf(() => parse(["--key", "k", "x", "--json=yes"])).message).toBe("--json is a switch; it takes no value");
    expect(usageOf(() => parse(["x", "--key"])).message).toBe(
      '--key needs a value: --key FILE (one starting with "-" as --key=-…)',
    );
    expect(usageOf(() => parse(["x"]))).toEqual({ message: "--key FILE is required", hint: "make one" });
    expect(usageOf(() => parse(["--key", "k"])).message).toBe("missing ID");
    expect(usageOf(() => parse(["--key", "k", "x", "y"])).message).toBe('unexpected argument "y"');
    expect(usageOf(() => parseInput({}, [], ["y"], {})).message).toBe('unexpected argument "y": this command takes none');
  });
});
