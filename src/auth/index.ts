/**
 * The auth layer's face: API keys, the guard (roles and rate limits), and the start-up rule
 * for running without keys (docs/API.md#authentication-limits): bound only to loopback with no keys, the server runs
 * open and says so; bound anywhere else it refuses to start without keys unless `--insecure`.
 */
import { StemeError } from "../core/errors.ts";
import type { Logger } from "../core/logger.ts";
import { Guard } from "./guard.ts";
import { KeyStore } from "./keys.ts";
import { RateLimiter } from "./rate-limit.ts";

export { Guard, RateLimitedError, roleFor } from "./guard.ts";
export { type KeyInfo, KeyStore, type Role, roles } from "./keys.ts";
export { type EndpointClass, RateLimiter } from "./rate-limit.ts";

export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

export interface GuardConfig {
  dataDir: string;
  bindHost: string;
  insecure: boolean;
  rateRead: number;
  rateWrite: number;
  rateAdmin: number;
}

export function openGuard(config: GuardConfig, logger: Logger): { keys: KeyStore; guard: Guard } {
  const keys = new KeyStore(config.dataDir, Date.now, logger);
  if (keys.activeCount === 0) {
    if (isLoopback(config.bindHost))
      logger.warn("no API keys: the server is open to anyone who can reach this address", {
        bind: config.bindHost,
        hint: "make an admin key: stemedb keys create --data-dir DIR --role admin --name NAME",
      });
    else if (config.insecure)
      logger.warn("INSECURE: no API keys and bound beyond loopback; anyone on the network can write and administer", {
        bind: config.bindHost,
      });
    else
      throw new StemeError("no_keys", `refusing to serve on ${config.bindHost} without API keys`, {
        hint: "make an admin key first (stemedb keys create --data-dir DIR --role admin --name NAME), bind to 127.0.0.1, or pass --insecure",
      });
  }
  const policy = (rate: number) => ({ ratePerS: rate, burst: rate * 2 });
  const limiter = new RateLimiter({
    health: { ratePerS: 0, burst: 0 },
    read: policy(config.rateRead),
    write: policy(config.rateWrite),
    admin: policy(config.rateAdmin),
  });
  return { keys, guard: new Guard(keys, limiter) };
}
