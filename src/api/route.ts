/**
 * The route table's row and what is derived from the table: matching a request to its route
 * (with its path parameters), the methods a path takes (405 and `Allow`), the endpoint class
 * the door checks (auth/guard.ts), the metric label, and the Elysia registration. The OpenAPI
 * document is derived from the same rows (openapi/document.ts). A route is written once, in
 * its concept's module under api/routes/.
 *
 * Path templates use OpenAPI's syntax: `{name}` is one path segment; `{name+}` is one or more
 * segments, slashes and all (a subject path, a source id with slashes), up to the fixed tail
 * that follows it. Parameters are percent-decoded; a segment that is not valid
 * percent-encoding is a 400.
 */
import type { EndpointClass } from "../auth/rate-limit.ts";
import { invariant, StemeError } from "../core/errors.ts";
import type { OperationDoc } from "./openapi/operation.ts";
import { badQuery } from "./problem.ts";

export type HttpMethod = "GET" | "POST" | "DELETE";

export interface RouteContext {
  request: Request;
  url: URL;
  /** Path parameters, percent-decoded. */
  params: Record<string, string>;
}

export interface Route {
  method: HttpMethod;
  /** The path template (see the top of this file). */
  path: string;
  /** The role it needs and the rate bucket it draws on (auth/guard.ts). */
  class: EndpointClass;
  handle(ctx: RouteContext): Response | Promise<Response>;
  /**
   * A long-lived answer (server-sent events): the connection's idle timeout is off while it
   * streams (heartbeats keep proxies awake), and the request deadline covers only its headers.
   */
  stream?: true;
  /** Its description; its OpenAPI operation is derived from it. */
  doc: OperationDoc;
}

/** What `mount` needs of an Elysia app. */
interface Mountable {
  route(method: string, path: string, handler: (ctx: { request: Request }) => unknown, hook: { parse: "none" }): unknown;
}

export interface RouteMatch {
  route: Route;
  params: Record<string, string>;
}

interface Compiled {
  route: Route;
  pattern: RegExp;
  names: string[];
}

const paramPattern = /\{([a-z_]+)(\+?)\}/g;

/** `/v1/sources/{id+}/impact` → the OpenAPI path `/v1/sources/{id}/impact`. */
export function openApiPath(template: string): string {
  return template.replace(paramPattern, "{$1}");
}

/** `/v1/assertions/{id}` → the metric label `/v1/assertions/:id`. */
export function metricLabel(template: string): string {
  return template.replace(paramPattern, ":$1");
}

/** The path Elysia registers: `{name}` → `:name`; a greedy parameter and all after it → `*`. */
function elysiaPath(template: string): string {
  const greedy = template.indexOf("+}");
  const head = greedy < 0 ? template : template.slice(0, template.lastIndexOf("{", greedy));
  return head.replace(paramPattern, ":$1") + (greedy < 0 ? "" : "*");
}

function compile(route: Route): Compiled {
  const names: string[] = [];
  let source = "";
  let last = 0;
  for (const m of route.path.matchAll(paramPattern)) {
    source += escapeRegExp(route.path.slice(last, m.index)) + (m[2] ? "(.+?)" : "([^/]+)");
    names.push(m[1] as string);
    last = (m.index as number) + m[0].length;
  }
  source += escapeRegExp(route.path.slice(last));
  return { route, pattern: new RegExp(`^${source}$`), names };
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function decodeParam(name: string, raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw badQuery(name, "the path is not valid percent-encoding");
  }
}

export class Router {
  /** Routes without parameters, by path then method: the hot ones, one lookup. */
  private readonly fixed = new Map<string, Map<HttpMethod, Route>>();
  /** Routes with parameters, in table order: a route with a fixed tail before a catch-all. */
  private readonly templated: Compiled[] = [];

  constructor(readonly routes: readonly Route[]) {
    const seen = new Set<string>();
    for (const route of routes) {
      const key = `${route.method} ${route.path}`;
      invariant(!seen.has(key), `route ${key} is in the table once`);
      seen.add(key);
      if (!route.path.includes("{")) {
        const byMethod = this.fixed.get(route.path) ?? new Map<HttpMethod, Route>();
        byMethod.set(route.method, route);
        this.fixed.set(route.path, byMethod);
      } else this.templated.push(compile(route));
    }
  }

  /** The route for a request, with its parameters; null when none takes this method and path. */
  match(method: string, pathname: string): RouteMatch | null {
    const route = this.fixed.get(pathname)?.get(method as HttpMethod);
    if (route) return { route, params: {} };
    for (const c of this.templated) {
      if (c.route.method !== method) continue;
      const m = c.pattern.exec(pathname);
      if (!m) continue;
      const params: Record<string, string> = {};
      c.names.forEach((name, i) => {
        params[name] = decodeParam(name, m[i + 1] as string);
      });
      return { route: c.route, params };
    }
    return null;
  }

  /** The methods a path takes, for 405 answers and `Allow`; empty when no route has the path. */
  methodsFor(pathname: string): HttpMethod[] {
    const methods = new Set<HttpMethod>(this.fixed.get(pathname)?.keys() ?? []);
    for (const c of this.templated) if (c.pattern.test(pathname)) methods.add(c.route.method);
    return [...methods].sort();
  }

  /** Registers every route with Elysia; each registration dispatches through `match`. */
  mount(app: Mountable): void {
    const registered = new Set<string>();
    for (const route of this.routes) {
      const path = elysiaPath(route.path);
      const key = `${route.method} ${path}`;
      if (registered.has(key)) continue; // routes sharing a greedy prefix share a registration
      registered.add(key);
      app.route(route.method, path, ({ request }) => this.dispatch(request), { parse: "none" });
    }
  }

  private dispatch(request: Request): Response | Promise<Response> {
    const url = new URL(request.url);
    const found = this.match(request.method, url.pathname);
    if (!found) throw new StemeError("not_found", `no route for ${request.method} ${url.pathname}`);
    return found.route.handle({ request, url, params: found.params });
  }
}
