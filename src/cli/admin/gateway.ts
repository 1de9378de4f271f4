/**
 * `stemedb admin`'s client: JSON over HTTP to one node (the gateway), and to other members'
 * API addresses when a command wants what only that node knows (its local shards). What a node
 * answers with a problem becomes a StemeClientError (fail.ts says it with the problem's code);
 * a node that cannot be reached is `unreachable` (exit 4); an answer that is not JSON is
 * `bad_response` (exit 3).
 */
import { clientProblem, type Problem, StemeClientError } from "../../client/errors.ts";
import { StemeError } from "../../core/errors.ts";
import { authHeaders, reachingFetch } from "../client.ts";
import type { Env } from "../flags.ts";

/** How long one request may take: the gateway answers these from memory. */
const requestTimeoutMs = 10_000;

/** `--gateway` as given: a URL, or HOST:PORT (http assumed). Returns what was expected, or null. */
export function checkGateway(value: string): string | null {
  return gatewayUrl(value) === null ? "a URL (http://host:port) or HOST:PORT" : null;
}

export function gatewayUrl(value: string): string | null {
  const text = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`;
  try {
    const url = new URL(text);
    if ((url.protocol !== "http:" && url.protocol !== "https:") || url.hostname === "") return null;
    if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(value) && url.port === "") return null; // HOST alone: say the port
    return url.origin;
  } catch {
    return null;
  }
}

export class Gateway {
  readonly base: string;
  private readonly headers: Record<string, string>;

  constructor(gateway: string, env: Env) {
    const base = gatewayUrl(gateway);
    if (base === null) throw new StemeError("usage", `--gateway: expected a URL or HOST:PORT, got ${JSON.stringify(gateway)}`);
    this.base = base;
    this.headers = { accept: "application/json", ...authHeaders(env) };
  }

  get<T>(path: string): Promise<T> {
    return this.call<T>(this.base, "GET", path);
  }

  post<T>(path: string): Promise<T> {
    return this.call<T>(this.base, "POST", path);
  }

  /** A GET to another member's API address (`host:port` as the members endpoint gives it), same scheme and key. */
  getFrom<T>(api: string, path: string, timeoutMs = 3000): Promise<T> {
    const scheme = new URL(this.base).protocol;
    return this.call<T>(`${scheme}//${api}`, "GET", path, timeoutMs);
  }

  private async call<T>(base: string, method: string, path: string, timeoutMs = requestTimeoutMs): Promise<T> {
    const url = `${base}${path}`;
    const hint =
      base === this.base
        ? "is the node running? (--gateway URL, or STEMEDB_GATEWAY_ADDR)"
        : "that member's API does not answer: it may be down or starting";
    const response = await reachingFetch(base, hint)(url, {
      method,
      headers: this.headers,
      signal: AbortSignal.timeout(timeoutMs),
    }).catch((err: unknown) => {
      if ((err as Error)?.name === "TimeoutError")
        throw new StemeError("unreachable", `no answer from ${base} within ${timeoutMs / 1000} s`, { hint });
      throw err;
    });
    const text = await response.text();
    let parsed: unknown = null;
    try {
      parsed = text.length > 0 ? JSON.parse(text) : null;
    } catch {
      throw answerError(response, `${url} did not answer JSON: ${text.slice(0, 120)}`, null);
    }
    if (!response.ok || parsed === null || typeof parsed !== "object")
      throw answerError(response, `${url}: ${text.slice(0, 200) || "an empty answer"}`, parsed);
    return parsed as T;
  }
}

function answerError(response: Response, detail: string, parsed: unknown): StemeClientError {
  const problem =
    parsed !== null && typeof parsed === "object" && typeof (parsed as { code?: unknown }).code === "string"
      ? (parsed as Problem)
      : clientProblem(response.status, "bad_response", "Not a StemeDB answer", `not a StemeDB node: ${detail}`);
  return new StemeClientError(response.status, problem, response.headers.get("x-request-id"));
}
