/**
 * Shared helpers for the integration tests: temp data directories, free ports, real server
 * processes (spawned `bun src/main.ts serve`), CLI runs, and log-segment inspection.
 * Everything started or created here is tracked and torn down by `cleanupAll()` (registered
 * with afterAll by every test file that imports this module).
 */
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll } from "bun:test";
import type { Subprocess } from "bun";
export { prng } from "../support/prng.ts";

export const repoRoot = resolve(import.meta.dir, "../..");
export const bunPath = process.execPath;
export const mainTs = join(repoRoot, "src/main.ts");

const dirs: string[] = [];
const procs = new Set<Subprocess>();

/** A fresh temp directory under os.tmpdir(), removed by cleanupAll(). */
export function tempDir(prefix = "stemedb-it-"): string {
  const dir = fs.mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

/** Kill every tracked process (SIGKILL) and remove every temp dir. */
export async function cleanupAll(): Promise<void> {
  for (const p of [...procs]) {
    try {
      p.kill("SIGKILL");
    } catch {
      // already gone
    }
    await p.exited;
    procs.delete(p);
  }
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
}

afterAll(async () => {
  await cleanupAll();
});

/** A port nobody listens on right now (the OS picks it). */
export function freePort(): number {
  const s = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") });
  const port = s.port;
  s.stop(true);
  if (port === undefined) throw new Error("no port");
  return port;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Reads a stream line by line into `lines` until it ends. */
function pump(stream: ReadableStream<Uint8Array>, lines: string[], onLine?: (line: string) => void): Promise<void> {
  return (async () => {
    const decoder = new TextDecoder();
    let buf = "";
    for await (const chunk of stream) {
      buf += decoder.decode(chunk, { stream: true });
      let nl = buf.indexOf("\n");
      while (nl >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        lines.push(line);
        onLine?.(line);
        nl = buf.indexOf("\n");
      }
    }
    buf += decoder.decode();
    if (buf.length > 0) {
      lines.push(buf);
      onLine?.(buf);
    }
  })();
}

/** Stderr lines that parse as JSON objects (the server's structured log). */
export function jsonLines(lines: string[]): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const line of lines) {
    try {
      const v = JSON.parse(line) as unknown;
      if (v !== null && typeof v === "object" && !Array.isArray(v)) out.push(v as Record<string, unknown>);
    } catch {
      // not a log line
    }
  }
  return out;
}

export interface ServerProcess {
  proc: Subprocess<"ignore", "pipe", "pipe">;
  url: string;
  port: number;
  /** Raw stderr lines so far. */
  stderr: string[];
  stdout: string[];
  /** Stderr lines parsed as JSON (structured log). */
  logs(): Array<Record<string, unknown>>;
  /** SIGKILL and wait for exit. */
  kill(): Promise<void>;
  /** SIGTERM (graceful) and wait for exit; returns the exit code. */
  stop(): Promise<number>;
  /** Resolves when both output streams have been read to the end. */
  drained: Promise<void>;
}

export interface SpawnOptions {
  args?: string[];
  /** How long to wait for /v1/ready. */
  readyTimeoutMs?: number;
  /** Added to this process's environment; a key given as undefined is left out. */
  env?: Record<string, string | undefined>;
  /** The server's working directory (default: the repository). */
  cwd?: string;
}

/** Spawn `bun src/main.ts serve` without waiting for it to be ready. */
export function spawnServerRaw(
  dataDir: string,
  port: number,
  args: string[] = [],
  env: Record<string, string | undefined> = {},
  cwd = repoRoot,
): ServerProcess {
  const merged: Record<string, string | undefined> = { ...process.env, ...env };
  for (const [k, v] of Object.entries(merged)) if (v === undefined) delete merged[k];
  const proc = Bun.spawn([bunPath, mainTs, "serve", "--data-dir", dataDir, "--bind", `127.0.0.1:${port}`, ...args], {
    cwd,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: merged,
  });
  procs.add(proc);
  const stderr: string[] = [];
  const stdout: string[] = [];
  const drained = Promise.all([pump(proc.stderr, stderr), pump(proc.stdout, stdout)]).then(() => undefined);
  const untrack = proc.exited.then(() => procs.delete(proc));
  const server: ServerProcess = {
    proc,
    url: `http://127.0.0.1:${port}`,
    port,
    stderr,
    stdout,
    logs: () => jsonLines(stderr),
    async kill() {
      proc.kill("SIGKILL");
      await proc.exited;
      await untrack;
    },
    async stop() {
      proc.kill("SIGTERM");
      const code = await proc.exited;
      await untrack;
      await drained;
      return code;
    },
    drained,
  };
  return server;
}

