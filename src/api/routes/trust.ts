/**
 * Trust (docs/SEMANTICS.md#trustrank, §4): agents ranked by TrustRank τ and how each τ came about; escalations of
 * contested answers and their resolution by an authority; the query audit trail.
 */
import { isAuditCursor, type QueryAuditLog } from "../../audit/query-log.ts";
import { StemeError } from "../../core/errors.ts";
import { toHex } from "../../core/hex.ts";
import * as limits from "../../core/limits.ts";
import { listLimitMax } from "../../core/limits.ts";
import type { Escalations } from "../../decisions/escalations.ts";
import { agentCounts, agentKeys, listRecords } from "../../index/list.ts";
import type { QueryEngine } from "../../query/engine.ts";
import type { Store } from "../../store/store.ts";
import { trustFloor } from "../../trust/rank.ts";
import { type BodyLimit, parseJson, readBody } from "../body.ts";
import {
  decisionCodes,
  json as jsonContent,
  jsonBodyCodes,
  paramRef,
  pathParam,
  query,
  timeParam,
} from "../openapi/operation.ts";
import { hex32, int, oneOfEnum, ref, str } from "../openapi/schema.ts";
import { knownParams, parseKey, parseLimit, parseText, parseTime } from "../params.ts";
import { badQuery, json, notFound } from "../problem.ts";
import type { Route } from "../route.ts";

export interface TrustDeps {
  store: Store;
  engine: QueryEngine;
  escalations: Escalations;
  audit: QueryAuditLog | null;
  /** The id of the API key the request came with, or null (open mode). */
  apiKeyOf: (request: Request) => string | null;
  limits: { read: BodyLimit };
}

/** `GET /v1/audit/queries?subject=&predicate=&lens=&caller=&since=&until=&cursor=&limit=` */
function listAudit(deps: TrustDeps, q: URLSearchParams): Response {
  knownParams(q, ["subject", "predicate", "lens", "caller", "since", "until", "cursor", "limit"]);
  if (!deps.audit)
    throw new StemeError("audit_disabled", "the query audit trail is off on this server", {
      hint: "start the server without --audit-off",
    });
  const cursor = q.get("cursor");
  if (cursor !== null && !isAuditCursor(cursor)) throw badQuery("cursor", "not a cursor this server issued");
  const filter = {
    limit: parseLimit(q.get("limit")),
    ...defined("subject", parseText("subject", q.get("subject"), 1024)),
    ...defined("predicate", parseText("predicate", q.get("predicate"), 1024)),
    ...defined("lens", parseText("lens", q.get("lens"), 64)),
    ...defined("caller", parseText("caller", q.get("caller"), 256)),
    ...defined("since", parseTime("since", q.get("since"))),
    ...defined("until", parseTime("until", q.get("until"))),
    ...(cursor !== null ? { cursor } : {}),
  };
  const page = deps.audit.list(filter);
  return json({ items: page.items, next_cursor: page.next });
}

/** `GET /v1/escalations?status=open|resolved|all` */
function listEscalations(deps: TrustDeps, q: URLSearchParams): Response {
  for (const key of q.keys()) if (key !== "status") throw badQuery(key, "unknown parameter; expected status");
  const status = q.get("status") ?? "open";
  if (status !== "open" && status !== "resolved" && status !== "all")
    throw badQuery("status", 'expected "open", "resolved" or "all"');
  return json({ items: deps.escalations.list(status) });
}

