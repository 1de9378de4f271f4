/**
 * The HTTP API (SPEC §8) on Elysia. Routes take the raw request (`parse: "none"`) so body
 * limits, content types and parse errors are ours to answer with problem+json; `serve.ts`
 * wraps the app with request ids, logging and metrics.
 */
import { Elysia } from "elysia";
import { StemeError } from "../core/errors.ts";
import { fromHex } from "../core/hex.ts";
import { labelBytesMax, predicateBytesMax, subjectBytesMax } from "../core/limits.ts";
import { type Kind, kinds } from "../core/record.ts";
import { browseConcepts, listRecords } from "../index/list.ts";
import type { Ingest, ItemResult } from "../ingest/pipeline.ts";
import type { Metrics } from "../metrics/index.ts";
import type { Store } from "../store/store.ts";
import type { QueryAuditLog } from "../audit/query-log.ts";
import type { KeyStore } from "../auth/keys.ts";
import type { OpsService } from "../backup/service.ts";
import type { Decider } from "../decisions/decider.ts";
import type { Escalations } from "../decisions/escalations.ts";
import type { QueryEngine } from "../query/engine.ts";
import { lifecycleOf } from "../query/query.ts";
import {
  adminAudit,
  adminGold,
  listEpochs,
  listSources,
  type ProvenanceDeps,
  provenance,
  retractSource,
  sourceDetail,
  sourceImpact,
  supersedeEpoch,
} from "./provenance-routes.ts";
import { createKey, revokeKey } from "./key-routes.ts";
import type { Defense } from "../defense/defense.ts";
import { decideQuarantine, type DefenseDeps, listBreakers, listQuarantine, resetBreaker } from "./defense-routes.ts";
import { docsHeaders, renderDocsPage } from "./docs-page.ts";
import { openApiDocument } from "./openapi.ts";
import { exportHandler } from "./export.ts";
import { agentDetail, answerQuery, listAgents, listAudit, listEscalations, type ReadDeps } from "./reads.ts";
import { batchSubmissions, bodyFormat, parseJson, readBody, singleSubmission } from "./body.ts";
import { parseQueryBody, parseQueryParams, queryBodyBytesMax } from "./query-params.ts";
import { encodeCursor, parseCursor, parseKey, parseLimit, parseText, parseTime } from "./params.ts";
import { badQuery, json, negotiated, notFound, problemResponse } from "./problem.ts";

export interface ApiLimits {
  writeBodyBytesMax: number;
  batchBodyBytesMax: number;
  batchRecordsMax: number;
}

export interface AppDeps {
  store: Store;
  ingest: Ingest;
  metrics: Metrics;
  version: string;
  limits: ApiLimits;
  startedAtMs: number;
  isReady: () => { ready: boolean; reason?: string };
  requestIdOf: (request: Request) => string | undefined;
  engine: QueryEngine;
  escalations: Escalations;
  decider: Decider;
  /** Content defense: the quarantine book and the circuit breakers. */
  defense: Defense;
  /** κ for `escalate=true`. */
  escalateKappa: number;
  audit: QueryAuditLog | null;
  /** Who is asking, for the audit trail: `key:<id>` with an API key, else the client's address. */
  callerOf: (request: Request) => string;
  /** The id of the API key the request came with, or null (open mode). */
  apiKeyOf: (request: Request) => string | null;
  keys: KeyStore;
  readBodyBytesMax: number;
  ops: OpsService;
}

