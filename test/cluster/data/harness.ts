/**
 * Cluster nodes in one process for the data plane's tests: each node is the real thing — a
 * store in a temp directory, the node's services, the route table and both request paths
 * (src/api/serve.ts composeApp) with the data plane wired in — and they talk over the in-memory
 * network with a fake clock (src/cluster/data/memory-view.ts). No sockets.
 *
 * Time: the network's delays and the data plane's timers run on the fake clock; the store's
 * writes and the index writer run on the real event loop. `run`/`until` advance the fake clock
 * in small steps and yield to the event loop between them.
 */
import fs from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { type NodeServices, openNode } from "../../../src/api/node.ts";
import { composeApp } from "../../../src/api/serve.ts";
import { DataPlane, type DataPlaneOptions, dataPlaneDefaults } from "../../../src/cluster/data/data-plane.ts";
import { MemoryClusterView, MemoryDirectory } from "../../../src/cluster/data/memory-view.ts";
import { FakeClock } from "../../../src/cluster/fake-clock.ts";
import { MemoryNetwork } from "../../../src/cluster/memory-network.ts";
import { seededRandom } from "../../../src/cluster/random.ts";
import { loadConfig } from "../../../src/config/config.ts";
import { silentLogger } from "../../../src/core/logger.ts";
import { type KeyPair, type SignedRecord, signClaim, toJsonSubmission } from "../../../src/client/index.ts";
import { createMetrics, type Metrics } from "../../../src/metrics/index.ts";
import { initDataDir } from "../../../src/store/datadir.ts";
import { Store } from "../../../src/store/store.ts";

export interface TestNode {
  name: string;
  dir: string;
  store: Store;
  services: NodeServices;
  plane: DataPlane;
  view: MemoryClusterView;
  metrics: Metrics;
  fetch(request: Request): Promise<Response>;
  up: boolean;
}

export interface Answer {
  status: number;
  body: Record<string, unknown> & { items?: Array<Record<string, unknown>>; next_cursor?: string | null };
  headers: Headers;
}

export interface TestClusterOptions {
  seed?: number;
  shardCount?: number;
  replicationFactor?: number;
  /** Changes to the data plane's defaults (intervals short, for tests). */
  plane?: (o: DataPlaneOptions) => DataPlaneOptions;
  /** Agent keys (hex) every node counts as authorities, besides its own node key. */
  authorities?: string[];
}

/** Short intervals: a test runs minutes of cluster time in seconds. */
export function testOptions(shardCount: number, rf: number): DataPlaneOptions {
  const o = dataPlaneDefaults(shardCount, rf);
  return {
    ...o,
    stateIntervalMs: 500,
    forwardTimeoutMs: 5000,
    antiEntropy: { ...o.antiEntropy, intervalMs: 5000, syncRetryMs: 500, newsWaitMs: 1500, timeoutMs: 5000 },
    replicator: { ...o.replicator, timeoutMs: 3000 },
    writer: { quorumTimeoutMs: 3000, forwardTimeoutMs: 8000 },
    references: { ...o.references, retryMs: 500, retryMaxMs: 5000, timeoutMs: 5000 },
  };
}

export class TestCluster {
  readonly clock = new FakeClock(1_000_000);
  readonly network: MemoryNetwork;
  readonly directory = new MemoryDirectory();
  readonly nodes = new Map<string, TestNode>();
  private readonly dirs: string[] = [];
  readonly shardCount: number;
  readonly rf: number;

  constructor(private readonly options: TestClusterOptions = {}) {
    this.network = new MemoryNetwork(this.clock, seededRandom(options.seed ?? 1), {
      delayMs: 1,
      jitterMs: 1,
      connectTimeoutMs: 500,
    });
    this.shardCount = options.shardCount ?? 16;
    this.rf = options.replicationFactor ?? 2;
  }

  node(name: string): TestNode {
    const n = this.nodes.get(name);
    if (!n) throw new Error(`no node ${name}`);
    return n;
  }

