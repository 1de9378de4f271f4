/**
 * The OpenAPI document against the server it describes, without sockets: the document is
 * OpenAPI 3.1 in structure; every route the Elysia app registers is documented and every
 * documented operation is served; each operation's role is what the guard demands; 405
 * answers and metric labels agree with the documented paths; every error code the source
 * throws that can reach a client is in the problem schema with its status; and `/openapi.json`
 * and `/docs` are served. (test/integration/openapi.test.ts holds real answers to the
 * documented schemas.)
 *
 * Route templating: Elysia's `:param` is OpenAPI's `{param}`; a trailing `*` (a route whose
 * handler reads the rest of the path) covers every documented path under that prefix whose
 * next segment is a template, e.g. `GET /v1/sources/*` serves `/v1/sources/{id}` and
 * `/v1/sources/{id}/impact`.
 */
import { describe, expect, test } from "bun:test";
import fs from "node:fs";
import path from "node:path";
import { type AppDeps, createApp } from "../../src/api/app.ts";
import { type OpenApiDocument, type Operation, openApiDocument, problemCodes } from "../../src/api/openapi.ts";
import { routeOf, version } from "../../src/api/serve.ts";
import { classify } from "../../src/auth/guard.ts";
import { checkOpenApi } from "../support/openapi-check.ts";

const repoRoot = path.resolve(import.meta.dir, "../..");
const doc = openApiDocument(version);

/**
 * Building the app registers its routes and touches nothing else; the handlers exercised here
 * (405s, the description) need only these. Real answers are the integration test's job.
 */
const app = createApp({
  version,
  limits: { writeBodyBytesMax: 1 << 20, batchBodyBytesMax: 16 << 20, batchRecordsMax: 10_000 },
  readBodyBytesMax: 64 << 10,
  requestIdOf: () => undefined,
} as unknown as AppDeps);

const get = (url: string, init?: RequestInit) => app.handle(new Request(`http://localhost${url}`, init));

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

/** A concrete URL path for a documented template. */
function instantiate(template: string): string {
  const samples: Record<string, string> = {
    id: "ab".repeat(32),
    key: "cd".repeat(32),
    path: "a/b",
    name: "e1",
    agent: "ef".repeat(32),
  };
  return template.replace(/\{([^}]+)\}/g, (_, name: string) => samples[name] ?? "x1");
}

/** Does the app route (`:param`, trailing `*`) serve this documented path template? */
function serves(route: string, template: string): boolean {
  const r = route.split("/");
  const t = template.split("/");
  const wildcard = r.at(-1) === "*";
  const fixed = wildcard ? r.slice(0, -1) : r;
  if (wildcard ? t.length <= fixed.length : t.length !== fixed.length) return false;
  const segmentsMatch = fixed.every((seg, i) => (seg.startsWith(":") ? t[i] === `{${seg.slice(1)}}` : t[i] === seg));
  return segmentsMatch && (!wildcard || /^\{[^}]+\}$/.test(t[fixed.length] as string));
}

const appRoutes = app.routes.map((r) => ({ method: r.method.toUpperCase(), path: r.path }));
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

describe("routes", () => {
  test("every route registered in the app is documented", () => {
    const missing = appRoutes.filter((r) => !documented.some((d) => d.method === r.method && serves(r.path, d.path)));
    expect(missing.map((r) => `${r.method} ${r.path}`)).toEqual([]);
  });

  test("every documented operation is served by a registered route", () => {
    const unserved = documented.filter((d) => !appRoutes.some((r) => r.method === d.method && serves(r.path, d.path)));
    expect(unserved.map((d) => `${d.method} ${d.path}`)).toEqual([]);
  });

  test("the coverage check catches an undocumented route", () => {
    const undocumented = (routes: Array<{ method: string; path: string }>) =>
      routes.filter((r) => !documented.some((d) => d.method === r.method && serves(r.path, d.path))).map((r) => r.path);
    const grown = createApp({
      version,
      limits: { writeBodyBytesMax: 1, batchBodyBytesMax: 1, batchRecordsMax: 1 },
    } as unknown as AppDeps)
      .get("/v1/brand-new/:thing", () => "")
      .routes.map((r) => ({ method: r.method, path: r.path }));
    expect(undocumented(grown)).toEqual([...undocumented(appRoutes), "/v1/brand-new/:thing"]);
    expect(serves("/v1/sources/*", "/v1/sources/{id}/impact")).toBe(true);
    expect(serves("/v1/sources/*", "/v1/sources")).toBe(false);
    expect(serves("/v1/agents/:key", "/v1/agents/{id}")).toBe(false);
  });

  test("each operation's role is the one the guard demands; health checks need no key", () => {
    const roleOf = { read: "reader", write: "writer", admin: "admin" } as const;
    for (const { method, path: p, op } of documented) {
      const cls = classify(method, instantiate(p));
      if (cls === "health") {
        expect([method, p, op.security, op["x-stemedb-role"]]).toEqual([method, p, [], undefined]);
      } else {
        expect([method, p, op["x-stemedb-role"], op.security]).toEqual([method, p, roleOf[cls], undefined]);
        for (const status of ["401", "403", "429"]) expect([method, p, status in op.responses]).toEqual([method, p, true]);
      }
    }
  });

  test("405 answers allow exactly the documented methods of a path", async () => {
    for (const [p, item] of Object.entries(doc.paths)) {
      const allowed = Object.keys(item)
        .map((m) => m.toUpperCase())
        .sort();
      for (const method of ["PUT", "PATCH"]) {
        const res = await get(instantiate(p), { method });
        expect([p, method, res.status]).toEqual([p, method, 405]);
        const allow = (res.headers.get("allow") ?? "").split(",").map((m) => m.trim());
        expect([p, allow.sort()]).toEqual([p, allowed]);
      }
    }
  });

  test("metrics label every documented path with its template", () => {
    for (const { path: p } of documented) expect([p, routeOf(instantiate(p))]).toEqual([p, p.replace(/\{([^}]+)\}/g, ":$1")]);
  });
});

