/**
 * `stemedb admin`'s output: tables whose state words are coloured on a terminal — green when all
 * is well, yellow for what passes (suspect, syncing, degraded), red for what needs a person
 * (dead, under-replicated) — and plain otherwise: only when stdout is a terminal and NO_COLOR
 * is unset or empty (https://no-color.org), so pipes and scripts get plain text.
 */
import type { Env } from "../flags.ts";

const codes = { green: 32, yellow: 33, red: 31, grey: 90, bold: 1 } as const;
type Colour = keyof typeof codes;

/** What each state word is painted. */
const stateColours: Record<string, Colour> = {
  alive: "green",
  healthy: "green",
  in_sync: "green",
  suspect: "yellow",
  syncing: "yellow",
  degraded: "yellow",
  leaving: "yellow",
  draining: "yellow",
  dead: "red",
  under_replicated: "red",
  unavailable: "red",
  left: "grey",
  unknown: "grey",
};

export interface Painter {
  state(word: string): string;
  paint(text: string, colour: Colour): string;
}

export function painter(colour: boolean): Painter {
  const paint = (text: string, c: Colour) => (colour ? `\x1b[${codes[c]}m${text}\x1b[0m` : text);
  return {
    paint,
    state: (word) => (stateColours[word] ? paint(word, stateColours[word] as Colour) : word),
  };
}

/** Colour on stdout: a terminal, and NO_COLOR unset or empty. */
export function colourWanted(env: Env, stdoutIsTty: boolean = process.stdout.isTTY === true): boolean {
  return stdoutIsTty && !env.NO_COLOR;
}

const ansi = /\x1b\[[0-9;]*m/g;
const visible = (text: string) => text.replace(ansi, "").length;

/** A table padded by visible width (colour codes take no room); the last column runs free. */
export function colourTable(header: string[], rows: string[][]): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => visible(r[i] ?? ""))));
  const line = (r: string[]) =>
    r.map((cell, i) => (i === r.length - 1 ? cell : cell + " ".repeat((widths[i] ?? 0) - visible(cell)))).join("  ");
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

/** `3 alive, 1 dead`: the counts of each word, in the order given, the zeros left out. */
export function countsLine(counts: Record<string, number>, order: readonly string[], p: Painter): string {
  const parts = order.filter((k) => (counts[k] ?? 0) > 0).map((k) => `${counts[k]} ${p.state(k)}`);
  return parts.length ? parts.join(", ") : "none";
}

/** Shard ids as short ranges: 0-3, 7, 9-10. */
export function idRanges(ids: readonly number[], max = 12): string {
  const sorted = [...ids].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && (sorted[j + 1] as number) === (sorted[j] as number) + 1) j++;
    parts.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.length > max ? `${parts.slice(0, max).join(", ")}, …` : parts.join(", ");
}
