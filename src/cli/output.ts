/** Text output shared by the commands: tables, counts, a progress bar on a terminal. */
import type { Io } from "./io.ts";

/** A plain text table: columns padded to their widest cell; the last column runs free. */
export function table(header: string[], rows: string[][]): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join("  ");
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

/** 1,234,567 */
export function count(x: number): string {
  return x.toLocaleString("en-US");
}

/** `kind n, kind n` for the non-zero counts, or "none". */
export function kindsLine(kinds: Record<string, number>): string {
  const parts = Object.entries(kinds)
    .filter(([, n]) => n > 0)
    .map(([kind, n]) => `${kind} ${count(n)}`);
  return parts.length ? parts.join(", ") : "none";
}

/** A progress bar on stderr when it is a terminal; undefined (draw nothing) otherwise. */
export function progressBar(io: Io, label: string): ((done: number, total: number) => void) | undefined {
  if (!io.interactive) return undefined;
  const width = 30;
  return (done, total) => {
    const share = total === 0 ? 1 : done / total;
    const filled = Math.round(share * width);
    io.err(`\r${label} [${"#".repeat(filled)}${" ".repeat(width - filled)}] ${done}/${total} (${Math.round(share * 100)}%)`);
  };
}

/** JSON for stdout: two-space indented. */
export function json(value: unknown): string {
  return JSON.stringify(value, null, 2);
}
