/**
 * PostgreSQL for `make bench-peer`: Debian's PostgreSQL 15, a private cluster under the run's
 * directory, started by the bench on a private port, as the `postgres` user (never as root),
 * with PostgreSQL's durable defaults (fsync, synchronous_commit and full_page_writes on).
 * Only memory and the WAL size are set, and recorded with the results.
 */
import fs from "node:fs";
import path from "node:path";
import { SQL } from "bun";

const pgBin = process.env.BENCH_PG_BIN ?? "/usr/lib/postgresql/15/bin";
const pgUser = "postgres";

export const schema = [
  `CREATE TABLE assertions (
     id bytea PRIMARY KEY,
     agent bytea NOT NULL,
     subject text NOT NULL,
     predicate text NOT NULL,
     object text NOT NULL,
     confidence float8 NOT NULL,
     ts bigint NOT NULL,
     body bytea NOT NULL,
     sig bytea NOT NULL)`,
  "CREATE INDEX assertions_pair ON assertions (subject, predicate)",
];

/** What the bench sets; everything else is PostgreSQL's default. */
export function pgSettings(): Record<string, string> {
  return {
    shared_buffers: process.env.BENCH_PG_SHARED_BUFFERS ?? "512MB",
    max_wal_size: "4GB",
    max_connections: "200",
    listen_addresses: "127.0.0.1",
  };
}

/** The durability settings read back from the running server, for the record. */
export const durabilityKeys = [
  "fsync",
  "synchronous_commit",
  "full_page_writes",
  "wal_sync_method",
  "shared_buffers",
  "max_wal_size",
];

function asPostgres(cmd: string[]): string[] {
  return process.getuid?.() === 0 ? ["runuser", "-u", pgUser, "--", ...cmd] : cmd;
}

function run(cmd: string[], what: string, timeoutMs = 60_000): string {
  const r = Bun.spawnSync(asPostgres(cmd), { stdout: "pipe", stderr: "pipe", timeout: timeoutMs });
  if (r.exitCode !== 0) throw new Error(`${what} failed (${r.exitCode}): ${r.stderr.toString().trim().slice(0, 2000)}`);
  return r.stdout.toString();
}

export interface Pg {
  dir: string;
  data: string;
  port: number;
  pid: number;
  sql: SQL;
}

/** initdb a fresh cluster in `dir` (made and handed to the postgres user). */
export function initCluster(dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  if (process.getuid?.() === 0) Bun.spawnSync(["chown", pgUser, dir]);
  run(
    [
      `${pgBin}/initdb`,
      "-D",
      path.join(dir, "data"),
      "-A",
      "trust",
      "-U",
      pgUser,
      "-E",
      "UTF8",
      "--locale=C",
      "--no-instructions",
    ],
    "initdb",
  );
}

export async function startPg(dir: string, port: number): Promise<Pg> {
  const data = path.join(dir, "data");
  const opts = [`-p ${port}`, `-k ${dir}`, ...Object.entries(pgSettings()).map(([k, v]) => `-c ${k}=${v}`)].join(" ");
  run(
    [`${pgBin}/pg_ctl`, "-D", data, "-l", path.join(dir, "postgres.log"), "-w", "-t", "60", "-o", opts, "start"],
    "pg_ctl start",
    70_000,
  );
  const pid = Number(fs.readFileSync(path.join(data, "postmaster.pid"), "utf8").split("\n")[0]);
  const sql = new SQL({ hostname: "127.0.0.1", port, username: pgUser, database: "postgres", max: 1 });
  return { dir, data, port, pid, sql };
}

/** Stops the server: fast, then immediate, then SIGKILL; never leaves a process behind. */
export async function stopPg(pg: Pg): Promise<void> {
  await pg.sql.close({ timeout: 1 }).catch(() => {});
  try {
    run([`${pgBin}/pg_ctl`, "-D", pg.data, "-m", "fast", "-w", "-t", "30", "stop"], "pg_ctl stop", 35_000);
  } catch {
    try {
      run([`${pgBin}/pg_ctl`, "-D", pg.data, "-m", "immediate", "-w", "-t", "10", "stop"], "pg_ctl stop immediate", 15_000);
    } catch {}
  }
  for (const p of [pg.pid, ...childrenOf(pg.pid)]) {
    try {
      process.kill(p, "SIGKILL");
    } catch {}
  }
}

/** Drops and recreates the table: every peer run starts empty. */
export async function resetTable(pg: Pg): Promise<void> {
  await pg.sql.unsafe("DROP TABLE IF EXISTS assertions");
  for (const stmt of schema) await pg.sql.unsafe(stmt);
  await pg.sql.unsafe("CHECKPOINT");
}

export async function settingsOf(pg: Pg): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const k of durabilityKeys) {
    const rows = (await pg.sql.unsafe(`SHOW ${k}`)) as Array<Record<string, string>>;
    out[k] = String(Object.values(rows[0] ?? {})[0]);
  }
  return out;
}

/** Table, indexes and TOAST, and the row count. */
export async function tableSize(pg: Pg): Promise<{ bytes: number; rows: number }> {
  const rows =
    (await pg.sql`SELECT pg_total_relation_size('assertions') AS bytes, (SELECT count(*) FROM assertions) AS n`) as Array<{
      bytes: string | number;
      n: string | number;
    }>;
  return { bytes: Number(rows[0]?.bytes), rows: Number(rows[0]?.n) };
}

/** The postmaster's children (backends, checkpointer, WAL writer, …), from /proc. */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const name of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) out.push(Number(name));
    } catch {}
  }
  return out;
}
