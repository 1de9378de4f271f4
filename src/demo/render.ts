/**
 * Plain-text rendering for the demo: headings, the lens table `stemedb query` prints, and short
 * forms of ids and values. Internal to src/demo.
 */
import type { QueryAnswer } from "../client/index.ts";

/** One lens's answer, as the demo reports and a test asserts it. */
export interface LensRow {
  lens: string;
  value: unknown;
  support: number;
  conflict: number;
  verdict: string | null;
  candidates: number;
  winner: string | null;
  explain: string[];
}

export function lensRow(lens: string, answer: QueryAnswer): LensRow {
  return {
    lens,
    value: answer.winner ? answer.value : null,
    support: answer.support,
    conflict: answer.conflict,
    verdict: answer.verdict ?? null,
    candidates: answer.candidates,
    winner: answer.winner?.id ?? null,
    explain: answer.explain,
  };
}

/** The table `stemedb query` prints: lens, value, support, κ, verdict, why. */
export function lensTable(rows: LensRow[]): string {
  return table(
    ["lens", "value", "support", "κ", "verdict", "why"],
    rows.map((r) => [
      r.lens,
      r.winner ? JSON.stringify(r.value) : "(none)",
      r.support.toFixed(2),
      r.conflict.toFixed(2),
      r.verdict ?? "",
      r.explain.join("; "),
    ]),
  );
}

/** Columns padded to their widest cell; the last column runs free. */
export function table(header: string[], rows: string[][]): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join("  ");
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

/** A banner; numbered when `n` is given. */
export function heading(n: number | null, title: string): string {
  const text = n === null ? title : `${n}. ${title}`;
  return `\n${"═".repeat(text.length + 4)}\n  ${text}\n${"═".repeat(text.length + 4)}`;
}

/** A shell command line, as a reader would type it. */
export function command(line: string): string {
  return `$ ${line}`;
}

export function short(id: string): string {
  return `${id.slice(0, 12)}…`;
}

export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** Wraps prose to `width` columns, each line indented by `indent`. */
export function wrap(text: string, width = 100, indent = ""): string {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/)) {
    if (line && line.length + 1 + word.length > width - indent.length) {
      lines.push(indent + line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(indent + line);
  return lines.join("\n");
}