export function createApp(deps: AppDeps) {
  const { store, ingest } = deps;
  const reads: ReadDeps = deps;
  const prov: ProvenanceDeps = { ...deps, writeBodyBytesMax: deps.limits.writeBodyBytesMax };
  const keyRoutes = { keys: deps.keys, readBodyBytesMax: deps.readBodyBytesMax };
  const defense: DefenseDeps = deps;
  const decide = (request: Request, id: string, action: "approve" | "reject") => decideQuarantine(defense, request, id, action);
  // The description of this API (openapi.ts), built on first request and kept.
  let described: { json: string; page: string } | null = null;
  const description = () => {
    if (!described) {
      const document = openApiDocument(deps.version);
      described = { json: JSON.stringify(document), page: renderDocsPage(document) };
    }
    return described;
  };
  /** One signed record (JSON or CBOR); `kinds` restricts what the endpoint takes. */
  const writeOne = async (request: Request, kinds?: Kind[]): Promise<Response> => {
    const format = bodyFormat(request);
    const submission = singleSubmission(format, await readBody(request, deps.limits.writeBodyBytesMax));
    const [result] = await ingest.submit([submission], kinds ? { kinds } : {});
    if (!result) throw new StemeError("internal", 500, "no result");
    if (!result.ok) throw result.error;
    return json(result.result, result.result.duplicate ? 200 : 201);
  };
  return (
    new Elysia()
      .onError(({ error, code, request }) => {
        if (error instanceof StemeError) return problemResponse(error, deps.requestIdOf(request));
        if (code === "NOT_FOUND") {
          const pathname = new URL(request.url).pathname;
          const allowed = routeMethods(pathname);
          const err = allowed
            ? new StemeError("method_not_allowed", 405, `${request.method} is not allowed on ${pathname}; use ${allowed}`, {
                extra: { allow: allowed },
              })
            : new StemeError("not_found", 404, `no route for ${request.method} ${pathname}`);
          const response = problemResponse(err, deps.requestIdOf(request));
          if (allowed) response.headers.set("allow", allowed);
          return response;
        }
        throw error; // a bug: serve.ts logs it and answers 500
      })
      .post("/v1/assert", ({ request }) => writeOne(request), { parse: "none" })
      .post("/v1/vote", ({ request }) => writeOne(request, ["vote"]), { parse: "none" })
      .post("/v1/retract", ({ request }) => writeOne(request, ["retraction"]), { parse: "none" })
      .post(
        "/v1/assert/batch",
        async ({ request }) => {
          const format = bodyFormat(request);
          const submissions = batchSubmissions(
            format,
            await readBody(request, deps.limits.batchBodyBytesMax),
            deps.limits.batchRecordsMax,
          );
          const results = await ingest.submit(submissions);
          return negotiated(request, batchReply(results));
        },
        { parse: "none" },
      )
      .get("/v1/assertions/:id", async ({ params }) => {
        let id: Uint8Array;
        try {
          id = fromHex(params.id, "id", 32);
        } catch {
          throw badQuery("id", "expected 64 hex digits");
        }
        const view = store.getById(id);
        if (!view) throw notFound(`record ${params.id}`);
        if (view.kind === "assertion") {
          await store.indexCaughtUp();
          const { flags, notes } = lifecycleOf(store, view.id, view.subject as string, view.predicate as string);
          view.flags = flags;
          view.notes = notes;
        }
        return json(view);
      })
      .get("/v1/assertions", ({ request }) => listHandler(store, new URL(request.url).searchParams))
      .get("/v1/query", ({ request }) => answerQuery(reads, request, parseQueryParams(new URL(request.url).searchParams), false))
      .post(
        "/v1/query",
        async ({ request }) =>
          answerQuery(reads, request, parseQueryBody(parseJson(await readBody(request, deps.readBodyBytesMax))), true),
        { parse: "none" },
      )
      .get("/v1/subjects/*", async ({ request }) => {
        const url = new URL(request.url);
        let subject: string;
        try {
          subject = decodeURIComponent(url.pathname.slice("/v1/subjects/".length));
        } catch {
          throw badQuery("subject", "the path is not valid percent-encoding");
        }
        const params = new URLSearchParams(url.searchParams);
        params.set("subject", subject);
        params.set("predicate", "-"); // every predicate: parsed for the other parameters only
        return json(await deps.engine.subject(subject, parseQueryParams(params)));
      })
      .get("/v1/agents", ({ request }) => listAgents(reads, new URL(request.url).searchParams))
      .get("/v1/agents/:key", ({ request, params }) => agentDetail(reads, params.key, new URL(request.url).searchParams))
      .get("/v1/escalations", ({ request }) => listEscalations(reads, new URL(request.url).searchParams))
      .post(
        "/v1/escalations/:id/resolve",
        async ({ request, params }) => {
          const raw = await readBody(request, queryBodyBytesMax);
          const { note, gold } = resolution(raw.length === 0 ? {} : parseJson(raw));
          // Elysia gives null for a path segment that is not valid percent-encoding.
          const id = params.id as string | null;
          if (!id) throw badQuery("id", "expected an escalation id");
          const r = await deps.escalations.resolve(id.toLowerCase(), note, {
            ...(gold !== undefined ? { gold } : {}),
            apiKey: deps.apiKeyOf(request),
          });
          return json({
            escalation: r.escalation,
            lsn: r.write.lsn,
            resolution_id: r.write.id,
            ...(r.gold ? { gold_id: r.gold.id } : {}),
          });
        },
        { parse: "none" },
      )
      .get("/v1/audit/queries", ({ request }) => listAudit(reads, new URL(request.url).searchParams))
      // Provenance (SPEC §5): sources, their retraction and its impact, epochs, chains, decisions.
      .post("/v1/sources", ({ request }) => writeOne(request, ["source"]), { parse: "none" })
      .get("/v1/sources", ({ request }) => listSources(prov, new URL(request.url).searchParams))
      .get("/v1/sources/*", ({ request }) => {
        const url = new URL(request.url);
        const rest = url.pathname.slice("/v1/sources/".length);
        if (rest.endsWith("/impact")) return sourceImpact(prov, pathId(rest.slice(0, -"/impact".length)), url.searchParams);
        return sourceDetail(prov, pathId(rest));
      })
      .post(
        "/v1/sources/*",
        ({ request }) => {
          const rest = new URL(request.url).pathname.slice("/v1/sources/".length);
          if (!rest.endsWith("/retract")) throw new StemeError("not_found", 404, `no route for POST /v1/sources/${rest}`);
          return retractSource(prov, request, pathId(rest.slice(0, -"/retract".length)));
        },
        { parse: "none" },
      )
      .post("/v1/epochs", ({ request }) => writeOne(request, ["epoch"]), { parse: "none" })
      .get("/v1/epochs", ({ request }) => listEpochs(prov, new URL(request.url).searchParams))
      .post(
        "/v1/epochs/*",
        ({ request }) => {
          const rest = new URL(request.url).pathname.slice("/v1/epochs/".length);
          if (!rest.endsWith("/supersede")) throw new StemeError("not_found", 404, `no route for POST /v1/epochs/${rest}`);
          return supersedeEpoch(prov, request, pathId(rest.slice(0, -"/supersede".length)));
        },
        { parse: "none" },
      )
      .get("/v1/provenance/:id", ({ request, params }) => provenance(prov, params.id, new URL(request.url).searchParams))
      .get("/v1/export", ({ request }) => exportHandler(store, request))
      .post("/v1/admin/gold", ({ request }) => adminGold(prov, request), { parse: "none" })
      .get("/v1/admin/audit", ({ request }) => adminAudit(prov, new URL(request.url).searchParams))
      // API keys (admin): the secret is in the creation answer and nowhere else.
      .post("/v1/admin/keys", ({ request }) => createKey(keyRoutes, request), { parse: "none" })
      .get("/v1/admin/keys", () => json({ items: deps.keys.list() }))
      .delete("/v1/admin/keys/:id", ({ params }) => revokeKey(keyRoutes, params.id))
      // Content defense (SPEC §6): the quarantine queue and its decisions, circuit breakers.
      .get("/v1/admin/quarantine", ({ request }) => listQuarantine(defense, new URL(request.url).searchParams))
      .post("/v1/admin/quarantine/:id/approve", ({ request, params }) => decide(request, params.id, "approve"), { parse: "none" })
      .post("/v1/admin/quarantine/:id/reject", ({ request, params }) => decide(request, params.id, "reject"), { parse: "none" })
      .get("/v1/admin/breakers", ({ request }) => listBreakers(defense, new URL(request.url).searchParams))
      .post("/v1/admin/breakers/:agent/reset", ({ params }) => resetBreaker(defense, params.agent), { parse: "none" })
      .post(
        "/v1/admin/snapshot",
        async ({ request }) => {
          const raw = await readBody(request, deps.readBodyBytesMax);
          const body = raw.length === 0 ? {} : parseJson(raw);
          if (body === null || typeof body !== "object" || Array.isArray(body) || Object.keys(body).some((k) => k !== "name"))
            throw new StemeError("invalid_request", 400, 'expected {} or {"name": "<directory under --backup-dir>"}');
          const name = (body as { name?: unknown }).name;
          if (name !== undefined && typeof name !== "string") throw new StemeError("invalid_type", 400, "name: expected text");
          const r = await deps.ops.snapshot(name);
          const m = r.manifest;
          return json(
            {
              dir: r.dir,
              lsn: m.lsn,
              records: m.records,
              merkle_root: m.merkle_root,
              files: m.files.length,
              ms: Math.round(r.ms),
            },
            201,
          );
        },
        { parse: "none" },
      )
      .delete("/v1/admin/views", () => {
        const dropped = deps.engine.views.size;
        deps.engine.views.clear();
        return json({ dropped });
      })
      .get("/v1/concepts", async ({ request }) => {
        const q = new URL(request.url).searchParams;
        const prefix = parseText("prefix", q.get("prefix"), subjectBytesMax) ?? "";
        await store.indexCaughtUp();
        return json(browseConcepts(store.index, prefix, parseLimit(q.get("limit"))));
      })
      .get("/v1/health", () =>
        json({
          status: "ok",
          version: deps.version,
          node_id: store.dataDir.meta.node_id,
          lsn: store.log.lastLsn,
          index_lsn: store.indexLsn,
          root: deps.ops.root?.root ?? null,
          root_lsn: deps.ops.root?.lsn ?? null,
          uptime_s: Math.round((Date.now() - deps.startedAtMs) / 1000),
        }),
      )
      .get("/v1/ready", () => {
        const state = deps.isReady();
        return state.ready ? json({ ready: true, lsn: store.log.lastLsn }) : json({ ready: false, reason: state.reason }, 503);
      })
      .get("/metrics", async () => {
        return new Response(await deps.metrics.registry.metrics(), {
          headers: { "content-type": deps.metrics.registry.contentType },
        });
      })
      .get("/openapi.json", () => new Response(description().json, { headers: { "content-type": "application/json" } }))
      .get("/docs", () => new Response(description().page, { headers: docsHeaders }))
  );
}

