/**
 * Starting the server: open the store (recovery, index catch-up), the node's services over it
 * (node.ts), the route table and the app over those (app.ts), and listen; every request goes
 * through http.ts. `stop()` closes everything in reverse.
 */
import { KeyStore } from "../auth/keys.ts";
import type { Server } from "bun";
import nodeCrypto from "node:crypto";
import fs from "node:fs";
import type { Config } from "../config/config.ts";
import { StemeError } from "../core/errors.ts";
import { heapGrowthInForce } from "../core/heap-growth.ts";
import { createLogger, type Logger } from "../core/logger.ts";
import { createMetrics, type Metrics } from "../metrics/index.ts";
import type { Submitter } from "../ingest/pipeline.ts";
import type { ClusterHandle } from "../cluster/handle.ts";
import { Store } from "../store/store.ts";
import { type AppDeps, apiRoutes, createApp } from "./app.ts";
import { closeCluster, clusterHandle, dataPlaneFor, openClusterFor, startClusterFor, stopCluster } from "./cluster.ts";
import { CorsPolicy } from "./cors.ts";
import { type ForwardedFacts, forwardedHandler, type Peer, RequestBook, requestHandler } from "./http.ts";
import { appDeps, type NodeServices, openNode, type RequestFacts } from "./node.ts";
import { problemResponse } from "./problem.ts";
import { type Route, Router } from "./route.ts";

export const version = "0.1.0";

export interface RunningServer {
  url: string;
  store: Store;
  metrics: Metrics;
  stop(): Promise<void>;
}

/**
 * HTTPS: the PEM files are read once at start. BoringSSL takes no "minimum version" here, so
 * older versions are switched off with SSL_OP_NO_* flags: TLS 1.3 only by default, 1.2 and 1.3
 * with `--tls-min-version 1.2`.
 */
function tlsOptions(config: Config) {
  const read = (file: string, what: string) => {
    try {
      return fs.readFileSync(file, "utf8");
    } catch (err) {
      throw new StemeError("bad_config", `${what}: cannot read ${file}: ${(err as Error).message}`);
    }
  };
  const { SSL_OP_NO_TLSv1, SSL_OP_NO_TLSv1_1, SSL_OP_NO_TLSv1_2 } = nodeCrypto.constants;
  const off = SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1 | (config.tlsMinVersion === "1.3" ? SSL_OP_NO_TLSv1_2 : 0);
  return { cert: read(config.tlsCertPath, "--tls-cert"), key: read(config.tlsKeyPath, "--tls-key"), secureOptions: off };
}

export async function startServer(config: Config, options: { logger?: Logger; now?: () => number } = {}): Promise<RunningServer> {
  const logger = options.logger ?? createLogger({ level: config.logLevel });
  const now = options.now ?? Date.now;
  const metrics = createMetrics();
  // A damaged key file stops the start before the store opens (which can take seconds and logs).
  new KeyStore(config.dataDir, now);
  const store = await Store.open(config.dataDir, {
    create: true,
    sync: config.sync,
    syncsInFlight: config.syncsInFlight,
    segmentBytesMax: config.segmentBytesMax,
    shardCount: config.shards, // the index files subjects under the cluster's shards (docs/STORAGE.md)
    indexCacheKiB: Math.max(1, Math.round(config.indexCacheBytes / 1024)),
    indexWalBytesMax: config.indexWalBytesMax,
    indexFlushMs: config.indexFlushMs,
    indexCheckpointMs: config.indexCheckpointMs,
    logger,
    metrics,
    now,
  });
  let node: NodeServices;
  const cluster = clusterHandle(config, store);
  try {
    node = openNode(config, store, { logger, now, metrics });
  } catch (err) {
    await store.close();
    throw err;
  }
  try {
    await openClusterFor(config, cluster, { logger, metrics }); // the node exists before the API; it starts once the API listens
  } catch (err) {
    await node.close();
    await store.close();
    throw err;
  }
  let stopping = false;
  const { fetch } = composeApp(config, store, node, {
    logger,
    now,
    metrics,
    isReady: () => readiness(store, stopping, cluster),
    clusterHandle: cluster,
    ...(cluster.opened ? { cluster: dataPlaneFor(config, cluster, { store, ingest: node.ingest, logger, metrics }) } : {}),
  });
  const close = async () => {
    closeCluster(cluster);
    await node.close();
    await store.close();
  };
  const server = await listen(config, fetch, logger, close);
  try {
    await startClusterFor(cluster, logger);
  } catch (err) {
    await server.stop(true);
    await close();
    throw err;
  }
  const url = `${config.tlsCertPath ? "https" : "http"}://${config.bindHost.includes(":") ? `[${config.bindHost}]` : config.bindHost}:${server.port}`;
  logger.info("stemedb listening", {
    url,
    data_dir: config.dataDir,
    sync: config.sync,
    lsn: store.log.lastLsn,
    version,
    // The JS heaps' growth the runtime started with (src/core/heap-growth.ts): the RAM in MiB from which they grow aggressively.
    heap_growth_threshold_mib: heapGrowthInForce(),
  });
  return {
    url,
    store,
    metrics,
    async stop() {
      if (stopping) return;
      stopping = true;
      await stopCluster(cluster, logger); // a graceful stop leaves the cluster first
      node.feed.close(); // ends the change feed's streams, which the server would otherwise wait for
      await server.stop();
      await close();
      logger.info("stemedb stopped", { lsn: store.log.lastLsn });
    },
  };
}

