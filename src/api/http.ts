/**
 * Every request's way through the server: a URL every layer can route, a request id, its
 * route from the table (for the door's class and the metric label), the door, a deadline on
 * the whole answer, and then the app. Every response carries `X-Request-Id`, the door's
 * rate-limit headers and, for a page on a `--cors-origin`, the CORS headers (cors.ts); every
 * request is counted and timed by route; a bug is logged with its stack and answered `500
 * internal` as a problem, never a stack trace. `OPTIONS` (a browser's preflight) is answered
 * from the route table before the door: it carries no API key and costs nothing.
 */
import { type Guard, type KeyInfo, RateLimitedError } from "../auth/index.ts";
import type { EndpointClass } from "../auth/rate-limit.ts";
import { StemeError } from "../core/errors.ts";
import type { Logger } from "../core/logger.ts";
import type { Metrics } from "../metrics/index.ts";
import type { CorsPolicy } from "./cors.ts";
import type { RequestFacts } from "./node.ts";
import { problemResponse } from "./problem.ts";
import { metricLabel, type Route, type Router } from "./route.ts";

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
    const message = `no answer within ${Math.round(ms / 1000)} s; the server is overloaded or its storage is slow`;
    timer = setTimeout(() => reject(new StemeError("timeout", message, { extra: { retry_after_s: 1 } })), ms);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** What the server learns about each request (its id, its caller, its API key), for the app to ask. */
export class RequestBook {
  readonly requestIds = new WeakMap<Request, string>();
  readonly callers = new WeakMap<Request, string>();
  readonly apiKeys = new WeakMap<Request, KeyInfo>();
  readonly addresses = new WeakMap<Request, string>();
  /** Streaming requests: sets the connection's idle timeout again, seconds. */
  readonly lingers = new WeakMap<Request, (secs: number) => void>();
  readonly facts: RequestFacts = {
    requestIdOf: (r) => this.requestIds.get(r),
    callerOf: (r) => this.callers.get(r) ?? "unknown",
    apiKeyOf: (r) => this.apiKeys.get(r)?.id ?? null,
    addressOf: (r) => this.addresses.get(r) ?? "unknown",
    lingerOf: (r) => this.lingers.get(r) ?? (() => {}),
  };
}

export interface RequestHandlerOptions {
  app: { handle(request: Request): Promise<Response> };
  book: RequestBook;
  router: Router;
  guard: Guard;
  metrics: Metrics;
  logger: Logger;
  timeoutMs: number;
  cors: CorsPolicy;
}

/** Counts and times each request by route, method and status, with children looked up once. */
function requestMeter(metrics: Metrics) {
  // prom-client hashes label objects on every call otherwise, a visible cost at tens of
  // thousands of requests a second.
  const children = new Map<string, { count: { inc(): void }; seconds: { observe(v: number): void } }>();
  return (label: string, method: string, status: number, seconds: number) => {
    const key = `${label} ${method} ${status}`;
    let child = children.get(key);
    if (!child) {
      child = {
        count: metrics.httpRequestsTotal.labels(label, method, String(status)),
        seconds: metrics.httpRequestSeconds.labels(label, method),
      };
      children.set(key, child);
    }
    child.count.inc();
    child.seconds.observe(seconds);
    if (status === 413 || status === 408) metrics.limitRejectionsTotal.inc({ status: String(status) });
    if (status >= 400) metrics.errorsTotal.inc({ code: String(status), layer: "http" });
  };
}

/**
 * Who a request came from: Bun's server, or — for a request the node makes to itself
 * in-process (the /mcp tools) — the address of the request that caused it.
 */
export interface Peer {
  requestIP(request: Request): { address: string } | null;
  /** The connection's idle timeout, seconds (0: none); absent for an in-process request. */
  timeout?(request: Request, secs: number): void;
}

/** The request handler for Bun.serve; what it learns of each request goes into `options.book`. */
export function requestHandler(options: RequestHandlerOptions): (raw: Request, server: Peer) => Promise<Response> {
  const { router, guard, metrics, logger, cors } = options;
  const { requestIds, callers, apiKeys, addresses } = options.book;
  const nextRequestId = requestIdSource();
  const labels = new Map<Route, string>(router.routes.map((r) => [r, metricLabel(r.path)]));
  const meter = requestMeter(metrics);

  const admitAndHandle = async (request: Request, route: Route | undefined, address: string, headers: Headers) => {
    const cls: EndpointClass = route?.class ?? "read"; // an unknown path is a read: with keys, 401 before 404
    try {
      const admission = guard.admit(request, cls, address);
      for (const [name, value] of Object.entries(admission.headers)) headers.set(name, value);
      if (admission.key) apiKeys.set(request, admission.key);
      callers.set(request, admission.key ? `key:${admission.key.id}` : address);
    } catch (err) {
      if (err instanceof RateLimitedError) {
        for (const [name, value] of Object.entries(err.headers)) headers.set(name, value);
        metrics.rateLimitRejectionsTotal.inc({ endpoint: cls });
      }
      throw err;
    }
    return withDeadline(options.app.handle(request), options.timeoutMs);
  };

  return async (raw: Request, bunServer: Peer): Promise<Response> => {
    const started = performance.now();
    const request = withRoutableUrl(raw);
    const incoming = request.headers.get("x-request-id");
    const requestId = incoming && requestIdPattern.test(incoming) ? incoming : nextRequestId();
    requestIds.set(request, requestId);
    const pathname = new URL(request.url).pathname;
    const extra = new Headers();
    let route: Route | undefined;
    let response: Response;
    try {
      if (request.method === "OPTIONS") {
        const methods = router.methodsFor(pathname);
        if (methods.length === 0) throw new StemeError("not_found", `no route for ${pathname}`);
        route = router.match(methods[0] as string, pathname)?.route; // the path's metric label
        response = cors.options(request, methods);
      } else {
        route = router.match(request.method, pathname)?.route;
        if (route?.stream) options.book.lingers.set(request, (secs) => bunServer.timeout?.(raw, secs));
        const address = bunServer.requestIP(raw)?.address ?? "unknown";
        addresses.set(request, address);
        response = await admitAndHandle(request, route, address, extra);
        // Bun's idle timeout closes a streaming answer however much it writes: off while it
        // streams (its heartbeats keep the connection in use; it sets a timeout again to let go).
        // A refused one keeps the timeout, like any answer.
        if (route?.stream && response.ok && response.body) bunServer.timeout?.(raw, 0);
      }
    } catch (err) {
      response = problemResponse(asProblem(err, logger, requestId, pathname), requestId);
    }
    response.headers.set("x-request-id", requestId);
    for (const [name, value] of extra) response.headers.set(name, value);
    cors.decorate(request, response.headers);
    meter(route ? (labels.get(route) as string) : "other", request.method, response.status, (performance.now() - started) / 1000);
    // A 503 (overloaded, index damaged, shutting down) is expected under its condition and counted
    // in the metrics; logging each would flood the log while it lasts.
    if (response.status >= 500 && response.status !== 503)
      logger.warn("request answered with a server error", { request_id: requestId, path: pathname, status: response.status });
    return response;
  };
}

/** An operating error as it is; a bug logged with its stack and answered `internal`. */
function asProblem(err: unknown, logger: Logger, requestId: string, path: string): StemeError {
  if (err instanceof StemeError) return err;
  logger.error("request failed", { request_id: requestId, path, err: err as Error, stack: (err as Error)?.stack });
  return new StemeError("internal", "internal error; see the server log for this request id");
}
