/**
 * Command-line flags as data. Each flag is one row — its form, its placeholder, its help, what
 * its value names, and how the raw text becomes a typed value — and everything else follows
 * from the rows: the parser (node:util parseArgs underneath), the typed values a command
 * receives, the options list of `--help`, docs/CLI.md, and the sweep test's wrong inputs.
 *
 * A wrong value is a `usage` error naming the flag, what was expected and what came
 * (`--confidence: expected a number between 0 and 1, got "abc"`), after Deno std's
 * validate-at-the-boundary habit.
 */
import { parseArgs } from "node:util";
import { StemeError } from "../core/errors.ts";

export type Env = Readonly<Record<string, string | undefined>>;
type Raw = string | boolean | Array<string | boolean> | undefined;

/** What a path names: the sweep test feeds each kind its wrong cases (missing, a file for a directory, …). */
export type PathKind = "data-dir" | "in-file" | "out-file" | "in-dir" | "out-dir";
export type ValueKind = PathKind | "server";

export interface Flag<T> {
  /** A switch (`--json`) or a flag with a value (`--key FILE`). */
  type: "boolean" | "string";
  multiple?: boolean;
  short?: string;
  /** The value's placeholder in help (FILE, N, URL). */
  value?: string;
  help: string;
  /** What the value names. */
  kind?: ValueKind;
  /** The command cannot run without it. */
  required?: boolean;
  /** The default as help shows it (`$STEMEDB_URL or http://127.0.0.1:18180`). */
  shownDefault?: string;
  /** The typed value from the raw one (undefined when the flag is absent); a wrong one throws `usage`. */
  parse(raw: Raw, name: string, env: Env): T;
}

export type Flags = Record<string, Flag<unknown>>;
export type Values<F extends Flags> = { [K in keyof F]: F[K] extends Flag<infer T> ? T : never };

/** A positional argument: its placeholder, and what it names when it is a path. */
export interface Positional {
  name: string;
  kind?: PathKind;
  /** Checked by the command, not the parser (e.g. assert's triple, given unless --record). */
  optional?: boolean;
}

export function usage(message: string, hint?: string): StemeError {
  return new StemeError("usage", message, hint ? { hint } : {});
}

function shown(env: string | undefined, value: string | undefined): string | undefined {
  if (env && value !== undefined) return `$${env} or ${value}`;
  if (env) return `$${env}`;
  return value;
}

interface TextSpec {
  help: string;
  value?: string;
  kind?: ValueKind;
  short?: string;
  /** Read when the flag is absent (an empty variable counts as unset). */
  env?: string;
  default?: string;
  required?: boolean;
  /** What the flag needs when it is missing, e.g. "make one with `stemedb keygen --out FILE`". */
  requiredHint?: string;
  /** Returns what was expected when the value is wrong, else null. */
  check?: (value: string) => string | null;
}

/** A flag with a text value (a path, a URL, a name). */
export function text(spec: TextSpec & ({ default: string } | { required: true })): Flag<string>;
export function text(spec: TextSpec): Flag<string | undefined>;
export function text(spec: TextSpec): Flag<string | undefined> {
  const placeholder = spec.value ?? (spec.kind === "server" ? "URL" : spec.kind?.endsWith("dir") ? "DIR" : "VALUE");
  const check = spec.check ?? (spec.kind === "server" ? checkUrl : spec.kind ? checkPath : undefined);
  return {
    type: "string",
    help: spec.help,
    value: placeholder,
    ...(spec.kind ? { kind: spec.kind } : {}),
    ...(spec.short ? { short: spec.short } : {}),
    ...(spec.required ? { required: true } : {}),
    ...(shown(spec.env, spec.default) ? { shownDefault: shown(spec.env, spec.default) } : {}),
    parse(raw, name, env) {
      const fromEnv = spec.env ? env[spec.env] || undefined : undefined;
      const v = typeof raw === "string" ? raw : (fromEnv ?? spec.default);
      if (v === undefined) {
        if (spec.required) throw usage(`--${name} ${placeholder} is required`, spec.requiredHint);
        return undefined;
      }
      const expected = check?.(v);
      if (expected) throw usage(`--${name}: expected ${expected}, got ${JSON.stringify(v)}`);
      return v;
    },
  };
}

