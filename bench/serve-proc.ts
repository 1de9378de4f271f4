/**
 * A StemeDB server process for the memory and scale benchmarks, and what it holds: started on a
 * free loopback port over a data dir (any source tree's `src/main.ts`), its VmRSS/VmHWM split
 * from /proc, its own metrics, and the index catching up.
 */
import fs from "node:fs";
import path from "node:path";
import type { Subprocess } from "bun";
import { host } from "./claims.ts";

export interface Server {
  proc: Subprocess;
  port: number;
  url: string;
}

/** A positive integer setting from the environment, or `dflt` when unset. */
export function envInt(env: string, dflt: number): number {
  const raw = process.env[env];
  const n = raw === undefined || raw === "" ? dflt : Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new RangeError(`${env}: expected a positive integer, got ${raw}`);
  return n;
}

export const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
export const mb = (bytes: number | undefined) => (bytes === undefined ? Number.NaN : round(bytes / 1024 / 1024));

async function freePort(): Promise<number> {
  const l = Bun.listen({ hostname: host, port: 0, socket: { data() {} } });
  const port = l.port;
  l.stop(true);
  return port;
}

export const thisTree = path.resolve(import.meta.dir, "..");

export interface StartOptions {
  /** The source tree whose src/main.ts runs (default this one). */
  root?: string;
  /** Wait for this path to answer 200 (default /v1/health). */
  readyPath?: string;
  /** How often to ask, ms (default 100). */
  pollMs?: number;
  logLevel?: string;
}

/**
 * Starts `serve` on `dataDir` (output to `${dataDir}-${name}.log/.err`) and waits until it
 * answers. `bun:FLAG` arguments are the runtime's (e.g. `bun:--smol`), the rest are serve's.
 */
export async function start(dataDir: string, args: string[], name: string, options: StartOptions = {}): Promise<Server> {
  const root = options.root ?? thisTree;
  const port = await freePort();
  const runtime = args.filter((a) => a.startsWith("bun:")).map((a) => a.slice(4));
  const serve = args.filter((a) => !a.startsWith("bun:"));
  const proc = Bun.spawn(
    [
      process.execPath,
      ...runtime,
      path.join(root, "src/main.ts"),
      "serve",
      "--data-dir",
      dataDir,
      "--bind",
      `${host}:${port}`,
      "--sync",
      "batch",
      "--rate-read",
      "0",
      "--rate-write",
      "0",
      "--log-level",
      options.logLevel ?? "warn",
      ...serve,
    ],
    { cwd: root, stdout: Bun.file(`${dataDir}-${name}.log`), stderr: Bun.file(`${dataDir}-${name}.err`) },
  );
  const url = `http://${host}:${port}`;
  const deadline = performance.now() + 600_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`server exited with ${proc.exitCode}; see ${dataDir}-${name}.err`);
    if (
      await fetch(`${url}${options.readyPath ?? "/v1/health"}`).then(
        (r) => r.ok,
        () => false,
      )
    )
      return { proc, port, url };
    if (performance.now() > deadline) throw new Error("server not ready within 600 s");
    await Bun.sleep(options.pollMs ?? 100);
  }
}

export async function stop(s: Server): Promise<void> {
  s.proc.kill("SIGTERM");
  const t = setTimeout(() => s.proc.kill("SIGKILL"), 60_000);
  await s.proc.exited;
  clearTimeout(t);
}

/**
 * CPU seconds a process has used (user + system, every thread) and its first thread's — the
 * event loop — from /proc (clock ticks of 1/100 s).
 */
export function cpuSeconds(pid: number): { all: number; main: number } {
  const of = (file: string) => {
    const fields = (fs.readFileSync(file, "utf8").split(") ")[1] ?? "").split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  };
  return { all: of(`/proc/${pid}/stat`), main: of(`/proc/${pid}/task/${pid}/stat`) };
}

/**
 * VmRSS and VmHWM of a process, MB, and VmRSS split: anonymous memory (heaps, SQLite's page
 * cache) and file pages mapped into it (the log's sealed segments are read through mmap; the
 * kernel can drop those clean pages when memory is short, it cannot drop anonymous ones).
 */
export function vm(pid: number): { rss_mb: number; hwm_mb: number; anon_mb: number; file_mb: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? Number.NaN);
  const mbOf = (k: string) => round(kb(k) / 1024);
  return { rss_mb: mbOf("VmRSS"), hwm_mb: mbOf("VmHWM"), anon_mb: mbOf("RssAnon"), file_mb: mbOf("RssFile") };
}

export async function metrics(s: Server): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const text = await (await fetch(`${s.url}/metrics`)).text();
  for (const line of text.split("\n")) {
    if (line.startsWith("#") || line.length === 0) continue;
    const sp = line.lastIndexOf(" ");
    out.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return out;
}

export async function waitIndexed(s: Server): Promise<void> {
  for (;;) {
    const h = (await (await fetch(`${s.url}/v1/health`)).json()) as { lsn: number; index_lsn: number };
    if (h.index_lsn >= h.lsn) return;
    await Bun.sleep(200);
  }
}

/** Bytes of every file under `dir`. */
export function diskBytes(dir: string): number {
  let total = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) total += fs.statSync(path.join(e.parentPath, e.name)).size;
  }
  return total;
}
