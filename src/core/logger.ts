/**
 * Structured JSON-lines logger. One line per event: `{"t":…,"level":…,"msg":…, …fields}`.
 *
 * Secrets never go through here: callers pass identifiers (key ids, agent public keys),
 * never key material or bearer tokens. `redact` strips the field names that could carry one,
 * as a second line of defence.
 */

export type LogLevel = "debug" | "info" | "warn" | "error";

const levelRank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const redactedFields = new Set(["secret", "secret_key", "secretKey", "signing_key", "authorization", "password", "token"]);

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

export interface LoggerOptions {
  level?: LogLevel;
  /** Where lines go; defaults to stderr so stdout stays free for command output. */
  write?: (line: string) => void;
  fields?: Record<string, unknown>;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const minRank = levelRank[options.level ?? "info"];
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  const base = options.fields ?? {};
  const emit = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (levelRank[level] < minRank) return;
    const entry: Record<string, unknown> = { t: new Date().toISOString(), level, msg, ...base };
    if (fields) for (const [k, v] of Object.entries(fields)) entry[k] = redactedFields.has(k) ? "[redacted]" : v;
    write(`${JSON.stringify(entry, jsonReplacer)}\n`);
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    child: (fields) => createLogger({ ...options, fields: { ...base, ...fields } }),
  };
}

function jsonReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message };
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString("hex");
  return value;
}

/** A logger that drops everything: for tests and library use. */
export const silentLogger: Logger = createLogger({ level: "error", write: () => {} });
