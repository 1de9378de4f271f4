/**
 * The client runs on Node 20+, Bun and in browsers (docs/CLIENT.md), so nothing it reaches may
 * use Node's or Bun's own APIs. This walks the whole import graph of src/client/index.ts with
 * TypeScript's parser and fails on an import of anything but a relative file or @noble, and on
 * any use of `Buffer`, `process`, `Bun`, `require`, `__dirname` or `import.meta.dir`, or of the
 * ES2025 float16 methods Node 20/22 lack.
 */
import { describe, expect, test } from "bun:test";
import fs from "node:fs";
import path from "node:path";
import ts from "typescript";

const repoRoot = path.resolve(import.meta.dir, "../..");
const entry = path.join(repoRoot, "src/client/index.ts");

const allowedPackages = [/^@noble\/ed25519$/, /^@noble\/hashes\/[a-z0-9_]+\.js$/];
const bannedGlobals = new Set(["Buffer", "process", "Bun", "require", "__dirname", "__filename", "Deno"]);
const bannedProperties = new Set(["f16round", "getFloat16", "setFloat16"]);

interface Finding {
  file: string;
  line: number;
  what: string;
}

/** What one file imports and what it uses that it must not. */
function inspect(file: string, text: string): { imports: string[]; findings: Finding[] } {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const imports: string[] = [];
  const findings: Finding[] = [];
  const at = (node: ts.Node) => source.getLineAndCharacterOfPosition(node.getStart()).line + 1;
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier) {
      imports.push((node.moduleSpecifier as ts.StringLiteral).text);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const arg = node.arguments[0];
      imports.push(arg && ts.isStringLiteral(arg) ? arg.text : "<computed import()>");
    } else if (ts.isImportTypeNode(node)) {
      const arg = node.argument;
      if (ts.isLiteralTypeNode(arg) && ts.isStringLiteral(arg.literal)) imports.push(arg.literal.text);
    } else if (ts.isIdentifier(node) && bannedGlobals.has(node.text)) {
      // A name in its own right, not a property (`x.process`) or a key (`{ process: 1 }`).
      const parent = node.parent;
      const isProperty =
        (ts.isPropertyAccessExpression(parent) && parent.name === node) ||
        (ts.isPropertyAssignment(parent) && parent.name === node) ||
        (ts.isPropertySignature(parent) && parent.name === node);
      if (!isProperty) findings.push({ file, line: at(node), what: `uses ${node.text}` });
    } else if (ts.isPropertyAccessExpression(node)) {
      if (bannedProperties.has(node.name.text)) findings.push({ file, line: at(node), what: `uses .${node.name.text}` });
      if (ts.isMetaProperty(node.expression) && ["dir", "dirname", "filename", "path", "require"].includes(node.name.text))
        findings.push({ file, line: at(node), what: `uses import.meta.${node.name.text}` });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  for (const specifier of imports) {
    if (specifier.startsWith(".")) continue;
    if (!allowedPackages.some((p) => p.test(specifier))) findings.push({ file, line: 0, what: `imports ${specifier}` });
  }
  return { imports, findings };
}

/** Every file the entry reaches through relative imports, and every finding in them. */
function walk(start: string): { files: string[]; findings: Finding[] } {
  const seen = new Set<string>();
  const findings: Finding[] = [];
  const queue = [start];
  while (queue.length > 0) {
    const file = queue.pop() as string;
    if (seen.has(file)) continue;
    seen.add(file);
    const result = inspect(path.relative(repoRoot, file), fs.readFileSync(file, "utf8"));
    findings.push(...result.findings);
    for (const specifier of result.imports) {
      if (specifier.startsWith(".")) queue.push(path.resolve(path.dirname(file), specifier));
    }
  }
  return { files: [...seen].map((f) => path.relative(repoRoot, f)).sort(), findings };
}

describe("the client's import graph", () => {
  test("reaches no Node or Bun API and imports nothing but @noble", () => {
    const { files, findings } = walk(entry);
    // The walk does reach the shared code the brief names: hex, records, CBOR, BLAKE3, signing, verification.
    for (const f of [
      "src/core/hex.ts",
      "src/core/record.ts",
      "src/core/cbor.ts",
      "src/core/float16.ts",
      "src/crypto/blake3.ts",
      "src/crypto/sign.ts",
      "src/crypto/signed.ts",
      "src/crypto/verify-noble.ts",
      "src/client/transport.ts",
    ])
      expect(files).toContain(f);
    expect(findings.map((x) => `${x.file}:${x.line} ${x.what}`)).toEqual([]);
  });

  test("the check finds what it looks for (so a clean result means something)", () => {
    const text = [
      'import fs from "node:fs";',
      'import { serve } from "bun";',
      'import type { Server } from "bun";',
      'import { encode } from "cbor-x";',
      'import { sha512 } from "@noble/hashes/sha2.js";',
      'export { x } from "./x.ts";',
      'const h = Buffer.from("00", "hex").toString("hex");',
      "const env = process.env;",
      "const f = Math.f16round(0.5);",
      "const d = import.meta.dir;",
      "const ok = { process: 1 }.process;",
      'const later = await import("node:path");',
    ].join("\n");
    const { findings } = inspect("sample.ts", text);
    expect(findings.map((f) => f.what).sort()).toEqual(
      [
        "imports node:fs",
        "imports bun",
        "imports bun",
        "imports cbor-x",
        "imports node:path",
        "uses Buffer",
        "uses process",
        "uses .f16round",
        "uses import.meta.dir",
      ].sort(),
    );
  });
});