/**
 * Spawn a real server and wait until `/v1/ready` answers 200. Retries on another port when the
 * chosen one turned out to be taken. Throws (with the server's stderr) if it exits first.
 */
export async function spawnServer(dataDir: string, options: SpawnOptions = {}): Promise<ServerProcess> {
  const timeout = options.readyTimeoutMs ?? 15_000;
  for (let attempt = 0; attempt < 5; attempt++) {
    const server = spawnServerRaw(dataDir, freePort(), options.args ?? [], options.env ?? {}, options.cwd);
    let exited: number | null = null;
    server.proc.exited.then((code) => {
      exited = code;
    });
    const deadline = Date.now() + timeout;
    while (Date.now() < deadline) {
      if (exited !== null) break;
      try {
        const res = await fetch(`${server.url}/v1/ready`);
        if (res.status === 200) return server;
        await res.arrayBuffer();
      } catch {
        // not listening yet
      }
      await sleep(15);
    }
    if (exited === null) {
      await server.kill();
      throw new Error(`server on ${dataDir} not ready after ${timeout} ms; stderr:\n${server.stderr.join("\n")}`);
    }
    await server.drained;
    const text = server.stderr.join("\n");
    if (text.includes("bind_failed") || text.includes("cannot listen")) continue;
    throw new Error(`server exited with ${exited} before ready; stderr:\n${text}`);
  }
  throw new Error("could not find a free port in 5 attempts");
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run `bun src/main.ts ARGS…` to completion. */
export async function runCli(
  args: string[],
  options: { env?: Record<string, string>; timeoutMs?: number; stdin?: string } = {},
): Promise<CliResult> {
  const proc = Bun.spawn([bunPath, mainTs, ...args], {
    cwd: repoRoot,
    stdin: options.stdin === undefined ? "ignore" : new TextEncoder().encode(options.stdin),
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, ...(options.env ?? {}) },
  });
  procs.add(proc);
  const timer = setTimeout(() => proc.kill("SIGKILL"), options.timeoutMs ?? 30_000);
  try {
    const [stdout, stderr, code] = await Promise.all([
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
      proc.exited,
    ]);
    return { code, stdout, stderr };
  } finally {
    clearTimeout(timer);
    procs.delete(proc);
  }
}

/** Spawn any tracked process (e.g. the crash-test writer); cleanupAll() kills it. */
export function track<T extends Subprocess>(proc: T): T {
  procs.add(proc);
  proc.exited.then(() => procs.delete(proc));
  return proc;
}

// ---- log segments -------------------------------------------------------------------------

export const segmentHeaderBytes = 48;
export const frameHeaderBytes = 16;

/** Segment files of a data directory, in order (full paths). */
export function segmentFiles(dataDir: string): string[] {
  const logDir = join(dataDir, "log");
  return fs
    .readdirSync(logDir)
    .filter((n) => /^\d{10}\.seg$/.test(n))
    .sort()
    .map((n) => join(logDir, n));
}

export interface FrameInfo {
  offset: number;
  /** Bytes including the 16-byte frame header. */
  bytes: number;
  lsn: number;
}

/** The frames of a segment file, by walking the length fields (no CRC check). */
export function framesOf(file: string): FrameInfo[] {
  const bytes = fs.readFileSync(file);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const frames: FrameInfo[] = [];
  let at = segmentHeaderBytes;
  while (at + frameHeaderBytes <= bytes.length) {
    const length = view.getUint32(at, true);
    const lsn = Number(view.getBigUint64(at + 4, true));
    frames.push({ offset: at, bytes: frameHeaderBytes + length, lsn });
    at += frameHeaderBytes + length;
  }
  if (at !== bytes.length) throw new Error(`${file}: frames end at ${at}, file is ${bytes.length} bytes`);
  return frames;
}

/** Fetch JSON; returns status, headers and the parsed body. */
export async function getJson(
  url: string,
  init?: RequestInit,
): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const res = await fetch(url, init);
  const text = await res.text();
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = { _text: text };
  }
  return { status: res.status, headers: res.headers, body };
}

/** Run `fn` over items with at most `n` in flight (the arena's own, src/sim/measure.ts). */
export { mapLimit } from "../../src/sim/measure.ts";