/** The methods a known path takes, for 405 answers. */
function routeMethods(pathname: string): string | null {
  if (["/v1/assert", "/v1/assert/batch", "/v1/vote", "/v1/retract"].includes(pathname)) return "POST";
  if (pathname === "/v1/query") return "GET, POST";
  if (pathname === "/v1/admin/views") return "DELETE";
  if (/^\/v1\/escalations\/[^/]+\/resolve$/.test(pathname)) return "POST";
  if (["/v1/agents", "/v1/escalations", "/v1/audit/queries"].includes(pathname) || pathname.startsWith("/v1/agents/"))
    return "GET";
  if (pathname === "/v1/sources" || pathname === "/v1/epochs") return "GET, POST";
  if (/^\/v1\/sources\/.+\/retract$/.test(pathname) || /^\/v1\/epochs\/.+\/supersede$/.test(pathname)) return "POST";
  if (pathname === "/v1/export") return "GET";
  if (pathname.startsWith("/v1/sources/") || pathname.startsWith("/v1/provenance/") || pathname === "/v1/admin/audit")
    return "GET";
  if (pathname === "/v1/admin/gold" || pathname === "/v1/admin/snapshot") return "POST";
  if (pathname === "/v1/admin/keys") return "GET, POST";
  if (pathname.startsWith("/v1/admin/keys/")) return "DELETE";
  if (pathname === "/v1/admin/quarantine" || pathname === "/v1/admin/breakers") return "GET";
  if (
    /^\/v1\/admin\/quarantine\/[^/]+\/(approve|reject)$/.test(pathname) ||
    /^\/v1\/admin\/breakers\/[^/]+\/reset$/.test(pathname)
  )
    return "POST";
  if (pathname.startsWith("/v1/subjects/")) return "GET";
  const reads = ["/v1/assertions", "/v1/concepts", "/v1/health", "/v1/ready", "/metrics", "/openapi.json", "/docs"];
  if (reads.includes(pathname) || pathname.startsWith("/v1/assertions/")) return "GET";
  return null;
}

