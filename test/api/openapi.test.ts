/**
 * The route table and what is derived from it, without sockets: Elysia registration and
 * dispatch (every route reachable at its path, and nothing else), 405 with `Allow`, the door's
 * class and role, metric labels, and the OpenAPI document (3.1 in structure, its problem
 * list read from the error table). test/integration/openapi.test.ts holds real answers to the
 * documented schemas.
 */
import { describe, expect, test } from "bun:test";
import fs from "node:fs";
import path from "node:path";
import { type AppDeps, apiRoutes, createApp } from "../../src/api/app.ts";
import { openApiDocument } from "../../src/api/openapi/document.ts";
import type { OpenApiDocument, Operation } from "../../src/api/openapi/types.ts";
import { metricLabel, openApiPath, type Route, Router } from "../../src/api/route.ts";
import { version } from "../../src/api/serve.ts";
import { roleFor } from "../../src/auth/guard.ts";
import { httpProblemCodes, problems } from "../../src/core/errors.ts";
import { checkOpenApi } from "../support/openapi-check.ts";

const repoRoot = path.resolve(import.meta.dir, "../..");

/**
 * Building the table only captures deps in handlers; the handlers exercised here (the
 * description) need only these. Real answers are the integration tests' job.
 */
const deps = {
  version,
  limits: { write: {}, batch: {}, read: {}, batchRecordsMax: 1 },
  requestIdOf: () => undefined,
} as unknown as AppDeps;
const routes = apiRoutes(deps);
const doc = openApiDocument(routes, version);
const app = createApp(deps, new Router(routes));
const get = (url: string, init?: RequestInit) => app.handle(new Request(`http://localhost${url}`, init));

/** The same table with every handler answering its operationId: which route a request reached. */
const probes = routes.map((r): Route => ({ ...r, handle: ({ params }) => Response.json({ id: r.doc.id, params }) }));
const probeApp = createApp(deps, new Router(probes));
const reach = async (method: string, url: string) => {
  const res = await probeApp.handle(new Request(`http://localhost${url}`, { method }));
  return { status: res.status, body: (await res.json()) as { id?: string; params?: Record<string, string>; code?: string } };
};

interface DocumentedOperation {
  method: string;
  path: string;
  op: Operation;
}

function operations(d: OpenApiDocument): DocumentedOperation[] {
  return Object.entries(d.paths).flatMap(([p, item]) =>
    Object.entries(item).map(([method, op]) => ({ method: method.toUpperCase(), path: p, op: op as Operation })),
  );
}

const samples: Record<string, string> = {
  id: "ab".repeat(32),
  key: "cd".repeat(32),
  path: "a/b",
  name: "e1",
  agent: "ef".repeat(32),
};

/** A concrete URL path for a route template. */
function instantiate(template: string): string {
  return template.replace(/\{([a-z_]+)\+?\}/g, (_, name: string) => samples[name] ?? "x1");
}

const documented = operations(doc);

describe("the document", () => {
  test("is OpenAPI 3.1 in structure", () => {
    expect(checkOpenApi(JSON.parse(JSON.stringify(doc)))).toEqual([]);
    expect(doc.info.version).toBe(version);
  });

  test("the checker catches what it claims to (a bad document fails)", () => {
    const broken = JSON.parse(JSON.stringify(doc));
    broken.openapi = "3.0.3";
    broken.paths["/v1/assertions/{id}"].get.parameters = [];
    broken.paths["/v1/query"].get.responses["200"].content["application/json"].schema = { $ref: "#/components/schemas/Nope" };
    broken.components.schemas.WriteResult.nullable = true;
    const found = checkOpenApi(broken).join("\n");
    expect(found).toContain("openapi: expected 3.1.x");
    expect(found).toContain("template {id} has no path parameter");
    expect(found).toContain("does not resolve");
    expect(found).toContain("unknown schema keyword nullable");
  });
});

