/**
 * Real cluster nodes as processes (`bun src/main.ts serve --cluster-bind …`) for the
 * integration tests, the network-namespace tests and the failure-detection benchmark: start,
 * kill -9, stop gracefully, restart on the same data directory, read the cluster endpoints,
 * wait for a condition with a bound. A node may be started inside a network namespace
 * (`wrap: ["ip", "netns", "exec", NS]`; `ip netns exec` execs the command, so the process we
 * hold is the server itself and a SIGKILL reaches it). Every process started here is tracked
 * and `killAll()` ends them.
 */
import fs from "node:fs";
import path from "node:path";
import type { Subprocess } from "bun";

const repoRoot = path.resolve(import.meta.dir, "../..");
const mainTs = path.join(repoRoot, "src/main.ts");
const live = new Set<Subprocess>();

export interface NodeSpec {
  name: string;
  dataDir: string;
  keyFile: string;
  apiHost: string;
  apiPort: number;
  clusterHost: string;
  clusterPort: number;
  seeds: string[];
  preset?: "lan" | "wan" | "local";
  /** More serve flags (TLS, --shards …). */
  extra?: string[];
  /** A command the server runs under (`ip netns exec NS`). */
  wrap?: string[];
}

export interface MemberView {
  name: string;
  node_id: string;
  api: string;
  cluster: string | null;
  state: string;
  incarnation: number;
}

export interface MembersAnswer {
  members: MemberView[];
  meta_version: number;
  clustered: boolean;
  self: string;
}

export function argsOf(spec: NodeSpec): string[] {
  return [
    "serve",
    "--data-dir",
    spec.dataDir,
    "--bind",
    `${spec.apiHost}:${spec.apiPort}`,
    "--cluster-bind",
    `${spec.clusterHost}:${spec.clusterPort}`,
    ...(spec.seeds.length ? ["--join", spec.seeds.join(",")] : []),
    "--cluster-key-file",
    spec.keyFile,
    "--node-name",
    spec.name,
    "--cluster-preset",
    spec.preset ?? "lan",
    "--log-level",
    "info",
    ...(spec.extra ?? []),
  ];
}

export class ClusterProc {
  readonly stderr: string[] = [];
  readonly proc: Subprocess<"ignore", "ignore", "pipe">;
  readonly url: string;
  private readonly drained: Promise<void>;

  constructor(readonly spec: NodeSpec) {
    this.url = `http://${spec.apiHost}:${spec.apiPort}`;
    this.proc = Bun.spawn([...(spec.wrap ?? []), process.execPath, mainTs, ...argsOf(spec)], {
      cwd: repoRoot,
      stdin: "ignore",
      stdout: "ignore",
      stderr: "pipe",
      env: { ...process.env, STEMEDB_API_KEY: undefined },
    });
    live.add(this.proc);
    this.proc.exited.then(() => live.delete(this.proc));
    this.drained = pumpLines(this.proc.stderr, this.stderr);
  }

  get exited(): Promise<number> {
    return this.proc.exited;
  }

  /** The structured log lines so far. */
  logs(): Array<Record<string, unknown>> {
    const out: Array<Record<string, unknown>> = [];
    for (const line of this.stderr) {
      try {
        out.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // not a log line
      }
    }
    return out;
  }

  /** Waits until the server says it listens (the cluster has started); throws with its stderr if it exits first. */
  async listening(timeoutMs = 30_000): Promise<void> {
    const ok = await waitFor(async () => {
      if (this.stderr.some((l) => l.includes('"msg":"stemedb listening"'))) return true;
      if (this.proc.exitCode !== null)
        throw new Error(`${this.spec.name} exited ${this.proc.exitCode}:\n${this.stderr.join("\n")}`);
      return false;
    }, timeoutMs);
    if (!ok) throw new Error(`${this.spec.name} not listening after ${timeoutMs} ms:\n${this.stderr.join("\n")}`);
  }

  async kill(): Promise<void> {
    this.proc.kill("SIGKILL");
    await this.proc.exited;
  }

  /** SIGTERM: a graceful stop (the node leaves); returns the exit code. */
  async stop(): Promise<number> {
    this.proc.kill("SIGTERM");
    const code = await this.proc.exited;
    await this.drained;
    return code;
  }

  async get<T>(pathAndQuery: string, timeoutMs = 3000): Promise<T | null> {
    try {
      const res = await fetch(`${this.url}${pathAndQuery}`, { signal: AbortSignal.timeout(timeoutMs) });
      if (!res.ok) return null;
      return (await res.json()) as T;
    } catch {
      return null;
    }
  }

  members(): Promise<MembersAnswer | null> {
    return this.get<MembersAnswer>("/v1/cluster/members");
  }

