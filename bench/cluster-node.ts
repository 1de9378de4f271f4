/**
 * One cluster node for the benchmarks, before `serve --cluster-bind` exists: the real store,
 * node services, route table and data plane (src/cluster/data), over the bench-only TCP view
 * (bench/tcp-view.ts: plain TCP, a static member list, no sessions, no SWIM), with
 * `GET /v1/cluster/shards[?local=1]` and `GET /v1/cluster/members` answered as the control
 * plane's endpoints will (docs/CLUSTER.md).
 *
 *   bun bench/cluster-node.ts --data-dir D --bind HOST:PORT --name n1 --cluster-port P
 *       --peers n1=127.0.0.1:P1@A1,n2=… [--rf 2] [--sync batch|none] [--anti-entropy-interval-secs S]
 */
import { parseArgs } from "node:util";
import { openNode } from "../src/api/node.ts";
import { composeApp } from "../src/api/serve.ts";
import { DataPlane, dataPlaneOptions } from "../src/cluster/data/data-plane.ts";
import { loadConfig } from "../src/config/config.ts";
import { createLogger } from "../src/core/logger.ts";
import { createMetrics } from "../src/metrics/index.ts";
import { Store } from "../src/store/store.ts";
import { parsePeers, TcpClusterView } from "./tcp-view.ts";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    "data-dir": { type: "string" },
    bind: { type: "string" },
    name: { type: "string" },
    "cluster-port": { type: "string" },
    peers: { type: "string" },
    rf: { type: "string" },
    sync: { type: "string" },
    "anti-entropy-interval-secs": { type: "string" },
  },
});
const name = values.name as string;
const logger = createLogger({ level: "warn", fields: { node: name } });
const config = loadConfig(
  {
    "data-dir": values["data-dir"],
    bind: values.bind,
    sync: values.sync ?? "batch",
    "anti-entropy-interval-secs": values["anti-entropy-interval-secs"] ?? "30",
    "log-level": "warn",
  },
  {},
);
const metrics = createMetrics();
const shardCount = 256;
const store = await Store.open(config.dataDir, { create: true, sync: config.sync, logger, metrics, shardCount });
const services = openNode(config, store, { logger, now: Date.now, metrics });
const view = new TcpClusterView(name, parsePeers(values.peers as string));
let plane: DataPlane | null = null;
const { fetch } = composeApp(config, store, services, {
  logger,
  now: Date.now,
  metrics,
  isReady: () => ({ ready: true }),
  cluster: (facts) => {
    plane = new DataPlane(
      { view, store, ingest: services.ingest, logger, metrics: metrics.replication, facts },
      dataPlaneOptions(config, shardCount, Number(values.rf ?? 2)),
    );
    return { writer: plane.writer, wrapRoutes: (routes, dispatch) => (plane as DataPlane).wrapRoutes(routes, dispatch) };
  },
});
const dp = plane as unknown as DataPlane;
metrics.attachReplication(dp.scrape());

const json = (v: unknown) => new Response(JSON.stringify(v), { headers: { "content-type": "application/json" } });
Bun.serve({
  hostname: config.bindHost,
  port: config.bindPort,
  maxRequestBodySize: config.batchBodyBytesMax + 1024,
  // As serve does: a batch that waits on its replicas must not have its connection closed under it.
  idleTimeout: Math.min(255, config.httpTimeoutSecs),
  fetch(request, server) {
    const url = new URL(request.url);
    if (url.pathname === "/v1/cluster/shards")
      return json(url.searchParams.get("local") === "1" ? dp.localShards() : dp.shardTable());
    const drain = /^\/v1\/cluster\/nodes\/([^/]+)\/drain$/.exec(url.pathname);
    if (drain && request.method === "POST") {
      const target = decodeURIComponent(drain[1] as string);
      if (target === name) return json(dp.drain());
      // The bench's own endpoint is not in the route table a forwarded request runs through: ask over HTTP.
      const api = view.members().find((m) => m.name === target)?.api;
      return api
        ? globalThis.fetch(`http://${api}${url.pathname}`, { method: "POST" })
        : new Response("no such node", { status: 404 });
    }
    if (url.pathname === "/v1/cluster/members")
      return json({
        members: view.members().map((m) => ({ ...m, node_id: m.nodeId })),
        meta_version: dp.shards.placement.version,
      });
    return fetch(request, server);
  },
});
await view.listen("127.0.0.1", Number(values["cluster-port"]));
dp.start();
console.error(JSON.stringify({ node: name, ready: true }));