// ---------------------------------------------------------------- problem codes

/**
 * Codes that never reach an HTTP client: they stop the process at start-up or answer a CLI
 * command. Everything else thrown in src/ must be in the problem schema.
 */
const notOverHttp: Record<string, string> = {
  already_initialized: "stemedb init",
  not_initialized: "opening a data directory",
  bad_key_file: "reading node.key at start",
  format_version: "a data directory of another format, at start",
  index_version: "an index of another format is rebuilt at start",
  index_open_failed: "opening the index at start",
  index_checksum_missing: "opening the index without its checksum shim (not built), at start",
  locked: "another process holds the data directory",
  no_keys: "refusing to serve beyond loopback without keys",
  bad_config: "flags, environment and TLS files at start",
  bind_failed: "listening",
  backup_invalid: "stemedb restore / verify --backup",
  target_unreachable: "stemedb restore --to-lsn/--to-time",
  bad_bundle: "stemedb verify-bundle / import (a bundle file that fails a check)",
};

/** `code → statuses` from every `new StemeError("code", status`, `invalid("code"` and `super("code", status` in src/. */
function thrownCodes(): Map<string, Set<number>> {
  const out = new Map<string, Set<number>>();
  const pattern = /(?:new StemeError|\binvalid|super)\(\s*"([a-z_]+)"(?:\s*,\s*(\d{3}))?/g;
  const files = new Bun.Glob("src/**/*.ts").scanSync({ cwd: repoRoot });
  for (const file of files) {
    const text = fs.readFileSync(path.join(repoRoot, file), "utf8");
    for (const m of text.matchAll(pattern)) {
      const [, code, status] = m as unknown as [string, string, string | undefined];
      const statuses = out.get(code) ?? new Set<number>();
      if (status) statuses.add(Number(status));
      else if (m[0].includes("invalid")) statuses.add(400);
      out.set(code, statuses);
    }
  }
  return out;
}

describe("problem codes", () => {
  const problemEnum = (doc.components.schemas.Problem as { properties: { code: { enum: string[] } } }).properties.code.enum;
  const thrown = thrownCodes();

  test("the extraction sees the codes it should (a sanity check on the pattern)", () => {
    for (const code of ["bad_signature", "invalid_query", "rate_limited", "log_write_failed", "timeout", "unknown_lens"])
      expect([code, thrown.has(code)]).toEqual([code, true]);
  });

  test("every code thrown in src/ that can reach a client is in the problem schema, with its status", () => {
    const missing = [...thrown.keys()].filter((c) => !(c in notOverHttp) && !problemEnum.includes(c));
    expect(missing).toEqual([]);
    for (const [code, statuses] of thrown)
      if (problemCodes[code]) for (const s of statuses) expect([code, s]).toEqual([code, problemCodes[code].status]);
  });

  test("no stale entries: every documented code and every start-up code is still thrown", () => {
    expect(problemEnum.filter((c) => !thrown.has(c))).toEqual([]);
    expect(Object.keys(notOverHttp).filter((c) => !thrown.has(c))).toEqual([]);
    expect(Object.keys(notOverHttp).filter((c) => problemEnum.includes(c))).toEqual([]);
  });

  test("every code in docs/API.md's error table is in the problem schema", () => {
    const apiMd = fs.readFileSync(path.join(repoRoot, "docs/API.md"), "utf8");
    const table = apiMd.slice(apiMd.indexOf("## Errors"), apiMd.indexOf("## Limits"));
    const codes = [...table.matchAll(/^\| ([^|]+)\|/gm)].flatMap((m) =>
      [...(m[1] as string).matchAll(/`([a-z_]+)`/g)].map((c) => c[1]),
    );
    expect(codes.length).toBeGreaterThan(30);
    expect(codes.filter((c) => !problemEnum.includes(c as string))).toEqual([]);
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
        for (const c of codes ?? []) expect([method, p, c, problemCodes[c]?.status]).toEqual([method, p, c, Number(status)]);
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
    for (const code of Object.keys(problemCodes)) expect(html).toContain(`<code>${code}</code>`);
    for (const name of Object.keys(doc.components.schemas)) expect(html).toContain(`id="schema-${name}"`);
    for (const forbidden of ["<script", "<link", "<iframe", "<img", " src=", "@import", "url(", 'href="http'])
      expect([forbidden, html.includes(forbidden)]).toEqual([forbidden, false]);
  });
});