/** `{"note"?: text, "gold"?: assertion id}` */
function resolution(body: unknown): { note?: string; gold?: string } {
  if (body === null || typeof body !== "object" || Array.isArray(body))
    throw new StemeError("invalid_request", 400, 'expected a JSON object like {"note": "…", "gold": "<assertion id>"}');
  for (const key of Object.keys(body))
    if (key !== "note" && key !== "gold")
      throw new StemeError("unknown_field", 400, `${key}: not a field of a resolution; expected note, gold`, {
        extra: { field: key },
      });
  const { note, gold } = body as { note?: unknown; gold?: unknown };
  if (note !== undefined && typeof note !== "string")
    throw new StemeError("invalid_type", 400, "note: expected text", { extra: { field: "note" } });
  if (gold !== undefined && (typeof gold !== "string" || !/^[0-9a-fA-F]{64}$/.test(gold)))
    throw new StemeError("invalid_type", 400, "gold: expected an assertion id (64 hex digits)", { extra: { field: "gold" } });
  return {
    ...(note !== undefined ? { note: note as string } : {}),
    ...(gold !== undefined ? { gold: (gold as string).toLowerCase() } : {}),
  };
}

/** A path segment that names a source or epoch: percent-decoded, at most a label long. */
function pathId(raw: string): string {
  let id: string;
  try {
    id = decodeURIComponent(raw);
  } catch {
    throw new StemeError("invalid_query", 400, "the path is not valid percent-encoding");
  }
  if (id.length === 0 || Buffer.byteLength(id) > labelBytesMax)
    throw new StemeError("invalid_query", 400, `expected an id of 1–${labelBytesMax} bytes in the path`);
  return id;
}