/** What a cluster node adds to the app (src/cluster/data DataPlane): its writer, and the read routes wrapped. */
export interface ClusterHooks {
  writer: Submitter;
  wrapRoutes(routes: readonly Route[], dispatch: (request: Request, facts: ForwardedFacts) => Promise<Response>): Route[];
}

export interface ComposeContext {
  logger: Logger;
  now: () => number;
  metrics: Metrics;
  isReady: AppDeps["isReady"];
  /** The cluster as the endpoints see it; absent: a single node describing itself. */
  clusterHandle?: ClusterHandle;
  /** A cluster node's data plane, made once the request facts exist; absent on a single node. */
  cluster?: (facts: RequestFacts) => ClusterHooks;
}

/**
 * The app over a node's services: the route table (wrapped by the cluster's routing on a
 * cluster node), the request path for clients (`fetch`, with the door) and for requests a
 * cluster peer forwards (`forwarded`, without it: the peer's door admitted them).
 */
export function composeApp(config: Config, store: Store, node: NodeServices, ctx: ComposeContext) {
  const { logger, now, metrics } = ctx;
  const book = new RequestBook();
  // The MCP endpoint's tools call the API through the whole request path, made below (routes/mcp.ts).
  let handle: ReturnType<typeof requestHandler> | undefined;
  let forwarded: ReturnType<typeof forwardedHandler> | undefined;
  const cluster = ctx.cluster?.(book.facts) ?? null;
  const deps = appDeps(config, store, node, {
    cluster: ctx.clusterHandle ?? clusterHandle(config, store),
    logger,
    now,
    metrics,
    version,
    facts: book.facts,
    isReady: ctx.isReady,
    dispatch: (request, address) => (handle as ReturnType<typeof requestHandler>)(request, { requestIP: () => ({ address }) }),
  });
  if (cluster) deps.writer = cluster.writer;
  const table = apiRoutes(deps);
  const routes = cluster
    ? cluster.wrapRoutes(table, (request, facts) => (forwarded as ReturnType<typeof forwardedHandler>)(request, facts))
    : table;
  const router = new Router(routes);
  const app = createApp(deps, router);
  const options = {
    app,
    book,
    router,
    guard: node.guard,
    metrics,
    logger,
    timeoutMs: config.httpTimeoutSecs * 1000,
    cors: new CorsPolicy(config.corsOrigins),
  };
  handle = requestHandler(options);
  forwarded = forwardedHandler(options);
  return { fetch: handle, forwarded, book, router };
}

function readiness(store: Store, stopping: boolean, cluster: ClusterHandle): { ready: boolean; reason?: string } {
  if (stopping) return { ready: false, reason: "shutting down" };
  if (cluster.clustered && !cluster.started) return { ready: false, reason: "joining the cluster" };
  if (store.log.failed) return { ready: false, reason: "log write failed" };
  if (store.indexFailure) return { ready: false, reason: `index failing: ${store.indexFailure.message}` };
  return { ready: true };
}

/** Listens, or closes what was opened and says why it cannot (another server on the port, unreadable TLS files). */
async function listen(
  config: Config,
  fetch: (request: Request, server: Peer) => Promise<Response>,
  logger: Logger,
  close: () => Promise<void>,
): Promise<Server<undefined>> {
  try {
    return Bun.serve({
      hostname: config.bindHost,
      port: config.bindPort,
      fetch,
      ...(config.tlsCertPath ? { tls: tlsOptions(config) } : {}),
      maxRequestBodySize: Math.max(config.batchBodyBytesMax, config.writeBodyBytesMax) + 1024,
      idleTimeout: idleTimeoutSecs(config.httpTimeoutSecs),
      error: (err) => {
        logger.error("server error", { err, stack: err.stack });
        return problemResponse(new StemeError("internal", "internal error"));
      },
    });
  } catch (err) {
    await close();
    if (err instanceof StemeError) throw err; // unreadable TLS files
    throw new StemeError("bind_failed", `cannot listen on ${config.bindHost}:${config.bindPort}: ${(err as Error).message}`);
  }
}

/**
 * Bun's idle timeout for the server's connections: past our own deadline by more than Bun's
 * timer tick (it checks idle sockets every few seconds, so an idle timeout of N s fires
 * anywhere from about N − 4 s on). At equal times, a stalled body's connection was sometimes
 * reset before the request path could answer `408` (docs/API.md#authentication-limits).
 */
export function idleTimeoutSecs(httpTimeoutSecs: number): number {
  return Math.min(255, httpTimeoutSecs + 4);
}