/** `GET /v1/agents/:key`: τ and how it came about, record counts, recent records. */
async function agentDetail(deps: TrustDeps, keyHex: string, q: URLSearchParams): Promise<Response> {
  const key = parseKey("key", keyHex);
  if (!key) throw badQuery("key", "expected 64 hex digits (an agent's public key)");
  const recentMax = q.get("recent") === null ? 10 : parseLimit(q.get("recent"));
  await deps.store.indexCaughtUp();
  const snapshot = deps.engine.trust.current;
  const hex = toHex(key);
  const counts = agentCounts(deps.store.index, key);
  const t = snapshot.result.agents.get(hex);
  const authority = deps.store.dataDir.authorities.includes(hex);
  if (!counts && !t && !authority) throw notFound(`agent ${hex} (no records from it on this node)`);
  const recent = listRecords(deps.store.index, { agent: key, limit: recentMax, order: "desc" }).items.map((loc) =>
    deps.store.view(loc),
  );
  return json({
    agent: hex,
    trust: snapshot.trustOf(hex),
    trust_lsn: snapshot.lsn,
    authority,
    seeded: t?.seeded ?? authority,
    rank: t?.rank ?? 0,
    endorsed_by: t?.endorsedBy ?? 0,
    disputed_by: t?.disputedBy ?? 0,
    gold: { agree: t?.goldAgree ?? 0, contradict: t?.goldContradict ?? 0 },
    counts: counts ?? {},
    recent,
  });
}

/** `GET /v1/agents?sort=trust|key&limit=&cursor=`: every agent with a record, with τ. */
async function listAgents(deps: TrustDeps, q: URLSearchParams): Promise<Response> {
  knownParams(q, ["sort", "limit", "cursor"]);
  const sort = q.get("sort") ?? "trust";
  if (sort !== "trust" && sort !== "key") throw badQuery("sort", 'expected "trust" or "key"');
  const limit = parseLimit(q.get("limit"));
  const cursor = q.get("cursor");
  if (cursor !== null && !/^\d+$/.test(cursor)) throw badQuery("cursor", "not a cursor this server issued");
  const offset = cursor === null ? 0 : Math.min(Number(cursor), Number.MAX_SAFE_INTEGER);
  await deps.store.indexCaughtUp();
  const snapshot = deps.engine.trust.current;
  const keys = new Set(agentKeys(deps.store.index));
  for (const a of deps.store.dataDir.authorities) keys.add(a);
  const rows = [...keys].map((agent) => {
    const t = snapshot.result.agents.get(agent);
    return {
      agent,
      trust: snapshot.trustOf(agent),
      authority: deps.store.dataDir.authorities.includes(agent),
      seeded: t?.seeded ?? false,
      endorsed_by: t?.endorsedBy ?? 0,
      disputed_by: t?.disputedBy ?? 0,
    };
  });
  rows.sort((a, b) => (sort === "trust" ? b.trust - a.trust : 0) || (a.agent < b.agent ? -1 : 1));
  const page = rows.slice(offset, offset + Math.min(limit, listLimitMax));
  const next = offset + page.length < rows.length ? String(offset + page.length) : null;
  return json({ items: page, next_cursor: next, trust_lsn: snapshot.lsn, trust_floor: trustFloor, total: rows.length });
}

function defined<K extends string, V>(key: K, v: V | undefined): { [k in K]?: V } {
  return (v === undefined ? {} : { [key]: v }) as { [k in K]?: V };
}

/** `POST /v1/escalations/{id}/resolve` with `{"note"?, "gold"?}`: a review signed by the node's authority key. */
async function resolveEscalation(deps: TrustDeps, request: Request, id: string): Promise<Response> {
  const raw = await readBody(request, deps.limits.read);
  const { note, gold } = resolution(raw.length === 0 ? {} : parseJson(raw));
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
}

/** `{"note"?: text, "gold"?: assertion id}` */
function resolution(body: unknown): { note?: string; gold?: string } {
  if (body === null || typeof body !== "object" || Array.isArray(body))
    throw new StemeError("invalid_request", 'expected a JSON object like {"note": "…", "gold": "<assertion id>"}');
  for (const key of Object.keys(body))
    if (key !== "note" && key !== "gold")
      throw new StemeError("unknown_field", `${key}: not a field of a resolution; expected note, gold`, {
        extra: { field: key },
      });
  const { note, gold } = body as { note?: unknown; gold?: unknown };
  if (note !== undefined && typeof note !== "string")
    throw new StemeError("invalid_type", "note: expected text", { extra: { field: "note" } });
  if (gold !== undefined && (typeof gold !== "string" || !/^[0-9a-fA-F]{64}$/.test(gold)))
    throw new StemeError("invalid_type", "gold: expected an assertion id (64 hex digits)", { extra: { field: "gold" } });
  return {
    ...(note !== undefined ? { note: note as string } : {}),
    ...(gold !== undefined ? { gold: (gold as string).toLowerCase() } : {}),
  };
}

