/**
 * Starting the server: open the store (recovery, index catch-up), build the ingest pipeline
 * and the app, and listen. Every response gets an `X-Request-Id`; every request is counted and
 * timed by route; a bug becomes a logged 500 with a problem document, never a stack trace.
 */
import type { Server } from "bun";
import { StemeError } from "../core/errors.ts";
import { createLogger, type Logger } from "../core/logger.ts";
import type { Config } from "../config/config.ts";
import { VerifyPool } from "../crypto/verify-pool.ts";
import { Ingest } from "../ingest/pipeline.ts";
import { createMetrics, type Metrics } from "../metrics/index.ts";
import { QueryAuditLog } from "../audit/query-log.ts";
import { Decider } from "../decisions/decider.ts";
import { Escalations } from "../decisions/escalations.ts";
import { Defense, defenseOptions } from "../defense/index.ts";
import { QueryEngine } from "../query/engine.ts";
import { Store } from "../store/store.ts";
import { TrustService } from "../trust/service.ts";
import { OpsService } from "../backup/service.ts";
import { readBackupStatus } from "../backup/status.ts";
import { classify, type KeyInfo, openGuard, RateLimitedError } from "../auth/index.ts";
import nodeCrypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { createApp } from "./app.ts";
import { bodyDeadline } from "./body.ts";
import { problemResponse } from "./problem.ts";

export const version = "0.1.0";

export interface RunningServer {
  url: string;
  store: Store;
  metrics: Metrics;
  stop(): Promise<void>;
}

const requestIdPattern = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * Request ids: a random prefix per process and a counter. Unique per node without a random
 * draw per request (crypto.randomUUID showed up at ~15 % of the event loop under load).
 */
function requestIdSource(): () => string {
  const prefix = Buffer.from(crypto.getRandomValues(new Uint8Array(6))).toString("hex");
  let seq = 0;
  return () => `${prefix}-${(++seq).toString(36)}`;
}

/** The route template of a path, for metric labels (bounded cardinality). */
export function routeOf(pathname: string): string {
  if (pathname.startsWith("/v1/assertions/")) return "/v1/assertions/:id";
  if (pathname.startsWith("/v1/subjects/")) return "/v1/subjects/:path";
  if (pathname.startsWith("/v1/agents/")) return "/v1/agents/:key";
  if (pathname.startsWith("/v1/escalations/")) return "/v1/escalations/:id/resolve";
  if (pathname.startsWith("/v1/sources/"))
    return pathname.endsWith("/impact")
      ? "/v1/sources/:id/impact"
      : pathname.endsWith("/retract")
        ? "/v1/sources/:id/retract"
        : "/v1/sources/:id";
  if (pathname.startsWith("/v1/epochs/")) return "/v1/epochs/:name/supersede";
  if (pathname.startsWith("/v1/provenance/")) return "/v1/provenance/:id";
  if (pathname.startsWith("/v1/admin/quarantine/"))
    return pathname.endsWith("/reject") ? "/v1/admin/quarantine/:id/reject" : "/v1/admin/quarantine/:id/approve";
  if (pathname.startsWith("/v1/admin/breakers/")) return "/v1/admin/breakers/:agent/reset";
  if (pathname === "/v1/admin/quarantine" || pathname === "/v1/admin/breakers") return pathname;
  if (pathname.startsWith("/v1/admin/keys/")) return "/v1/admin/keys/:id";
  const known = [
    "/v1/assert",
    "/v1/assert/batch",
    "/v1/vote",
    "/v1/retract",
    "/v1/assertions",
    "/v1/query",
    "/v1/concepts",
    "/v1/agents",
    "/v1/escalations",
    "/v1/audit/queries",
    "/v1/admin/views",
    "/v1/sources",
    "/v1/epochs",
    "/v1/admin/gold",
    "/v1/admin/audit",
    "/v1/admin/keys",
    "/v1/admin/snapshot",
    "/v1/export",
    "/v1/health",
    "/v1/ready",
    "/metrics",
    "/openapi.json",
    "/docs",
  ];
  return known.includes(pathname) ? pathname : "other";
}

/**
 * The request with a URL every layer can route. With no Host header (HTTP/1.0, HAProxy's
 * default health check), an empty or a malformed one, Bun hands over a URL without an origin,
 * which `new URL()` rejects; with a Host of three characters or fewer ("api"), Elysia looks
 * for the path from index 11 of the URL and routes "/v1/health" as "/health". The Host header
 * plays no part in routing here, so such requests get a neutral origin; the rest pass as they
 * are, at no cost.
 */