function checkUrl(v: string): string | null {
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    return "an http:// or https:// URL";
  }
  return url.protocol === "http:" || url.protocol === "https:" ? null : "an http:// or https:// URL";
}

function checkPath(v: string): string | null {
  return v === "" || v.includes("\0") ? "a path" : null;
}

/** A switch: `--json`. */
export function flag(help: string, short?: string): Flag<boolean> {
  return { type: "boolean", help, ...(short ? { short } : {}), parse: (raw) => raw === true };
}

/** A repeatable flag: `--lens L --lens M`. */
export function many(spec: { help: string; value: string }): Flag<string[]> {
  return {
    type: "string",
    multiple: true,
    help: spec.help,
    value: spec.value,
    parse: (raw) => (Array.isArray(raw) ? raw.map(String) : []),
  };
}

interface NumberSpec {
  help: string;
  value?: string;
  min?: number;
  max?: number;
  integer?: boolean;
}

/** A number, optionally an integer, optionally bounded. */
export function number(spec: NumberSpec & { default: number }): Flag<number>;
export function number(spec: NumberSpec): Flag<number | undefined>;
export function number(spec: NumberSpec & { default?: number }): Flag<number | undefined> {
  return {
    type: "string",
    help: spec.help,
    value: spec.value ?? (spec.integer ? "N" : "X"),
    ...(spec.default !== undefined ? { shownDefault: String(spec.default) } : {}),
    parse(raw, name) {
      if (typeof raw !== "string") return spec.default;
      const n = raw.trim() === "" ? Number.NaN : Number(raw);
      const ok =
        Number.isFinite(n) &&
        (!spec.integer || Number.isSafeInteger(n)) &&
        (spec.min === undefined || n >= spec.min) &&
        (spec.max === undefined || n <= spec.max);
      if (!ok) throw usage(`--${name}: expected ${describeRange(spec)}, got ${JSON.stringify(raw)}`);
      return n;
    },
  };
}

function describeRange(spec: NumberSpec): string {
  const f = (n: number) => n.toLocaleString("en-US");
  const what = spec.integer ? "an integer" : "a number";
  if (spec.min !== undefined && spec.max !== undefined)
    return spec.integer ? `${what} from ${f(spec.min)} to ${f(spec.max)}` : `${what} between ${f(spec.min)} and ${f(spec.max)}`;
  if (spec.min !== undefined) return `${what} ≥ ${f(spec.min)}`;
  if (spec.max !== undefined) return `${what} ≤ ${f(spec.max)}`;
  return what;
}

/** One of a fixed set of words. */
export function choice<const V extends string>(spec: { help: string; values: readonly V[]; default: V }): Flag<V>;
export function choice<const V extends string>(spec: { help: string; values: readonly V[] }): Flag<V | undefined>;
export function choice<const V extends string>(spec: { help: string; values: readonly V[]; default?: V }): Flag<V | undefined> {
  return {
    type: "string",
    help: spec.help,
    value: spec.values.join("|"),
    ...(spec.default !== undefined ? { shownDefault: spec.default } : {}),
    parse(raw, name) {
      if (typeof raw !== "string") return spec.default;
      if (!spec.values.includes(raw as V))
        throw usage(`--${name}: expected ${oneOf(spec.values.map((v) => JSON.stringify(v)))}, got ${JSON.stringify(raw)}`);
      return raw as V;
    },
  };
}

/** "a", "a or b", "a, b or c". */
export function oneOf(words: readonly string[]): string {
  return words.length <= 1 ? (words[0] ?? "") : `${words.slice(0, -1).join(", ")} or ${words.at(-1)}`;
}

