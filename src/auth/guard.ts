/**
 * The door: every request comes with its endpoint's class (health, read, write, admin — from
 * the route table, api/route.ts), is authenticated when the node has API keys, checked
 * against the role the class needs, and rate-limited per key and per client address. Failures are problems with stable codes: `401 unauthorized` (no key,
 * an unknown or revoked one), `403 forbidden` (a role too low), `429 rate_limited`.
 *
 * With no active keys the node is open (serve.ts refuses that unless bound to loopback or
 * told `--insecure`); the moment a key exists — made over HTTP or with `stemedb keys` — every
 * request but health checks needs one.
 */
import { StemeError } from "../core/errors.ts";
import { type KeyInfo, type KeyStore, type Role, roleAtLeast } from "./keys.ts";
import { type EndpointClass, type RateLimiter, rateLimitHeaders } from "./rate-limit.ts";

/** The role each class of endpoint needs; health checks need none. */
export const roleFor: Record<EndpointClass, Role | null> = { health: null, read: "reader", write: "writer", admin: "admin" };

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

  /** Admits the request to an endpoint of class `cls`, or throws the problem to answer with. */
  admit(request: Request, cls: EndpointClass, clientAddress: string): Admission {
    let key: KeyInfo | null = null;
    const need = roleFor[cls];
    if (need !== null && this.keys.activeCount > 0) {
      const header = request.headers.get("authorization");
      const secret = header?.startsWith("Bearer ") ? header.slice(7).trim() : null;
      if (!secret) throw new StemeError("unauthorized", "an API key is required: Authorization: Bearer <secret>");
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
