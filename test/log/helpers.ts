import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach } from "bun:test";
import { createLogger, type Logger } from "../../src/core/logger.ts";
import type { LogEntryInput } from "../../src/log/index.ts";

const dirs: string[] = [];

/** A fresh temp directory, removed after each test. */
export function tempDir(): string {
  const dir = fs.mkdtempSync(join(tmpdir(), "stemedb-log-"));
  dirs.push(dir);
  return dir;
}

afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** A deterministic record: body and sig derived from `n`, so a wrong read is visible. */
export function entry(n: number, bodyBytes = 40 + (n % 23)): LogEntryInput {
  const body = new Uint8Array(bodyBytes);
  for (let i = 0; i < bodyBytes; i++) body[i] = (n * 31 + i * 7) & 0xff;
  const sig = new Uint8Array(64);
  for (let i = 0; i < 64; i++) sig[i] = (n * 13 + i) & 0xff;
  return { body, sig, recordedAtMs: 1_700_000_000_000 + n };
}

export interface CapturedLine {
  level: string;
  msg: string;
  [field: string]: unknown;
}

/** A real logger whose lines are kept for assertions. */
export function captureLogger(): { logger: Logger; lines: CapturedLine[] } {
  const lines: CapturedLine[] = [];
  const logger = createLogger({ level: "debug", write: (line) => lines.push(JSON.parse(line) as CapturedLine) });
  return { logger, lines };
}

export function copyDir(from: string, to: string): void {
  fs.cpSync(from, to, { recursive: true });
}