  async metric(name: string, labels: Record<string, string> = {}): Promise<number | null> {
    let text: string;
    try {
      text = await (await fetch(`${this.url}/metrics`, { signal: AbortSignal.timeout(3000) })).text();
    } catch {
      return null;
    }
    const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
    let sum: number | null = null;
    for (const line of text.split("\n")) {
      if (!line.startsWith(name)) continue;
      const m = /^([a-z_]+)(\{([^}]*)\})? (\S+)$/.exec(line);
      if (!m || m[1] !== name) continue;
      const got = (m[3] ?? "").split(",");
      if (want.every((w) => got.includes(w))) sum = (sum ?? 0) + Number(m[4]);
    }
    return sum;
  }
}

/** Each member's state as `node` sees it, by name; null when it does not answer. */
export async function statesAt(node: ClusterProc): Promise<Record<string, string> | null> {
  const m = await node.members();
  return m ? Object.fromEntries(m.members.map((x) => [x.name, x.state])) : null;
}

/** Whether every node lists every name in `names` as alive. */
export async function allAlive(nodes: readonly ClusterProc[], names: readonly string[]): Promise<boolean> {
  const views = await Promise.all(nodes.map(statesAt));
  return views.every((v) => v !== null && names.every((n) => v[n] === "alive"));
}

/** Polls `cond` every `stepMs` until it holds or `timeoutMs` passes; returns whether it held. */
export async function waitFor(cond: () => Promise<boolean> | boolean, timeoutMs: number, stepMs = 100): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return true;
    if (Date.now() >= end) return false;
    await Bun.sleep(stepMs);
  }
}

/** A port P with TCP P and UDP P + 1 free on `host` now (the OS picks P; a few tries). */
export async function freeClusterPort(host = "127.0.0.1"): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const tcp = Bun.listen({ hostname: host, port: 0, socket: { data() {} } });
    const port = tcp.port;
    try {
      const udp = await Bun.udpSocket({ hostname: host, port: port + 1 });
      udp.close();
      tcp.stop(true);
      if (port < 65_534) return port;
    } catch {
      tcp.stop(true);
    }
  }
  throw new Error("no free TCP port P with UDP P + 1 free in 50 tries");
}

/** Writes a cluster key file (mode 0600) holding `keys` (hex), the primary first. */
export function writeKeyFile(file: string, keys: string[]): void {
  fs.writeFileSync(file, `${keys.join("\n")}\n`, { mode: 0o600 });
  fs.chmodSync(file, 0o600);
}

export function randomKeyHex(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("hex");
}

/** SIGKILLs every process started here that is still running. */
export async function killAll(): Promise<void> {
  for (const p of [...live]) {
    try {
      p.kill("SIGKILL");
    } catch {
      // gone
    }
    await p.exited;
  }
}

function pumpLines(stream: ReadableStream<Uint8Array>, lines: string[]): Promise<void> {
  return (async () => {
    const decoder = new TextDecoder();
    let buf = "";
    for await (const chunk of stream) {
      buf += decoder.decode(chunk, { stream: true });
      let nl = buf.indexOf("\n");
      while (nl >= 0) {
        lines.push(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        nl = buf.indexOf("\n");
      }
    }
    if (buf) lines.push(buf);
  })();
}

/** What `labNodes` needs of a network-namespace lab (test/support/netns.ts `NetnsLab`). */
export interface NodeLab {
  readonly hosts: ReadonlyArray<{ index: number; ip: string }>;
  host(index: number): { ip: string };
  wrap(index: number): string[];
}

/**
 * One node per namespace of `lab`, named by `names`, on the lan preset, the first two as seeds,
 * data and key file under `dir`; `--insecure` (a non-loopback API with no keys: fine on a
 * private bridge) and `extra`. Resolves once every node listens.
 */
export async function labNodes(
  lab: NodeLab,
  names: readonly string[],
  dir: string,
  extra: string[] = [],
): Promise<ClusterProc[]> {
  const keyFile = path.join(dir, "cluster.key");
  writeKeyFile(keyFile, [randomKeyHex()]);
  const seeds = [0, 1].map((i) => `${lab.host(i).ip}:18182`);
  const nodes = lab.hosts.map(
    (h) =>
      new ClusterProc({
        name: names[h.index] as string,
        dataDir: path.join(dir, `n${h.index + 1}`),
        keyFile,
        apiHost: h.ip,
        apiPort: 18180,
        clusterHost: h.ip,
        clusterPort: 18182,
        seeds,
        preset: "lan",
        wrap: lab.wrap(h.index),
        extra: ["--insecure", ...extra],
      }),
  );
  await Promise.all(nodes.map((n) => n.listening()));
  return nodes;
}
