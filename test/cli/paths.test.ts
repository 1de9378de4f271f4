/** Paths named on the command line, checked against a real temp directory; system errors said plainly. */
import { afterAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { inFiles, inputDir, inputFile, kindOf, outputDir, outputFile, readInputText } from "../../src/cli/paths.ts";
import { StemeError } from "../../src/core/errors.ts";

const base = fs.mkdtempSync(path.join(os.tmpdir(), "stemedb-paths-"));
afterAll(() => fs.rmSync(base, { recursive: true, force: true }));
const file = path.join(base, "a-file");
fs.writeFileSync(file, "text");
const full = path.join(base, "full-dir");
fs.mkdirSync(full);
fs.writeFileSync(path.join(full, "x"), "");

function errorOf(fn: () => unknown): [string, string] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(StemeError);
    return [(err as StemeError).code, (err as StemeError).message];
  }
  return ["none", ""];
}

describe("paths", () => {
  test("kinds", () => {
    expect([kindOf(base), kindOf(file), kindOf(path.join(base, "nope")), kindOf(path.join(file, "under"))]).toEqual([
      "dir",
      "file",
      "missing",
      "missing",
    ]);
  });

  test("files and directories to read", () => {
    expect(readInputText(file, "--record")).toBe("text");
    expect(errorOf(() => inputFile(path.join(base, "nope"), "--key"))).toEqual(["bad_path", `--key ${base}/nope: no such file`]);
    expect(errorOf(() => inputFile(base, "--key"))).toEqual(["bad_path", `--key ${base}: a directory, not a file`]);
    expect(errorOf(() => inputDir(file, "--backup"))).toEqual(["bad_path", `--backup ${file}: a file, not a directory`]);
    expect(errorOf(() => inputDir(path.join(base, "nope"), "--backup"))).toEqual([
      "bad_path",
      `--backup ${base}/nope: no such directory`,
    ]);
  });

  test("files and directories to write", () => {
    expect(errorOf(() => outputFile(path.join(base, "new"), "--out"))).toEqual(["none", ""]);
    expect(errorOf(() => outputFile(path.join(base, "missing", "k"), "--out"))).toEqual([
      "bad_path",
      `cannot write ${base}/missing/k: the directory ${base}/missing does not exist`,
    ]);
    expect(errorOf(() => outputFile(base, "--out"))).toEqual(["bad_path", `--out ${base}: a directory; give a file path`]);
    expect(errorOf(() => outputDir(path.join(base, "new", "deeper"), "--out"))).toEqual(["none", ""]);
    expect(errorOf(() => outputDir(file, "--out"))).toEqual(["bad_path", `--out ${file}: a file, not a directory`]);
    expect(errorOf(() => outputDir(path.join(file, "sub", "dir"), "--out"))).toEqual([
      "bad_path",
      `cannot make ${file}/sub/dir: ${file} is a file, not a directory`,
    ]);
    expect(errorOf(() => outputDir(full, "--out", { empty: "a backup goes into a new directory" }))).toEqual([
      "exists",
      `--out ${full} exists and is not empty; a backup goes into a new directory`,
    ]);
  });

  test("a system error inside a many-file step is io_error, naming the step and the path", async () => {
    const missing = path.join(base, "gone");
    const err = await inFiles("backing up: cannot use", async () => fs.readFileSync(missing)).catch((e) => e);
    expect(err).toBeInstanceOf(StemeError);
    expect([err.code, err.message]).toEqual([
      "io_error",
      `backing up: cannot use ${missing}: no such file or directory (ENOENT)`,
    ]);
    const other = new RangeError("not a system error");
    expect(await inFiles("x", async () => Promise.reject(other)).catch((e) => e)).toBe(other);
  });
});
