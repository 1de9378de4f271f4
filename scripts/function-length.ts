#!/usr/bin/env bun
/**
 * `make check`'s function-length check (STYLE.md: short functions, ≈ 70 lines). Lists every
 * function over `linesWarn` and fails when one is over `linesMax`.
 *
 * A function's length is its own lines: from its first line to its last, less the lines of the
 * functions nested in it (each measured on its own), so a route module of small handlers is
 * measured handler by handler. Data tables are aside: a function whose whole body is one
 * `return` of an array or object literal (a route table, a row list) is not measured, though
 * the functions inside it are.
 *
 * Usage: bun scripts/function-length.ts [DIR …]   (default: src)
 */
import fs from "node:fs";
import path from "node:path";
import ts from "typescript";

const linesWarn = 70;
const linesMax = 100;

interface Finding {
  file: string;
  line: number;
  name: string;
  lines: number;
}

function isFunctionLike(node: ts.Node): node is ts.FunctionLikeDeclaration {
  return (
    ts.isFunctionDeclaration(node) ||
    ts.isMethodDeclaration(node) ||
    ts.isArrowFunction(node) ||
    ts.isFunctionExpression(node) ||
    ts.isConstructorDeclaration(node) ||
    ts.isGetAccessorDeclaration(node) ||
    ts.isSetAccessorDeclaration(node)
  );
}

/** Share of a function's lines its returned literal must hold for it to count as a table. */
const tableShareMin = 0.8;

/** Ends in `return [ … ]` or `return { … }` (through `as`, `satisfies`, parentheses) that is most of it. */
function isTable(fn: ts.FunctionLikeDeclaration, source: ts.SourceFile): boolean {
  const body = fn.body;
  if (!body) return false;
  let expr: ts.Expression | undefined;
  if (ts.isBlock(body)) {
    const last = body.statements.at(-1);
    if (!last || !ts.isReturnStatement(last)) return false;
    expr = last.expression;
  } else expr = body;
  while (expr && (ts.isAsExpression(expr) || ts.isSatisfiesExpression(expr) || ts.isParenthesizedExpression(expr)))
    expr = expr.expression;
  if (!expr || !(ts.isArrayLiteralExpression(expr) || ts.isObjectLiteralExpression(expr))) return false;
  const lines = (node: ts.Node) => lineOf(source, node.getEnd()) - lineOf(source, node.getStart(source)) + 1;
  return lines(expr) >= tableShareMin * lines(fn);
}

function nameOf(fn: ts.FunctionLikeDeclaration, source: ts.SourceFile): string {
  if (fn.name) return fn.name.getText(source);
  const parent = fn.parent;
  if (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent))
    return parent.name.getText(source);
  if (ts.isConstructorDeclaration(fn)) return "constructor";
  return "(anonymous)";
}

function lineOf(source: ts.SourceFile, pos: number): number {
  return source.getLineAndCharacterOfPosition(pos).line;
}

function measure(file: string): Finding[] {
  const text = fs.readFileSync(file, "utf8");
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const findings: Finding[] = [];
  /** Returns the lines the node's outermost nested functions span, so the parent can subtract them. */
  const visit = (node: ts.Node): number => {
    if (isFunctionLike(node)) {
      const span = lineOf(source, node.getEnd()) - lineOf(source, node.getStart(source)) + 1;
      let nested = 0;
      node.forEachChild((child) => {
        nested += visit(child);
      });
      const own = span - nested;
      if (!isTable(node, source) && own > linesWarn)
        findings.push({ file, line: lineOf(source, node.getStart(source)) + 1, name: nameOf(node, source), lines: own });
      return span;
    }
    let nested = 0;
    node.forEachChild((child) => {
      nested += visit(child);
    });
    return nested;
  };
  visit(source);
  return findings;
}

function* tsFiles(dir: string): Generator<string> {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* tsFiles(full);
    else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts")) yield full;
  }
}

const dirs = process.argv.slice(2);
const findings = (dirs.length ? dirs : ["src"]).flatMap((d) => [...tsFiles(d)].flatMap(measure));
findings.sort((a, b) => b.lines - a.lines);
for (const f of findings)
  process.stdout.write(`${f.lines > linesMax ? "too long" : "long    "}  ${f.lines} lines  ${f.file}:${f.line}  ${f.name}\n`);
const over = findings.filter((f) => f.lines > linesMax).length;
process.stdout.write(
  `function length: ${findings.length} over ${linesWarn} lines, ${over} over ${linesMax} (the limit)${over ? "" : ": ok"}\n`,
);
process.exitCode = over > 0 ? 1 : 0;
