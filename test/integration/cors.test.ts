/**
 * CORS against a real server process started with `--cors-origin` twice and API keys: preflights
 * need no key and draw on no rate bucket; actual answers (successes, 401s, 429s) carry the
 * headers a page's script needs; other origins get none. The browser's side of it is
 * test/integration/client-browser.test.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { generateKeyPair, signClaim, toJsonSubmission } from "../../src/client/index.ts";
import { initDataDir } from "../../src/store/datadir.ts";
import { cleanupAll, runCli, type ServerProcess, spawnServer, tempDir } from "./helpers.ts";

const page = "http://127.0.0.1:5173";
const other = "https://app.example.com";
let server: ServerProcess;
let writer = "";

beforeAll(async () => {
  const dir = tempDir("stemedb-cors-");
  initDataDir(dir);
  const made = await runCli(["keys", "create", "--data-dir", dir, "--role", "writer", "--name", "page"]);
  expect(made.code).toBe(0);
  writer = made.stdout.trim().split("\n").at(-1) as string;
  // One write a second (burst 2): a preflight that drew on the write bucket would empty it.
  server = await spawnServer(dir, {
    args: ["--cors-origin", page, "--cors-origin", `${other}/`, "--rate-write", "1", "--log-level", "warn"],
  });
});

afterAll(async () => {
  await cleanupAll();
});

function preflight(path: string, origin: string, method = "POST"): Promise<Response> {
  return fetch(`${server.url}${path}`, {
    method: "OPTIONS",
    headers: { origin, "access-control-request-method": method, "access-control-request-headers": "authorization,content-type" },
  });
}

describe("preflight", () => {
  test("a listed origin is answered 204 with no API key, with the path's methods from the route table", async () => {
    const res = await preflight("/v1/assert", page);
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe(page);
    expect(res.headers.get("access-control-allow-methods")).toBe("POST");
    expect(res.headers.get("access-control-allow-headers")).toContain("authorization");
    expect(res.headers.get("access-control-max-age")).toBe("600");
    expect(res.headers.get("vary")).toBe("Origin");
    expect(res.headers.get("x-request-id")).toBeTruthy();
    // The second origin was given with a trailing slash: it is matched as browsers send it.
    expect((await preflight("/v1/assertions/00", other, "GET")).headers.get("access-control-allow-origin")).toBe(other);
    const templated = await preflight("/v1/admin/keys/abc", page, "DELETE");
    expect(templated.headers.get("access-control-allow-methods")).toBe("DELETE");
  });

  test("another origin's preflight gets no CORS header (the browser refuses); an unknown path is 404", async () => {
    for (const origin of ["http://127.0.0.1:5174", "http://evil.test"]) {
      const res = await preflight("/v1/assert", origin);
      expect(res.status).toBe(204);
      expect(res.headers.get("access-control-allow-origin")).toBeNull();
      expect(res.headers.get("access-control-allow-methods")).toBeNull();
    }
    const missing = await preflight("/v1/nothing-here", page);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { code: string }).code).toBe("not_found");
  });

  test("preflights draw on no rate bucket: 30 of them, then the two writes the bucket holds still pass", async () => {
    for (let i = 0; i < 30; i++) expect((await preflight("/v1/assert", page)).status).toBe(204);
    const key = generateKeyPair();
    const statuses: number[] = [];
    const limited: Response[] = [];
    for (let i = 0; i < 3; i++) {
      const signed = signClaim(key, { kind: "assertion", subject: "cors/drug", predicate: "n", object: i, confidence: 0.5 });
      const res = await fetch(`${server.url}/v1/assert`, {
        method: "POST",
        headers: { origin: page, authorization: `Bearer ${writer}`, "content-type": "application/json" },
        body: JSON.stringify(toJsonSubmission(signed)),
      });
      statuses.push(res.status);
      if (res.status === 429) limited.push(res);
      await res.arrayBuffer();
    }
    expect(statuses.slice(0, 2)).toEqual([201, 201]);
    expect(statuses[2]).toBe(429);
    // A page can read why and when to come back.
    const refused = limited[0] as Response;
    expect(refused.headers.get("access-control-allow-origin")).toBe(page);
    expect(refused.headers.get("access-control-expose-headers")).toContain("retry-after");
    expect(refused.headers.get("retry-after")).toBeTruthy();
  });
});

describe("actual requests", () => {
  test("a listed origin's answers carry Allow-Origin and Expose-Headers, a 401 too; others only Vary", async () => {
    const ok = await fetch(`${server.url}/v1/health`, { headers: { origin: page } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get("access-control-allow-origin")).toBe(page);
    expect(ok.headers.get("access-control-expose-headers")?.split(", ")).toEqual(
      expect.arrayContaining(["x-request-id", "retry-after", "ratelimit", "ratelimit-policy", "x-bundle-merkle-root"]),
    );
    expect(ok.headers.get("vary")).toBe("Origin");
    const unauthorized = await fetch(`${server.url}/v1/agents`, { headers: { origin: page } });
    expect(unauthorized.status).toBe(401);
    expect(unauthorized.headers.get("access-control-allow-origin")).toBe(page);
    const foreign = await fetch(`${server.url}/v1/health`, { headers: { origin: "http://evil.test" } });
    expect(foreign.headers.get("access-control-allow-origin")).toBeNull();
    expect(foreign.headers.get("vary")).toBe("Origin");
    const none = await fetch(`${server.url}/v1/health`);
    expect(none.headers.get("access-control-allow-origin")).toBeNull();
  });

  test("a server without --cors-origin answers OPTIONS with Allow only and adds no CORS header anywhere", async () => {
    const plain = await spawnServer(tempDir("stemedb-cors-off-"), { args: ["--log-level", "warn"] });
    const res = await fetch(`${plain.url}/v1/assert`, {
      method: "OPTIONS",
      headers: { origin: page, "access-control-request-method": "POST" },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get("allow")).toBe("POST, OPTIONS");
    expect([...res.headers.keys()].filter((h) => h.startsWith("access-control-") || h === "vary")).toEqual([]);
    const health = await fetch(`${plain.url}/v1/health`, { headers: { origin: page } });
    expect(health.headers.get("access-control-allow-origin")).toBeNull();
    await plain.stop();
  });

  test("a wrong --cors-origin stops the server at start with a clear message", async () => {
    const r = await runCli(["serve", "--data-dir", tempDir("stemedb-cors-bad-"), "--bind", "127.0.0.1:0", "--cors-origin", "*"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--cors-origin / STEMEDB_CORS_ORIGINS: expected an origin: http(s)://host[:port], without a path");
  });
});