export function trustRoutes(deps: TrustDeps): Route[] {
  return [
    {
      method: "GET",
      path: "/v1/agents",
      class: "read",
      handle: ({ url }) => listAgents(deps, url.searchParams),
      doc: {
        id: "listAgents",
        tag: "trust",
        summary: "Agents by TrustRank τ",
        description: "Every agent that signed a record, plus the authorities.",
        parameters: [
          query("sort", "trust (default, highest first) or key", oneOfEnum(["trust", "key"])),
          paramRef("Limit"),
          paramRef("Cursor"),
        ],
        answers: { 200: { description: "a page", schema: ref("AgentPage") } },
        errors: ["invalid_query"],
      },
    },
    {
      method: "GET",
      path: "/v1/agents/{key}",
      class: "read",
      handle: ({ url, params }) => agentDetail(deps, params.key as string, url.searchParams),
      doc: {
        id: "getAgent",
        tag: "trust",
        summary: "One agent: τ and how it came about, counts, recent records",
        parameters: [
          pathParam("key", "the agent's public key, 64 hex digits", hex32("public key")),
          query("recent", `recent records to show, 1–${limits.listLimitMax} (default 10)`, int(undefined, { minimum: 1 })),
        ],
        answers: { 200: { description: "the agent", schema: ref("AgentDetail") } },
        errors: ["invalid_query", "not_found"],
      },
    },
    {
      method: "GET",
      path: "/v1/escalations",
      class: "read",
      handle: ({ url }) => listEscalations(deps, url.searchParams),
      doc: {
        id: "listEscalations",
        tag: "trust",
        summary: "Escalations: contested answers opened for review",
        parameters: [query("status", "default open", oneOfEnum(["open", "resolved", "all"]))],
        answers: { 200: { description: "the escalations", schema: ref("EscalationList") } },
        errors: ["invalid_query"],
      },
    },
    {
      method: "POST",
      path: "/v1/escalations/{id}/resolve",
      class: "admin",
      handle: ({ request, params }) => resolveEscalation(deps, request, params.id as string),
      doc: {
        id: "resolveEscalation",
        tag: "trust",
        summary: "Resolve an escalation (a review signed by the node's authority key)",
        description: "With `gold`, that assertion is also marked a gold standard.",
        parameters: [pathParam("id", "the escalation id (or its target)", str())],
        body: { required: false, content: jsonContent(ref("ResolveRequest")) },
        answers: { 200: { description: "resolved", schema: ref("ResolveResult") } },
        errors: [...jsonBodyCodes, "not_found", "already_resolved", ...decisionCodes],
      },
    },
    {
      method: "GET",
      path: "/v1/audit/queries",
      class: "read",
      handle: ({ url }) => listAudit(deps, url.searchParams),
      doc: {
        id: "queryAudit",
        tag: "trust",
        summary: "The query audit trail, newest first",
        parameters: [
          query("subject", "exact"),
          query("predicate", "exact"),
          query("lens", "exact"),
          query("caller", "`key:<id>` or a client address"),
          timeParam("since", "answered at or after"),
          timeParam("until", "answered at or before"),
          paramRef("Limit"),
          paramRef("Cursor"),
        ],
        answers: { 200: { description: "a page", schema: ref("QueryAuditPage") } },
        errors: ["invalid_query", "audit_disabled"],
      },
    },
  ];
}