describe("the route table", () => {
  test("each route is reached at its own path and method, with its parameters decoded", async () => {
    for (const r of routes) {
      const { status, body } = await reach(r.method, instantiate(r.path));
      expect([r.method, r.path, status, body.id]).toEqual([r.method, r.path, 200, r.doc.id]);
    }
  });

  test("a parameter with + takes slashes up to a fixed tail; percent-encoding is decoded", async () => {
    expect((await reach("GET", "/v1/sources/mega/trial-7/impact")).body).toEqual({
      id: "sourceImpact",
      params: { id: "mega/trial-7" },
    });
    expect((await reach("GET", "/v1/sources/mega%2Ftrial-7")).body).toEqual({ id: "getSource", params: { id: "mega/trial-7" } });
    expect((await reach("POST", "/v1/sources/a/b/retract")).body).toEqual({ id: "retractSource", params: { id: "a/b" } });
    expect((await reach("GET", "/v1/subjects/pharma/drug/aspirin")).body).toEqual({
      id: "subject",
      params: { path: "pharma/drug/aspirin" },
    });
    expect((await reach("POST", "/v1/epochs/guideline/2024/supersede")).body).toEqual({
      id: "supersedeEpoch",
      params: { name: "guideline/2024" },
    });
    expect((await reach("GET", `/v1/agents/${samples.key}`)).body.params).toEqual({ key: samples.key as string });
  });

  test("a path segment that is not valid percent-encoding is a 400, not a route miss", async () => {
    const { status, body } = await reach("GET", "/v1/subjects/a/%E0%A4%A");
    expect([status, body.code]).toEqual([400, "invalid_query"]);
  });

  test("a path no route takes is 404; one segment too many is not a match", async () => {
    for (const url of ["/v1/nope", "/v1/assertions/ab/cd", `/v1/agents/${samples.key}/x`, "/v1/subjects/", "/v2/query"]) {
      const { status, body } = await reach("GET", url);
      expect([url, status, body.code]).toEqual([url, 404, "not_found"]);
    }
  });

  test("405 answers allow the methods the table takes at a path: the documented ones, and a catch-all's", async () => {
    const router = new Router(routes);
    for (const [p, item] of Object.entries(doc.paths)) {
      const documentedMethods = Object.keys(item).map((m) => m.toUpperCase());
      for (const method of ["PUT", "PATCH"]) {
        const res = await get(instantiate(p), { method });
        expect([p, method, res.status]).toEqual([p, method, 405]);
        const allow = (res.headers.get("allow") ?? "").split(",").map((m) => m.trim());
        expect([p, allow]).toEqual([p, router.methodsFor(instantiate(p))]);
        for (const m of documentedMethods) expect([p, m, allow.includes(m)]).toEqual([p, m, true]);
      }
    }
    // `/v1/sources/x/retract` is also `GET /v1/sources/{id+}` of the source "x/retract".
    expect(router.methodsFor("/v1/sources/x/retract")).toEqual(["GET", "POST"]);
    expect(router.methodsFor("/v1/assert")).toEqual(["POST"]);
  });

  test("a route is in the table once; the router refuses a second copy", () => {
    expect(() => new Router([...routes, routes[0] as Route])).toThrow(/in the table once/);
  });

  test("each operation's role is its class's; health checks need no key", () => {
    for (const r of routes) {
      const op = doc.paths[openApiPath(r.path)]?.[r.method.toLowerCase() as "get"] as Operation;
      const role = roleFor[r.class];
      if (role === null) expect([r.path, op.security, op["x-stemedb-role"]]).toEqual([r.path, [], undefined]);
      else {
        expect([r.path, op["x-stemedb-role"], op.security]).toEqual([r.path, role, undefined]);
        for (const status of ["401", "403", "429"])
          expect([r.method, r.path, status in op.responses]).toEqual([r.method, r.path, true]);
        expect(op.responses["401"]?.headers?.["WWW-Authenticate"]).toBeDefined();
      }
    }
  });

  test("only the health checks and the description skip the door; writes and admin are not reads", () => {
    const byClass = (cls: string) => routes.filter((r) => r.class === cls).map((r) => `${r.method} ${r.path}`);
    expect(byClass("health").sort()).toEqual([
      "GET /docs",
      "GET /metrics",
      "GET /openapi.json",
      "GET /v1/health",
      "GET /v1/ready",
    ]);
    for (const r of routes) {
      // POST /v1/query reads; POST /mcp lets any key in, and its writing tools check the role themselves.
      if (r.method !== "GET" && r.path !== "/v1/query" && r.path !== "/mcp")
        expect([r.method, r.path, r.class]).not.toEqual([r.method, r.path, "read"]);
      if (r.path.startsWith("/v1/admin/")) expect([r.path, r.class]).toEqual([r.path, "admin"]);
    }
  });

  test("metric labels are the templates with :name parameters", () => {
    expect(metricLabel("/v1/assertions/{id}")).toBe("/v1/assertions/:id");
    expect(metricLabel("/v1/sources/{id+}/impact")).toBe("/v1/sources/:id/impact");
    expect(new Set(routes.map((r) => metricLabel(r.path))).size).toBe(new Set(routes.map((r) => r.path)).size);
  });
});

