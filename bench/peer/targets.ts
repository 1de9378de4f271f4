/**
 * The two servers of `make bench-peer`, started fresh for every run: StemeDB (the real server,
 * `bun src/main.ts serve --sync batch`, one process) and the peer (two bench/peer/service.ts
 * processes, one port each, in front of PostgreSQL).
 */
import fs from "node:fs";
import path from "node:path";
import type { Subprocess } from "bun";
import { childrenOf, type Pg, resetTable, tableSize } from "./pg.ts";

const root = path.resolve(import.meta.dir, "../..");
const bun = process.execPath;

export interface Target {
  name: "StemeDB" | "PostgreSQL";
  ports: number[];
  /** Every process doing the server's work now (PostgreSQL's backends come and go). */
  pids: () => number[];
  /** Wait until reads see every acknowledged write (StemeDB's index follows its log); seconds waited. */
  settle: () => Promise<number>;
  /** Records stored, and bytes they take on disk. */
  disk: () => Promise<{ bytes: number; records: number; what: string }>;
  stop: () => Promise<string[]>;
}

export async function freePort(): Promise<number> {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = l.port;
  l.stop(true);
  return port;
}

/** Processes started and not yet stopped, killed if the bench fails. */
export const running = new Set<Subprocess>();

async function waitHealthy(proc: Subprocess, url: string, errFile: string, seconds: number): Promise<void> {
  const deadline = performance.now() + seconds * 1000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`${url}: process exited with ${proc.exitCode}; see ${errFile}`);
    try {
      if ((await fetch(`${url}/v1/health`)).ok) return;
    } catch {}
    if (performance.now() > deadline) throw new Error(`${url}: no answer to /v1/health within ${seconds} s; see ${errFile}`);
    await Bun.sleep(50);
  }
}

function spawn(args: string[], logBase: string): Subprocess {
  const proc = Bun.spawn(args, {
    cwd: root,
    stdout: Bun.file(`${logBase}.log`),
    stderr: Bun.file(`${logBase}.err`),
    env: { ...process.env, STEMEDB_LOG_LEVEL: "warn" },
  });
  running.add(proc);
  return proc;
}

async function stopProc(proc: Subprocess, name: string): Promise<string[]> {
  proc.kill("SIGTERM");
  const timer = setTimeout(() => proc.kill("SIGKILL"), 15_000);
  await proc.exited;
  clearTimeout(timer);
  running.delete(proc);
  return proc.exitCode === 0 ? [] : [`${name} exited with ${proc.exitCode ?? proc.signalCode}`];
}

function duBytes(dir: string): number {
  return Number(Bun.spawnSync(["du", "-sb", dir]).stdout.toString().split("\t")[0]);
}

export async function startStemeDB(runDir: string): Promise<Target> {
  const port = await freePort();
  const dataDir = path.join(runDir, "stemedb");
  fs.rmSync(dataDir, { recursive: true, force: true });
  // One load generator on one address would drain the door's per-address token buckets: the
  // peer has no such door, so both are measured without it (bench/guard.ts measures the door).
  const args = [
    bun,
    path.join(root, "src/main.ts"),
    "serve",
    "--data-dir",
    dataDir,
    "--bind",
    `127.0.0.1:${port}`,
    "--sync",
    "batch",
  ];
  const proc = spawn([...args, "--rate-read", "0", "--rate-write", "0"], path.join(runDir, "stemedb"));
  const url = `http://127.0.0.1:${port}`;
  await waitHealthy(proc, url, path.join(runDir, "stemedb.err"), 60);
  let stored = 0;
  return {
    name: "StemeDB",
    ports: [port],
    pids: () => [proc.pid],
    settle: async () => {
      const t = performance.now();
      for (;;) {
        const h = (await (await fetch(`${url}/v1/health`)).json()) as { lsn: number; index_lsn: number };
        stored = h.lsn;
        if (h.index_lsn >= h.lsn) return Math.round(performance.now() - t) / 1000;
        await Bun.sleep(50);
      }
    },
    // Measured after stop (below): the store at rest, log and index together.
    disk: async () => ({ bytes: duBytes(dataDir), records: stored, what: "data directory (log + index)" }),
    stop: () => stopProc(proc, "StemeDB"),
  };
}

export async function startPeer(runDir: string, pg: Pg, pool: number): Promise<Target> {
  await resetTable(pg);
  const ports = [await freePort(), await freePort()];
  const procs = ports.map((port, i) =>
    spawn(
      [
        bun,
        path.join(root, "bench/peer/service.ts"),
        "--port",
        String(port),
        "--pg-port",
        String(pg.port),
        "--pool",
        String(pool),
      ],
      path.join(runDir, `peer-${i}`),
    ),
  );
  await Promise.all(procs.map((p, i) => waitHealthy(p, `http://127.0.0.1:${ports[i]}`, path.join(runDir, `peer-${i}.err`), 30)));
  return {
    name: "PostgreSQL",
    ports,
    pids: () => [...procs.map((p) => p.pid), pg.pid, ...childrenOf(pg.pid)],
    settle: async () => 0,
    disk: async () => {
      const t = await tableSize(pg);
      return { bytes: t.bytes, records: t.rows, what: "pg_total_relation_size (table + indexes + TOAST)" };
    },
    stop: async () => (await Promise.all(procs.map((p, i) => stopProc(p, `peer service ${i}`)))).flat(),
  };
}
