/**
 * The door: every request is classified (health, read, write, admin), authenticated when the
 * node has API keys, checked against the role the class needs, and rate-limited per key and
 * per client address. Failures are problems with stable codes: `401 unauthorized` (no key,
 * an unknown or revoked one), `403 forbidden` (a role too low), `429 rate_limited`.
 *
 * With no active keys the node is open (serve.ts refuses that unless bound to loopback or
 * told `--insecure`); the moment a key exists — made over HTTP or with `stemedb keys` — every
 * request but health checks needs one.
 */
import { StemeError } from "../core/errors.ts";
import { type KeyInfo, type KeyStore, type Role, roleAtLeast } from "./keys.ts";
import { type EndpointClass, type RateLimiter, rateLimitHeaders } from "./rate-limit.ts";

/** Health checks and the API's own description: no key, no rate limit. */
const healthPaths = new Set(["/v1/health", "/v1/ready", "/metrics", "/openapi.json", "/docs"]);
const writePaths = new Set(["/v1/assert", "/v1/assert/batch", "/v1/vote", "/v1/retract", "/v1/sources", "/v1/epochs"]);

/** The class of an endpoint: what role it needs and which rate bucket it draws on. */
export function classify(method: string, pathname: string): EndpointClass {
  if (healthPaths.has(pathname)) return "health";
  if (pathname.startsWith("/v1/admin/")) return "admin";
  if (method === "POST" && /^\/v1\/escalations\/[^/]+\/resolve$/.test(pathname)) return "admin";
  if (method === "POST" && /^\/v1\/epochs\/.+\/supersede$/.test(pathname)) return "admin";
  if (method === "POST" && (writePaths.has(pathname) || /^\/v1\/sources\/.+\/retract$/.test(pathname))) return "write";
  return "read";
}

const roleFor: Record<EndpointClass, Role | null> = { health: null, read: "reader", write: "writer", admin: "admin" };

/** A 429 that carries its RateLimit header fields for the response. */
export class RateLimitedError extends StemeError {
  constructor(
    cls: EndpointClass,
    retryAfterS: number,
    readonly headers: Record<string, string>,
  ) {
    super("rate_limited", `too many ${cls} requests; retry in ${retryAfterS} s`, {
      extra: { retry_after_s: retryAfterS },
    });
  }
}

export interface Admission {
  key: KeyInfo | null;
  cls: EndpointClass;
  headers: Record<string, string>;
}

export class Guard {
  rejections = new Map<string, number>();

  constructor(
    private readonly keys: KeyStore,
    private readonly limiter: RateLimiter,
  ) {}

  /** Admits the request or throws the problem to answer with. */
  admit(request: Request, pathname: string, clientAddress: string): Admission {
    const cls = classify(request.method, pathname);
    let key: KeyInfo | null = null;
    const need = roleFor[cls];
    if (need !== null && this.keys.activeCount > 0) {
      const header = request.headers.get("authorization");
      const secret = header?.startsWith("Bearer ") ? header.slice(7).trim() : null;
      if (!secret)
        throw new StemeError("unauthorized", "an API key is required: Authorization: Bearer <secret>", {
          hint: "an admin makes keys with POST /v1/admin/keys or `stemedb keys create`",
        });
      key = this.keys.authenticate(secret);
      if (!key) throw new StemeError("unauthorized", "the API key is unknown or revoked");
      if (!roleAtLeast(key.role, need))
        throw new StemeError("forbidden", `this endpoint needs the ${need} role; the key has ${key.role}`);
    }
    const headers = this.limit(cls, key, clientAddress);
    return { key, cls, headers };
  }

  private limit(cls: EndpointClass, key: KeyInfo | null, clientAddress: string): Record<string, string> {
    const byAddress = this.limiter.take(`ip:${clientAddress}`, cls);
    const byKey = key ? this.limiter.take(`key:${key.id}`, cls) : byAddress;
    const worst = !byAddress.ok ? byAddress : !byKey.ok ? byKey : byKey.remaining < byAddress.remaining ? byKey : byAddress;
    const headers = rateLimitHeaders(cls, worst);
    if (!worst.ok) {
      this.rejections.set(cls, (this.rejections.get(cls) ?? 0) + 1);
      throw new RateLimitedError(cls, worst.retryAfterS, headers);
    }
    return headers;
  }
}
