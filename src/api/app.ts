/**
 * The HTTP API (docs/API.md) on Elysia, composed from the route table: one module per concept
 * under routes/, each a list of rows (method, path, class, handler, description). Everything
 * else about a route is derived from its row (route.ts): Elysia registration, 405 and
 * `Allow`, the door's role check, the metric label, and the OpenAPI document. `serve.ts`
 * wraps the app with request ids, the door, deadlines, logging and metrics.
 */
import { Elysia } from "elysia";
import type { QueryAuditLog } from "../audit/query-log.ts";
import type { KeyStore } from "../auth/keys.ts";
import type { OpsService } from "../backup/service.ts";
import type { ClusterHandle } from "../cluster/handle.ts";
import { StemeError } from "../core/errors.ts";
import type { Decider } from "../decisions/decider.ts";
import type { Escalations } from "../decisions/escalations.ts";
import type { ChangeFeed } from "../feed/change-feed.ts";
import type { Defense } from "../defense/defense.ts";
import type { Ingest, Submitter } from "../ingest/pipeline.ts";
import type { Logger } from "../core/logger.ts";
import type { Metrics } from "../metrics/index.ts";
import type { QueryEngine } from "../query/engine.ts";
import type { Store } from "../store/store.ts";
import { renderDocsPage } from "./docs-page.ts";
import { openApiDocument } from "./openapi/document.ts";
import { problemResponse } from "./problem.ts";
import { type Route, Router } from "./route.ts";
import { adminRoutes } from "./routes/admin.ts";
import { changeRoutes } from "./routes/changes.ts";
import { clusterRoutes } from "./routes/cluster.ts";
import { defenseRoutes } from "./routes/defense.ts";
import { mcpRoutes } from "./routes/mcp.ts";
import { opsRoutes } from "./routes/ops.ts";
import { provenanceRoutes } from "./routes/provenance.ts";
import { queryRoutes } from "./routes/query.ts";
import { readRoutes } from "./routes/reads.ts";
import { trustRoutes } from "./routes/trust.ts";
import { type ApiLimits, writeRoutes } from "./routes/writes.ts";

export type { ApiLimits } from "./routes/writes.ts";

export interface AppDeps {
  store: Store;
  ingest: Ingest;
  metrics: Metrics;
  version: string;
  limits: ApiLimits;
  startedAtMs: number;
  isReady: () => { ready: boolean; reason?: string };
  requestIdOf: (request: Request) => string | undefined;
  engine: QueryEngine;
  escalations: Escalations;
  decider: Decider;
  /** Content defense: the quarantine book and the circuit breakers. */
  defense: Defense;
  /** κ for `escalate=true`. */
  escalateKappa: number;
  audit: QueryAuditLog | null;
  /** Who is asking, for the audit trail: `key:<id>` with an API key, else the client's address. */
  callerOf: (request: Request) => string;
  /** The id of the API key the request came with, or null (open mode). */
  apiKeyOf: (request: Request) => string | null;
  keys: KeyStore;
  ops: OpsService;
  logger: Logger;
  /** The address the request came from (the door's per-address bucket). */
  addressOf: (request: Request) => string;
  /** The node's whole request path (http.ts), in-process: how /mcp's tools call the API. */
  dispatch: (request: Request, address: string) => Promise<Response>;
  /** The change feed (GET /v1/changes). */
  feed: ChangeFeed;
  /** For a streaming route: sets the connection's idle timeout again, seconds. */
  lingerOf: (request: Request) => (secs: number) => void;
  /** In a cluster: the writer that routes each record to its shard's replicas (src/cluster/data); the write routes use it. */
  writer?: Submitter;
  /** The cluster (routes/cluster.ts): the running node, or a single node's description. */
  cluster: ClusterHandle;
}

/**
 * The route table. Building it only captures `deps` in handlers, so the table (and the
 * document derived from it) can be built without a running node.
 */
export function apiRoutes(deps: AppDeps): Route[] {
  let described: { json: string; page: string } | null = null;
  const description = () => {
    if (!described) {
      const document = openApiDocument(routes, deps.version);
      described = { json: JSON.stringify(document), page: renderDocsPage(document) };
    }
    return described;
  };
  const routes: Route[] = [
    ...writeRoutes(deps.writer ? { ...deps, ingest: deps.writer } : deps),
    ...readRoutes(deps),
    ...changeRoutes(deps),
    ...queryRoutes(deps),
    ...trustRoutes(deps),
    ...provenanceRoutes(deps),
    ...adminRoutes(deps),
    ...defenseRoutes(deps),
    ...mcpRoutes(deps),
    ...clusterRoutes(deps),
    ...opsRoutes({ ...deps, description }),
  ];
  return routes;
}

export function createApp(deps: AppDeps, router = new Router(apiRoutes(deps))) {
  const app = new Elysia().onError(({ error, code, request }) => {
    if (error instanceof StemeError) return problemResponse(error, deps.requestIdOf(request));
    if (code === "NOT_FOUND") return noRoute(router, request, deps.requestIdOf(request));
    throw error; // a bug: serve.ts logs it and answers 500
  });
  router.mount(app);
  return app;
}

/** 405 with `Allow` when the path exists under other methods, else 404. */
function noRoute(router: Router, request: Request, requestId: string | undefined): Response {
  const pathname = new URL(request.url).pathname;
  const methods = router.methodsFor(pathname).join(", ");
  if (!methods) return problemResponse(new StemeError("not_found", `no route for ${request.method} ${pathname}`), requestId);
  const err = new StemeError("method_not_allowed", `${request.method} is not allowed on ${pathname}; use ${methods}`, {
    extra: { allow: methods },
  });
  const response = problemResponse(err, requestId);
  response.headers.set("allow", methods);
  return response;
}