  /** A fresh data directory whose authorities include the cluster's. */
  private newDir(name: string): string {
    const dir = fs.mkdtempSync(path.join(tmpdir(), `stemedb-cdata-${name}-`));
    this.dirs.push(dir);
    const dd = initDataDir(dir);
    if (this.options.authorities) {
      const list = [...dd.authorities, ...this.options.authorities];
      fs.writeFileSync(path.join(dir, "authorities.json"), `${JSON.stringify(list)}\n`);
    }
    return dir;
  }

  private async openServices(dir: string) {
    const metrics = createMetrics({ processMetrics: false });
    const store = await Store.open(dir, { create: true, logger: silentLogger, metrics, shardCount: this.shardCount });
    const config = loadConfig({ "data-dir": dir, bind: "127.0.0.1:0", "log-level": "error", "trust-interval-ms": "200" }, {});
    const services = openNode(config, store, { logger: silentLogger, now: Date.now, metrics });
    return { metrics, store, config, services };
  }

  /**
   * A single node outside the cluster (no data plane), for comparing answers: what one node
   * holding every record answers.
   */
  async single(): Promise<{ fetch(request: Request): Promise<Response>; store: Store; close(): Promise<void> }> {
    const { metrics, store, config, services } = await this.openServices(this.newDir("single"));
    const { fetch } = composeApp(config, store, services, {
      logger: silentLogger,
      now: Date.now,
      metrics,
      isReady: () => ({ ready: true }),
    });
    return {
      fetch: (request) => fetch(request, { requestIP: () => ({ address: "127.0.0.1" }) }),
      store,
      async close() {
        await services.close();
        await store.close();
      },
    };
  }

  /** A node joins (a fresh data directory, or its old one after `crash`). */
  async start(name: string, announce = true): Promise<TestNode> {
    const existing = this.nodes.get(name);
    const dir = existing?.dir ?? this.newDir(name);
    const { metrics, store, config, services } = await this.openServices(dir);
    const transport = this.network.attach(name);
    const view = new MemoryClusterView(name, transport, this.network, this.directory);
    let plane: DataPlane | undefined;
    const options = (this.options.plane ?? ((o) => o))(testOptions(this.shardCount, this.rf));
    const { fetch, forwarded } = composeApp(config, store, services, {
      logger: silentLogger,
      now: Date.now,
      metrics,
      isReady: () => ({ ready: true }),
      cluster: (facts) => {
        plane = new DataPlane(
          { view, store, ingest: services.ingest, logger: silentLogger, metrics: metrics.replication, facts },
          options,
        );
        return { writer: plane.writer, wrapRoutes: (routes, dispatch) => (plane as DataPlane).wrapRoutes(routes, dispatch) };
      },
    });
    void forwarded;
    const node: TestNode = {
      name,
      dir,
      store,
      services,
      plane: plane as unknown as DataPlane,
      view,
      metrics,
      fetch: (request) => fetch(request, { requestIP: () => ({ address: "127.0.0.1" }) }),
      up: true,
    };
    this.nodes.set(name, node);
    if (announce) this.directory.add({ name, nodeId: name, api: `${name}:18180`, cluster: `${name}:18182`, state: "alive" });
    node.plane.start();
    return node;
  }

  /** Stops a node as kill -9 would: its streams reset, its timers stop, its store closes (what was durable stays). */
  async crash(name: string, markDead = false): Promise<void> {
    const n = this.node(name);
    n.up = false;
    this.network.crash(name);
    n.plane.stop();
    n.view.close();
    await n.services.close();
    await n.store.close();
    if (markDead) this.directory.setState(name, "dead");
  }

  /** A crashed node comes back with its data directory. */
  async restart(name: string): Promise<TestNode> {
    const n = await this.start(name, false);
    this.directory.setState(name, "alive");
    return n;
  }

  /**
   * Advances the fake clock by `ms`, letting the real event loop run between steps: cluster
   * time goes about `stepMs` times faster than real time, so a real fsync or index flush (a few
   * ms, tens under load) stays well inside the data plane's deadlines (seconds of cluster time).
   */
  async run(ms: number, stepMs = 5): Promise<void> {
    for (let t = 0; t < ms; t += stepMs) {
      this.clock.advance(stepMs);
      await Bun.sleep(1);
    }
  }

