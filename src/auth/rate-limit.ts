/**
 * Rate limits (docs/API.md#authentication-limits): a token bucket per principal (an API key, and the client's address)
 * per endpoint class. A bucket holds up to `burst` tokens and refills at `ratePerS`; a request
 * takes one. An empty bucket answers `429` with `Retry-After` (whole seconds until a token) and
 * the `RateLimit` / `RateLimit-Policy` fields of draft-ietf-httpapi-ratelimit-headers:
 *
 *     RateLimit-Policy: "write";q=10000;w=1
 *     RateLimit: "write";r=9874;t=0
 *
 * Buckets are created on first use and the least recently used are dropped past
 * `bucketsMax`, so a flood from many addresses cannot grow memory without bound.
 */
export type EndpointClass = "health" | "read" | "write" | "admin";

export interface RatePolicy {
  /** Tokens added per second; 0 means no limit. */
  ratePerS: number;
  burst: number;
}

export interface RateDecision {
  ok: boolean;
  /** Tokens left (floored). */
  remaining: number;
  /** Seconds until the next token when refused; 0 otherwise. */
  retryAfterS: number;
  policy: RatePolicy;
}

interface Bucket {
  tokens: number;
  atMs: number;
}

export const bucketsMaxDefault = 100_000;

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly policies: Readonly<Record<EndpointClass, RatePolicy>>,
    private readonly now: () => number = () => performance.now(),
    private readonly bucketsMax = bucketsMaxDefault,
  ) {}

  policy(cls: EndpointClass): RatePolicy {
    return this.policies[cls];
  }

  /** Takes a token from `principal`'s bucket for `cls`. */
  take(principal: string, cls: EndpointClass): RateDecision {
    const policy = this.policies[cls];
    if (policy.ratePerS <= 0) return { ok: true, remaining: Number.POSITIVE_INFINITY, retryAfterS: 0, policy };
    const key = `${cls} ${principal}`;
    const t = this.now();
    let b = this.buckets.get(key);
    if (b) {
      this.buckets.delete(key); // re-insert: Map order is least recently used first
      b.tokens = Math.min(policy.burst, b.tokens + ((t - b.atMs) / 1000) * policy.ratePerS);
      b.atMs = t;
    } else {
      b = { tokens: policy.burst, atMs: t };
      if (this.buckets.size >= this.bucketsMax) this.buckets.delete(this.buckets.keys().next().value as string);
    }
    this.buckets.set(key, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return { ok: true, remaining: Math.floor(b.tokens), retryAfterS: 0, policy };
    }
    return { ok: false, remaining: 0, retryAfterS: Math.max(1, Math.ceil((1 - b.tokens) / policy.ratePerS)), policy };
  }

  get size(): number {
    return this.buckets.size;
  }
}

/** The RateLimit and RateLimit-Policy header values for a decision. */
export function rateLimitHeaders(cls: EndpointClass, d: RateDecision): Record<string, string> {
  if (d.policy.ratePerS <= 0) return {};
  return {
    "ratelimit-policy": `"${cls}";q=${d.policy.ratePerS};w=1`,
    ratelimit: `"${cls}";r=${d.remaining};t=${d.retryAfterS}`,
  };
}
