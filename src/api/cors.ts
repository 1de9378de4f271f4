/**
 * Browsers (docs/API.md#browsers-cors): a page on another origin may call the API when the
 * operator lists its origin with `--cors-origin` (the Fetch standard's CORS protocol,
 * https://fetch.spec.whatwg.org/#http-cors-protocol).
 *
 * - `OPTIONS` on a path is answered here, before the door: `204` with `Allow` (the methods the
 *   route table has for the path, `Router.methodsFor`), or `404` for a path no route has. A
 *   browser's preflight carries no API key, so it must not need one, and it costs nothing to
 *   answer, so it draws on no rate bucket.
 * - A preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) from a listed
 *   origin also gets `Access-Control-Allow-Origin` (that origin, exactly), the path's methods,
 *   the request headers the client sends (authorization, content-type, x-request-id,
 *   last-event-id, accept) and a `Max-Age`. From any other origin it gets no CORS header at
 *   all, so the browser refuses the request it was asking about.
 * - Every other answer to a listed origin carries `Access-Control-Allow-Origin` and
 *   `Access-Control-Expose-Headers` naming the headers a client reads (request id,
 *   Retry-After, RateLimit, the export's X-Bundle-*); without them a page's script could not
 *   see them.
 * - With any origin listed, every answer says `Vary: Origin`, so a cache never hands one
 *   origin's answer to another.
 *
 * No `Access-Control-Allow-Credentials`: the API key travels in `Authorization`, set by the
 * page's script, never as a cookie the browser would add on its own.
 */

export const corsAllowedHeaders = ["authorization", "content-type", "x-request-id", "last-event-id", "accept"] as const;
export const corsExposedHeaders = [
  "x-request-id",
  "retry-after",
  "ratelimit",
  "ratelimit-policy",
  "www-authenticate",
  "content-disposition",
  "x-bundle-records",
  "x-bundle-merkle-root",
  "x-bundle-lsn",
] as const;
/** How long a browser may keep a preflight's answer (Chromium keeps at most 2 h, Firefox 24 h). */
export const corsMaxAgeS = 600;

export class CorsPolicy {
  private readonly origins: ReadonlySet<string>;

  /** `origins`: exact origins as config.ts's parseOrigins gives them; none turns CORS off. */
  constructor(origins: readonly string[]) {
    this.origins = new Set(origins);
  }

  /** The request's origin when it is one of the listed ones, else null. */
  allowedOrigin(request: Request): string | null {
    if (this.origins.size === 0) return null;
    const origin = request.headers.get("origin");
    return origin !== null && this.origins.has(origin) ? origin : null;
  }

  /**
   * The answer to `OPTIONS` on a path the route table has `methods` for (at least one): `Allow`,
   * and for a listed origin's preflight the Access-Control-Allow-* headers. `decorate` adds
   * the rest, as to every answer.
   */
  options(request: Request, methods: readonly string[]): Response {
    const headers = new Headers({ allow: [...methods, "OPTIONS"].join(", ") });
    const origin = this.allowedOrigin(request);
    if (origin !== null && request.headers.has("access-control-request-method")) {
      headers.set("access-control-allow-origin", origin);
      headers.set("access-control-allow-methods", methods.join(", "));
      headers.set("access-control-allow-headers", corsAllowedHeaders.join(", "));
      headers.set("access-control-max-age", String(corsMaxAgeS));
    }
    return new Response(null, { status: 204, headers });
  }

  /** Adds the CORS headers an answer to `request` needs (none when CORS is off). */
  decorate(request: Request, headers: Headers): void {
    if (this.origins.size === 0) return;
    headers.append("vary", "Origin");
    const origin = this.allowedOrigin(request);
    if (origin === null) return;
    headers.set("access-control-allow-origin", origin);
    headers.set("access-control-expose-headers", corsExposedHeaders.join(", "));
  }
}