// ---------------------------------------------------------------- problem codes

describe("problem codes", () => {
  const problemEnum = (doc.components.schemas.Problem as { properties: { code: { enum: string[] } } }).properties.code.enum;

  test("the problem schema lists exactly the error table's rows that reach HTTP", () => {
    expect([...problemEnum].sort()).toEqual(httpProblemCodes().sort());
  });

  test("no dead rows: every code in the error table is raised somewhere in src/", () => {
    const source = [...new Bun.Glob("src/**/*.ts").scanSync({ cwd: repoRoot })]
      .map((file) => fs.readFileSync(path.join(repoRoot, file), "utf8"))
      .join("\n");
    for (const code of Object.keys(problems)) expect([code, new RegExp(`\\(\\s*"${code}"`).test(source)]).toEqual([code, true]);
  });

  test("each operation's problem responses list codes of that status", () => {
    for (const { method, path: p, op } of documented)
      for (const [status, r] of Object.entries(op.responses)) {
        const schema = r.content?.["application/problem+json"]?.schema as {
          allOf?: Array<{ properties?: { code?: { enum: string[] } } }>;
        };
        const codes = schema?.allOf?.[1]?.properties?.code?.enum;
        if (!r.content?.["application/problem+json"]) continue;
        expect([method, p, status, Array.isArray(codes)]).toEqual([method, p, status, true]);
        for (const c of (codes ?? []) as Array<keyof typeof problems>)
          expect([method, p, c, problems[c]?.status as number]).toEqual([method, p, c, Number(status)]);
      }
  });
});

describe("served", () => {
  test("GET /openapi.json is the document", async () => {
    const res = await get("/openapi.json");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("application/json");
    expect(await res.json()).toEqual(JSON.parse(JSON.stringify(doc)));
  });

  test("GET /docs renders every operation and problem code, loading nothing from anywhere", async () => {
    const res = await get("/docs");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(res.headers.get("content-security-policy")).toContain("default-src 'none'");
    const html = await res.text();
    for (const { method, path: p, op } of documented) {
      expect(html).toContain(`id="op-${op.operationId}"`);
      expect(html).toContain(`<span class="verb ${method.toLowerCase()}">${method}</span> <code>${p}</code>`);
    }
    for (const code of httpProblemCodes()) expect(html).toContain(`<code>${code}</code>`);
    for (const name of Object.keys(doc.components.schemas)) expect(html).toContain(`id="schema-${name}"`);
    for (const forbidden of ["<script", "<link", "<iframe", "<img", " src=", "@import", "url(", 'href="http'])
      expect([forbidden, html.includes(forbidden)]).toEqual([forbidden, false]);
  });
});