/** A point in time: milliseconds since the epoch, or ISO 8601; parsed to milliseconds. */
export function time(help: string): Flag<number | undefined> {
  return {
    type: "string",
    help,
    value: "T",
    parse(raw, name) {
      if (typeof raw !== "string") return undefined;
      const ms = /^\d+$/.test(raw) ? Number(raw) : Date.parse(raw);
      if (!Number.isSafeInteger(ms) || ms < 0)
        throw usage(`--${name}: expected milliseconds since the epoch or an ISO 8601 time, got ${JSON.stringify(raw)}`);
      return ms;
    },
  };
}

/** --server, read from $STEMEDB_URL when absent. */
export const serverFlag = text({
  help: "the server",
  kind: "server",
  env: "STEMEDB_URL",
  default: "http://127.0.0.1:18180",
});

/** --data-dir, read from $STEMEDB_DATA_DIR when absent. */
export const dataDirFlag = text({
  help: "the data directory",
  kind: "data-dir",
  env: "STEMEDB_DATA_DIR",
  default: "./data",
});

export const jsonFlag = flag("print JSON instead of text");

export interface Input<F extends Flags> {
  values: Values<F>;
  args: string[];
}

/** Parses `argv` against the flags and positionals; every mistake is a `usage` error. */
export function parseInput<F extends Flags>(flags: F, positionals: readonly Positional[], argv: string[], env: Env): Input<F> {
  const options = Object.fromEntries(
    Object.entries(flags).map(([name, f]) => [
      name,
      { type: f.type, ...(f.multiple ? { multiple: true } : {}), ...(f.short ? { short: f.short } : {}) },
    ]),
  );
  let parsed: { values: Record<string, Raw>; positionals: string[] };
  try {
    parsed = parseArgs({ args: joinDashValues(argv, flags), options, allowPositionals: positionals.length > 0, strict: true });
  } catch (err) {
    throw parseArgsError(err, flags);
  }
  const values: Record<string, unknown> = {};
  for (const [name, f] of Object.entries(flags)) values[name] = f.parse(parsed.values[name], name, env);
  const args = parsed.positionals;
  const required = positionals.filter((p) => !p.optional);
  if (args.length < required.length)
    throw usage(
      `missing ${required
        .slice(args.length)
        .map((p) => p.name)
        .join(" ")}`,
    );
  if (args.length > positionals.length) throw usage(`unexpected argument ${JSON.stringify(args[positionals.length])}`);
  return { values: values as Values<F>, args };
}

/**
 * `--limit -1` reads as a flag with no value to parseArgs; a value that looks like a negative
 * number is joined to its flag (`--limit=-1`) so the flag's own check can say what is wrong.
 */
function joinDashValues(argv: string[], flags: Flags): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const next = argv[i + 1];
    const name = a.startsWith("--") ? a.slice(2) : undefined;
    if (name !== undefined && flags[name]?.type === "string" && next !== undefined && /^-[\d.]/.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

/** parseArgs' errors, said in this CLI's words. */
function parseArgsError(err: unknown, flags: Flags): unknown {
  const code = (err as { code?: string }).code ?? "";
  if (!code.startsWith("ERR_PARSE_ARGS")) return err;
  const message = (err as Error).message;
  const quoted = /'(-{1,2}[^' ]+)/.exec(message)?.[1] ?? "";
  const name = quoted.replace(/^-+/, "");
  const f = flags[name];
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
    const near = nearest(name, Object.keys(flags));
    return usage(`unknown option ${quoted}`, near ? `did you mean --${near}?` : undefined);
  }
  if (code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL") {
    const arg = /'([^']*)'/.exec(message)?.[1] ?? "";
    return usage(`unexpected argument ${JSON.stringify(arg)}: this command takes none`);
  }
  if (f?.type === "boolean") return usage(`--${name} is a switch; it takes no value`);
  if (f) return usage(`--${name} needs a value: --${name} ${f.value ?? "VALUE"} (one starting with "-" as --${name}=-…)`);
  return usage(message.split("\n")[0] as string);
}

/** The candidate within two edits of `word` (a typo's likely meaning), if any. */
export function nearest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const c of candidates) {
    const d = editDistance(word, c);
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j] as number;
      row[j] = Math.min(above + 1, (row[j - 1] as number) + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length] as number;
}