  /** Runs until `done()` holds; throws after `limitMs` of cluster time. */
  async until(done: () => boolean | Promise<boolean>, limitMs = 60_000, what = "condition"): Promise<number> {
    const start = this.clock.now();
    while (!(await done())) {
      if (this.clock.now() - start > limitMs) throw new Error(`${what}: not reached within ${limitMs} ms of cluster time`);
      await this.run(20);
    }
    return this.clock.now() - start;
  }

  /** Keeps the cluster running while `work` is pending (requests wait on the network, which runs on the fake clock). */
  async settle<T>(work: Promise<T>, limitMs = 60_000): Promise<T> {
    let done = false;
    let value: T | undefined;
    let error: unknown;
    work.then(
      (v) => {
        done = true;
        value = v;
      },
      (e) => {
        done = true;
        error = e;
      },
    );
    await this.until(() => done, limitMs, "request");
    if (error !== undefined) throw error;
    return value as T;
  }

  /** A request to a node's API, answered with the cluster running meanwhile. */
  async request(name: string, method: string, pathAndQuery: string, body?: unknown): Promise<Answer> {
    const init: RequestInit = { method };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers = { "content-type": "application/json" };
    }
    const res = await this.settle(this.node(name).fetch(new Request(`http://localhost${pathAndQuery}`, init)));
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as Answer["body"]) : {}, headers: res.headers };
  }

  async write(name: string, signed: SignedRecord, ack?: "one" | "quorum"): Promise<Answer> {
    return this.request(name, "POST", `/v1/assert${ack ? `?ack=${ack}` : ""}`, toJsonSubmission(signed));
  }

  async writeBatch(name: string, records: readonly SignedRecord[], ack?: "one" | "quorum"): Promise<Answer> {
    return this.request(name, "POST", `/v1/assert/batch${ack ? `?ack=${ack}` : ""}`, { records: records.map(toJsonSubmission) });
  }

  /** Every node up is in sync for every shard it replicates, and for the globals. */
  allInSync(): boolean {
    for (const n of this.nodes.values()) {
      if (!n.up) continue;
      const s = n.plane.shards;
      if (s.global !== "in_sync") return false;
      for (const [, held] of s.localShards()) if (held.state === "syncing") return false;
    }
    return true;
  }

  /** Per shard, its replicas report equal roots; the global sets are equal on every node up. */
  rootsAgree(): boolean {
    const up = [...this.nodes.values()].filter((n) => n.up);
    const placement = up[0]?.plane.shards.placement;
    if (!placement) return false;
    const roots = new Map(up.map((n) => [n.name, new Map(n.plane.localShards().shards.map((s) => [s.id, s.root]))]));
    for (let shard = 0; shard < this.shardCount; shard++) {
      const seen = new Set(placement.replicas(shard).map((r) => roots.get(r)?.get(shard)));
      if (seen.size !== 1 || seen.has(undefined)) return false;
    }
    return new Set(up.map((n) => n.plane.localShards().global.root)).size === 1;
  }

  /** Every node up is in sync, has fetched every record it names, and agrees with the others' roots. */
  converged(): boolean {
    return (
      this.allInSync() && [...this.nodes.values()].every((n) => !n.up || n.plane.references.pending === 0) && this.rootsAgree()
    );
  }

  async close(): Promise<void> {
    for (const n of this.nodes.values()) if (n.up) await this.crash(n.name);
    for (const dir of this.dirs) fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** An assertion signed by `key`, `ts` fixed so tests are reproducible. */
export function assertion(
  key: KeyPair,
  subject: string,
  predicate: string,
  object: unknown,
  ts: number,
  extra: Record<string, unknown> = {},
) {
  return signClaim(key, { kind: "assertion", subject, predicate, object, confidence: 0.9, ...extra, ts });
}