function batchReply(results: ItemResult[]) {
  let accepted = 0;
  let rejected = 0;
  const out = results.map((r) => {
    if (r.ok) {
      accepted++;
      return r.result;
    }
    rejected++;
    return { error: r.error.toProblem() };
  });
  return { results: out, accepted, rejected };
}

async function listHandler(store: Store, q: URLSearchParams): Promise<Response> {
  const known = new Set(["subject", "predicate", "agent", "source", "kind", "since", "until", "cursor", "limit", "order"]);
  for (const key of q.keys())
    if (!known.has(key)) throw badQuery(key, `unknown parameter; expected one of ${[...known].join(", ")}`);
  const kindParam = q.get("kind") ?? "assertion";
  const kindList = kindParam === "any" ? [] : kindParam.split(",");
  for (const k of kindList)
    if (!kinds.includes(k as (typeof kinds)[number])) throw badQuery("kind", `expected "any" or a list of ${kinds.join(", ")}`);
  const order = q.get("order") ?? "asc";
  if (order !== "asc" && order !== "desc") throw badQuery("order", 'expected "asc" or "desc"');
  const limit = parseLimit(q.get("limit"));
  const filter = {
    subject: parseText("subject", q.get("subject"), subjectBytesMax + 2),
    predicate: parseText("predicate", q.get("predicate"), predicateBytesMax),
    agent: parseKey("agent", q.get("agent")),
    source: parseText("source", q.get("source"), labelBytesMax),
    since: parseTime("since", q.get("since")),
    until: parseTime("until", q.get("until")),
    afterLsn: parseCursor(q.get("cursor")),
    kinds: kindList as Array<(typeof kinds)[number]>,
    limit,
    order: order as "asc" | "desc",
  };
  await store.indexCaughtUp(); // lists see every acknowledged record
  const page = listRecords(store.index, stripUndefined(filter));
  return json({
    items: page.items.map((loc) => store.view(loc)),
    next_cursor: page.next === null ? null : encodeCursor(page.next),
  });
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
