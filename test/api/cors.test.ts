/**
 * The CORS decision (src/api/cors.ts) and the `--cors-origin` values (config.ts parseOrigins),
 * without a socket: which request gets which headers.
 */
import { describe, expect, test } from "bun:test";
import { CorsPolicy, corsAllowedHeaders, corsExposedHeaders, corsMaxAgeS } from "../../src/api/cors.ts";
import { loadConfig, parseOrigins } from "../../src/config/config.ts";

const page = "http://127.0.0.1:5173";
const policy = new CorsPolicy([page, "https://app.example.com"]);

function preflight(origin: string | null, path = "/v1/assert"): Request {
  const headers: Record<string, string> = {
    "access-control-request-method": "POST",
    "access-control-request-headers": "authorization, content-type",
  };
  if (origin !== null) headers.origin = origin;
  return new Request(`http://db.test${path}`, { method: "OPTIONS", headers });
}

function corsHeaders(headers: Headers): Record<string, string> {
  return Object.fromEntries([...headers].filter(([name]) => name.startsWith("access-control-") || name === "vary"));
}

describe("a preflight", () => {
  test("from a listed origin: that origin exactly, the path's methods, the client's headers, Max-Age, Vary", () => {
    const request = preflight(page);
    const response = policy.options(request, ["GET", "POST"]);
    policy.decorate(request, response.headers);
    expect(response.status).toBe(204);
    expect(response.headers.get("allow")).toBe("GET, POST, OPTIONS");
    expect(corsHeaders(response.headers)).toMatchObject({
      "access-control-allow-origin": page,
      "access-control-allow-methods": "GET, POST",
      "access-control-allow-headers": "authorization, content-type, x-request-id, last-event-id, accept",
      "access-control-max-age": String(corsMaxAgeS),
      vary: "Origin",
    });
    expect(response.headers.get("access-control-allow-credentials")).toBeNull();
  });

  test("from any other origin, or none, or a near miss: no CORS header at all (the browser then refuses)", () => {
    for (const origin of [
      "http://127.0.0.1:5174",
      "http://localhost:5173",
      "https://127.0.0.1:5173",
      "http://127.0.0.1:5173/",
      "HTTP://127.0.0.1:5173",
      "null",
      "https://app.example.com.evil.test",
      null,
    ]) {
      const request = preflight(origin);
      const response = policy.options(request, ["POST"]);
      policy.decorate(request, response.headers);
      expect(response.status).toBe(204);
      expect(corsHeaders(response.headers)).toEqual({ vary: "Origin" });
    }
  });

  test("a plain OPTIONS (no Access-Control-Request-Method) gets Allow only", () => {
    const request = new Request("http://db.test/v1/health", { method: "OPTIONS", headers: { origin: page } });
    const response = policy.options(request, ["GET"]);
    expect(response.headers.get("allow")).toBe("GET, OPTIONS");
    expect(response.headers.get("access-control-allow-methods")).toBeNull();
  });
});

describe("an actual request", () => {
  test("from a listed origin: Allow-Origin and the headers a script may read; from others: only Vary", () => {
    const listed = new Headers();
    policy.decorate(new Request("http://db.test/v1/health", { headers: { origin: "https://app.example.com" } }), listed);
    expect(corsHeaders(listed)).toEqual({
      "access-control-allow-origin": "https://app.example.com",
      "access-control-expose-headers": corsExposedHeaders.join(", "),
      vary: "Origin",
    });
    for (const name of ["x-request-id", "retry-after", "ratelimit", "ratelimit-policy", "x-bundle-merkle-root"])
      expect(corsExposedHeaders).toContain(name as (typeof corsExposedHeaders)[number]);
    const other = new Headers({ vary: "Accept" });
    policy.decorate(new Request("http://db.test/v1/health", { headers: { origin: "https://evil.test" } }), other);
    expect(corsHeaders(other)).toEqual({ vary: "Accept, Origin" });
  });

  test("with no origin listed, CORS is off: nothing is added, not even Vary", () => {
    const off = new CorsPolicy([]);
    const headers = new Headers();
    off.decorate(new Request("http://db.test/v1/health", { headers: { origin: page } }), headers);
    expect([...headers]).toEqual([]);
    const response = off.options(preflight(page), ["POST"]);
    expect(corsHeaders(response.headers)).toEqual({});
  });

  test("the allowed request headers are what the client sends", () => {
    expect([...corsAllowedHeaders]).toEqual(["authorization", "content-type", "x-request-id", "last-event-id", "accept"]);
  });
});

describe("--cors-origin values", () => {
  test("origins are kept as browsers send them: lowercase host, no default port, no trailing slash", () => {
    expect(parseOrigins("http://127.0.0.1:5173, HTTPS://App.Example.com:443/ ,http://localhost:80")).toEqual([
      "http://127.0.0.1:5173",
      "https://app.example.com",
      "http://localhost",
    ]);
    expect(parseOrigins("")).toEqual([]);
    expect(parseOrigins("http://a.test,http://a.test")).toEqual(["http://a.test"]);
  });

  test("anything but an http(s) origin is refused, naming the flag and the value", () => {
    for (const bad of [
      "*",
      "127.0.0.1:5173",
      "http://a.test/app",
      "http://a.test?x",
      "ftp://a.test",
      "http://u:p@a.test",
      "null",
    ]) {
      expect(() => parseOrigins(bad)).toThrow(`--cors-origin / STEMEDB_CORS_ORIGINS: expected an origin`);
    }
  });

  test("the flag repeats (its values come comma-joined) and the variable is a comma-separated list", () => {
    expect(loadConfig({ "cors-origin": "http://a.test,http://b.test" }, {}).corsOrigins).toEqual([
      "http://a.test",
      "http://b.test",
    ]);
    expect(loadConfig({}, { STEMEDB_CORS_ORIGINS: "http://c.test, http://d.test:8080" }).corsOrigins).toEqual([
      "http://c.test",
      "http://d.test:8080",
    ]);
    expect(loadConfig({}, {}).corsOrigins).toEqual([]);
  });
});
