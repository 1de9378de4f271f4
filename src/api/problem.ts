/** RFC 9457 problem documents and the JSON/CBOR response helpers every route uses. */
import { encode as encodeCbor } from "cbor-x";
import { StemeError } from "../core/errors.ts";

export const problemContentType = "application/problem+json";

export function problemResponse(err: StemeError, requestId?: string): Response {
  const headers: Record<string, string> = { "content-type": problemContentType };
  const retryAfter = err.extra.retry_after_s;
  if (typeof retryAfter === "number") headers["retry-after"] = String(retryAfter);
  // RFC 9110 §11.6.1: a 401 names the scheme to authenticate with (RFC 6750: Bearer).
  if (err.status === 401) headers["www-authenticate"] = 'Bearer realm="stemedb"';
  return new Response(JSON.stringify({ ...err.toProblem(), ...(requestId ? { request_id: requestId } : {}) }), {
    status: err.status,
    headers,
  });
}

export function json(value: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(value), { status, headers: { "content-type": "application/json", ...headers } });
}

/** JSON, or CBOR when the client asked for it with `Accept: application/cbor`. */
export function negotiated(request: Request, value: unknown, status = 200): Response {
  if ((request.headers.get("accept") ?? "").includes("application/cbor")) {
    return new Response(encodeCbor(value), { status, headers: { "content-type": "application/cbor" } });
  }
  return json(value, status);
}

export function notFound(what: string): StemeError {
  return new StemeError("not_found", `${what} not found`);
}

export function badQuery(field: string, message: string): StemeError {
  return new StemeError("invalid_query", `${field}: ${message}`, { extra: { field } });
}
