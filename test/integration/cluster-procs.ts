/**
 * Real cluster nodes on loopback for the integration tests, started with the flags of
 * docs/CLUSTER.md (`serve --cluster-bind … --join … --cluster-key-file … --replication-factor
 * …`).
 */
import * as fs from "node:fs";
import { join } from "node:path";
import { freePort, getJson, runCli, type ServerProcess, sleep, spawnServerRaw, tempDir } from "./helpers.ts";

/** Ports of every node a test will start, planned up front (a restart keeps them). */
const planned = new Map<string, { port: number; cport: number }>();

function portsOf(name: string): { port: number; cport: number } {
  let p = planned.get(name);
  if (!p) {
    p = { port: freePort(), cport: clusterPort() };
    planned.set(name, p);
  }
  return p;
}

/** Plans the ports of these node names (call before starting any of them). */
export function planNodes(names: readonly string[]): void {
  planned.clear();
  for (const n of names) portsOf(n);
}

export interface ClusterNodeProcess extends ServerProcess {
  name: string;
  dir: string;
  clusterPort: number;
  args: string[];
}

/** A data directory whose authorities include `authorities` (hex public keys) besides its node key. */
export async function clusterDataDir(name: string, authorities: readonly string[]): Promise<string> {
  const dir = tempDir(`stemedb-cluster-${name}-`);
  const init = await runCli(["init", "--data-dir", dir]);
  if (init.code !== 0) throw new Error(`init ${dir}: ${init.stderr}`);
  const file = join(dir, "authorities.json");
  const list = JSON.parse(fs.readFileSync(file, "utf8")) as string[];
  fs.writeFileSync(file, `${JSON.stringify([...list, ...authorities])}\n`);
  return dir;
}

/** The cluster key file (64 hex digits), shared by every node. */
export function clusterKeyFile(): string {
  const file = join(tempDir("stemedb-cluster-key-"), "cluster.key");
  fs.writeFileSync(file, `${Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("hex")}\n`, { mode: 0o600 });
  return file;
}

/** A TCP port whose next port (gossip, UDP) is free too. */
function clusterPort(): number {
  for (;;) {
    const p = freePort();
    if (p < 65535) return p;
  }
}

export interface NodeOptions {
  name: string;
  dir: string;
  keyFile: string;
  join?: ClusterNodeProcess[];
  replicationFactor?: number;
  extra?: string[];
}

/** Starts a node and waits until its API answers /v1/ready. */
export async function startNode(o: NodeOptions, timeoutMs = 30_000): Promise<ClusterNodeProcess> {
  const { port, cport } = portsOf(o.name);
  const args = [
    "--cluster-bind",
    `127.0.0.1:${cport}`,
    "--cluster-key-file",
    o.keyFile,
    "--node-name",
    o.name,
    "--replication-factor",
    String(o.replicationFactor ?? 2),
    "--log-level",
    "warn",
    ...(o.join && o.join.length > 0 ? ["--join", o.join.map((n) => `127.0.0.1:${n.clusterPort}`).join(",")] : []),
    ...(o.extra ?? []),
  ];
  return launch(o.name, o.dir, port, cport, args, timeoutMs);
}

/** Starts a node again with the same data directory, ports and flags (after kill -9). */
export function restartNode(n: ClusterNodeProcess, timeoutMs = 30_000): Promise<ClusterNodeProcess> {
  return launch(n.name, n.dir, n.port, n.clusterPort, n.args, timeoutMs);
}

async function launch(
  name: string,
  dir: string,
  port: number,
  cport: number,
  args: string[],
  timeoutMs: number,
): Promise<ClusterNodeProcess> {
  const server = spawnServerRaw(dir, port, args);
  const node: ClusterNodeProcess = { ...server, name, dir, clusterPort: cport, args };
  const deadline = Date.now() + timeoutMs;
  let exited: number | null = null;
  server.proc.exited.then((code) => {
    exited = code;
  });
  while (Date.now() < deadline && exited === null) {
    try {
      const res = await fetch(`${server.url}/v1/ready`);
      await res.arrayBuffer();
      if (res.status === 200) return node;
    } catch {
      // not listening yet
    }
    await sleep(50);
  }
  await server.kill();
  throw new Error(`${name} not ready (exit ${exited}); stderr:\n${server.stderr.join("\n")}`);
}

/** Every node sees `count` members alive and holds all its shards in sync. */
export async function clusterSettled(nodes: readonly ClusterNodeProcess[], count: number): Promise<boolean> {
  for (const n of nodes) {
    const members = await getJson(`${n.url}/v1/cluster/members`).catch(() => null);
    const list = (members?.body.members as Array<{ state: string }> | undefined) ?? [];
    if (list.filter((m) => m.state === "alive").length !== count) return false;
    const local = await getJson(`${n.url}/v1/cluster/shards?local=1`).catch(() => null);
    const shards = (local?.body.shards as Array<{ state: string }> | undefined) ?? null;
    if (shards === null || shards.some((s) => s.state === "syncing")) return false;
  }
  return true;
}

/** Per shard, the roots its replicas report (`?local=1`) are equal. */
export async function rootsAgree(nodes: readonly ClusterNodeProcess[]): Promise<boolean> {
  const byShard = new Map<number, Set<string>>();
  const table = await getJson(`${nodes[0]?.url}/v1/cluster/shards`);
  const replicas = new Map(
    (table.body.shards as Array<{ id: number; replicas: string[] }>).map((s) => [s.id, new Set(s.replicas)]),
  );
  for (const n of nodes) {
    const local = await getJson(`${n.url}/v1/cluster/shards?local=1`);
    for (const s of local.body.shards as Array<{ id: number; root: string; state: string }>) {
      if (!replicas.get(s.id)?.has(n.name)) continue;
      const set = byShard.get(s.id) ?? new Set();
      set.add(s.root);
      byShard.set(s.id, set);
    }
  }
  return [...byShard.values()].every((roots) => roots.size === 1);
}

/** Polls `check` every 200 ms until it holds; false after `timeoutMs`. */
export async function eventually(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return true;
    await sleep(200);
  }
  return false;
}
