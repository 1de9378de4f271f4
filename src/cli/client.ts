/**
 * The server client of the client commands: $STEMEDB_API_KEY as the bearer key, and a fetch
 * that turns "nobody answered" into `unreachable` naming the URL (exit 4). What the server did
 * answer comes back as StemeClientError and is said by fail.ts through the problem's code.
 */
import { StemeClient } from "../client/index.ts";
import { StemeError } from "../core/errors.ts";
import type { Env } from "./flags.ts";

/** Codes of a request that reached no server (Bun's and Node's names). */
const unreachableCodes: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ConnectionRefused: "connection refused",
  ECONNRESET: "the connection was reset",
  ConnectionClosed: "the connection was closed",
  ENOTFOUND: "no such host",
  EAI_AGAIN: "the host name could not be resolved now",
  ETIMEDOUT: "timed out",
  EHOSTUNREACH: "no route to the host",
  ENETUNREACH: "the network is unreachable",
  FailedToOpenSocket: "could not open a socket",
};

/** The reason a request reached no server, or null when `err` is something else. */
export function unreachableReason(err: unknown): string | null {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== "string") return null;
  if (code in unreachableCodes) return unreachableCodes[code] as string;
  // TLS: the server answered, but not as one this client trusts.
  if (/CERT|TLS|SSL|SELF_SIGNED|UNABLE_TO_VERIFY/.test(code)) return `TLS: ${(err as Error).message} (${code})`;
  return null;
}

/** A fetch that says which server could not be reached. */
export function reachingFetch(server: string, hint?: string): typeof fetch {
  const wrapped = async (input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) => {
    try {
      return await fetch(input, init);
    } catch (err) {
      const reason = unreachableReason(err);
      if (reason === null) throw err;
      throw new StemeError("unreachable", `cannot reach the server at ${server}: ${reason}`, {
        cause: err,
        ...(hint ? { hint } : {}),
      });
    }
  };
  return Object.assign(wrapped, { preconnect: fetch.preconnect }) as typeof fetch;
}

/** The API key's header, from $STEMEDB_API_KEY. */
export function authHeaders(env: Env): Record<string, string> {
  const key = env.STEMEDB_API_KEY;
  return key ? { authorization: `Bearer ${key}` } : {};
}

/** A client for `server` (already checked as an http(s) URL by its flag). */
export function connect(server: string, env: Env): StemeClient {
  return new StemeClient({ url: server, headers: authHeaders(env), fetch: reachingFetch(server) });
}