export function withRoutableUrl(request: Request): Request {
  const raw = request.url;
  let url: URL | null = null;
  try {
    url = new URL(raw);
  } catch {
    // no origin: "/v1/health"
  }
  if (url && url.host.length >= 4) return request;
  const pathAndQuery = url ? `${url.pathname}${url.search}` : raw.startsWith("/") ? raw : `/${raw}`;
  return new Request(`http://localhost${pathAndQuery}`, request);
}

/**
 * A request's whole answer has `ms` (`--http-timeout-secs`): past it the client gets `503
 * timeout` with Retry-After instead of waiting on a stuck disk or index; the work itself
 * carries on (a write that lands is still acknowledged by a retry's duplicate answer).
 */
async function withDeadline(work: Promise<Response>, ms: number): Promise<Response> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new StemeError(
            "timeout",
            503,
            `no answer within ${Math.round(ms / 1000)} s; the server is overloaded or its storage is slow`,
            {
              extra: { retry_after_s: 1 },
            },
          ),
        ),
      ms,
    );
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
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
      throw new StemeError("bad_config", 400, `${what}: cannot read ${file}: ${(err as Error).message}`);
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
  const store = await Store.open(config.dataDir, {
    create: true,
    sync: config.sync,
    segmentBytesMax: config.segmentBytesMax,
    logger,
    metrics,
    now,
  });
  let door: ReturnType<typeof openGuard>;
  try {
    door = openGuard(config, logger);
  } catch (err) {
    await store.close();
    throw err;
  }
  const { keys, guard } = door;
  bodyDeadline.ms = config.httpTimeoutSecs * 1000;
  const verifyPool = new VerifyPool(config.verifyThreads, { logger });
  // Content defense (SPEC §6). τ comes from the TrustService made below; the policy asks for
  // it only on writes, which start once the server listens.
  const defense = new Defense(store, {
    ...defenseOptions(config),
    trustOf: (agent) => trust.current.trustOf(agent),
    now,
    metrics,
    logger,
  });
  const ingest = new Ingest(store, {
    clockSkewMs: config.clockSkewMs,
    queueRecordsMax: config.queueRecordsMax,
    now,
    logger,
    metrics,
    verify: (sig, id, agent) => verifyPool.verify(sig, id, agent),
    gate: defense,
  });
  const trust = new TrustService(store, { intervalMs: config.trustIntervalMs, logger, now });
  trust.start();
  const engine = new QueryEngine(store, trust, { viewsMax: config.viewsMax, logger });
  metrics.sampleAtScrape({
    views: () => engine.views,
    trust: () => ({ lsn: trust.current.lsn, agents: trust.current.result.agents.size }),
    defense: () => defense.gauges(),
    backupStatus: () => readBackupStatus(store.dataDir.dir),
  });
  const decider = new Decider(store, ingest, now);
  const escalations = new Escalations(store, decider);
  const audit =
    config.auditEntriesMax > 0
      ? QueryAuditLog.open(path.join(config.dataDir, "audit.sqlite"), {
          retention: { entriesMax: config.auditEntriesMax, ageMaxMs: config.auditRetentionDays * 86_400_000 },
          now,
          logger,
        })
      : null;
  const ops = new OpsService(store, {
    backupDir: config.backupDir,
    archiveDir: config.archiveDir,
    archiveIntervalSecs: config.archiveIntervalSecs,
    archiveS3: config.archiveS3,
    logger,
    now,
  });
  ops.start();
  let stopping = false;
  const requestIds = new WeakMap<Request, string>();
  const callers = new WeakMap<Request, string>();
  const apiKeys = new WeakMap<Request, KeyInfo>();
  const nextRequestId = requestIdSource();
  const app = createApp({
    store,
    ingest,
    metrics,
    version,
    startedAtMs: now(),
    limits: {
      writeBodyBytesMax: config.writeBodyBytesMax,
      batchBodyBytesMax: config.batchBodyBytesMax,
      batchRecordsMax: config.batchRecordsMax,
    },
    isReady: () =>
      stopping
        ? { ready: false, reason: "shutting down" }
        : store.log.failed
          ? { ready: false, reason: "log write failed" }
          : store.indexFailure
            ? { ready: false, reason: `index failing: ${store.indexFailure.message}` }
            : { ready: true },
    requestIdOf: (r) => requestIds.get(r),
    engine,
    escalations,
    decider,
    defense,
    escalateKappa: config.escalateKappa,
    audit,
    callerOf: (r) => callers.get(r) ?? "unknown",
    apiKeyOf: (r) => apiKeys.get(r)?.id ?? null,
    keys,
    readBodyBytesMax: config.readBodyBytesMax,
    ops,
  });

  // Labelled children looked up once per (route, method, status): prom-client hashes label
  // objects on every call otherwise, a visible cost at tens of thousands of requests a second.
  const httpChildren = new Map<string, { count: { inc(): void }; seconds: { observe(v: number): void } }>();
  const fetch = async (raw: Request, bunServer: Server<undefined>): Promise<Response> => {
    const started = performance.now();
    const request = withRoutableUrl(raw);
    const address = bunServer.requestIP(raw)?.address ?? "unknown";
    const incoming = request.headers.get("x-request-id");
    const requestId = incoming && requestIdPattern.test(incoming) ? incoming : nextRequestId();
    requestIds.set(request, requestId);
    const pathname = new URL(request.url).pathname;
    let response: Response;
    let rateHeaders: Record<string, string> = {};
    try {
      const admission = guard.admit(request, pathname, address);
      rateHeaders = admission.headers;
      if (admission.key) apiKeys.set(request, admission.key);
      callers.set(request, admission.key ? `key:${admission.key.id}` : address);
      response = await withDeadline(app.handle(request), config.httpTimeoutSecs * 1000);
    } catch (err) {
      if (err instanceof RateLimitedError) {
        rateHeaders = err.headers;
        metrics.rateLimitRejectionsTotal.inc({ endpoint: classify(request.method, pathname) });
      }
      const e =
        err instanceof StemeError
          ? err
          : new StemeError("internal", 500, "internal error; see the server log for this request id");
      if (!(err instanceof StemeError))
        logger.error("request failed", {
          request_id: requestId,
          path: pathname,
          err: err as Error,
          stack: (err as Error)?.stack,
        });
      response = problemResponse(e, requestId);
    }
    response.headers.set("x-request-id", requestId);
    for (const [name, value] of Object.entries(rateHeaders)) response.headers.set(name, value);
    if (response.status === 413 || response.status === 408) metrics.limitRejectionsTotal.inc({ status: String(response.status) });
    const route = routeOf(pathname);
    const labels = `${route} ${request.method} ${response.status}`;
    let child = httpChildren.get(labels);
    if (!child) {
      child = {
        count: metrics.httpRequestsTotal.labels(route, request.method, String(response.status)),
        seconds: metrics.httpRequestSeconds.labels(route, request.method),
      };
      httpChildren.set(labels, child);
    }
    child.count.inc();
    child.seconds.observe((performance.now() - started) / 1000);
    if (response.status >= 400) metrics.errorsTotal.inc({ code: String(response.status), layer: "http" });
    if (response.status >= 500)
      logger.warn("request answered with a server error", { request_id: requestId, path: pathname, status: response.status });
    return response;
  };

  let server: Server<undefined>;
  try {
    server = Bun.serve({
      hostname: config.bindHost,
      port: config.bindPort,
      fetch,
      ...(config.tlsCertPath ? { tls: tlsOptions(config) } : {}),
      maxRequestBodySize: Math.max(config.batchBodyBytesMax, config.writeBodyBytesMax) + 1024,
      idleTimeout: Math.min(255, config.httpTimeoutSecs),
      error: (err) => {
        logger.error("server error", { err });
        return problemResponse(new StemeError("internal", 500, "internal error"));
      },
    });
  } catch (err) {
    trust.stop();
    ops.stop();
    engine.close();
    audit?.close();
    verifyPool.close();
    await store.close();
    if (err instanceof StemeError) throw err; // unreadable TLS files
    throw new StemeError(
      "bind_failed",
      500,
      `cannot listen on ${config.bindHost}:${config.bindPort}: ${(err as Error).message}`,
      {
        hint: "is another server on that port? pick another with --bind HOST:PORT",
      },
    );
  }
  const url = `${config.tlsCertPath ? "https" : "http"}://${config.bindHost.includes(":") ? `[${config.bindHost}]` : config.bindHost}:${server.port}`;
  logger.info("stemedb listening", { url, data_dir: config.dataDir, sync: config.sync, lsn: store.log.lastLsn, version });

  return {
    url,
    store,
    metrics,
    async stop() {
      if (stopping) return;
      stopping = true;
      await server.stop();
      trust.stop();
      ops.stop();
      engine.close();
      audit?.close();
      verifyPool.close();
      await store.close();
      logger.info("stemedb stopped", { lsn: store.log.lastLsn });
    },
  };
}
