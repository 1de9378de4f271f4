/**
 * Handlers for resolving reads: queries (through the engine's views), escalations, agents and
 * the query audit trail. `app.ts` maps routes onto them.
 */
import { isAuditCursor, type QueryAuditLog } from "../audit/query-log.ts";
import { StemeError } from "../core/errors.ts";
import { toHex } from "../core/hex.ts";
import { listLimitMax } from "../core/limits.ts";
import type { Escalations } from "../decisions/escalations.ts";
import { agentCounts, agentKeys, listRecords } from "../index/list.ts";
import type { QueryEngine } from "../query/engine.ts";
import type { QueryAnswer, QueryRequest } from "../query/query.ts";
import { lensNames } from "../lens/index.ts";
import type { Metrics } from "../metrics/index.ts";
import type { Store } from "../store/store.ts";
import { trustFloor } from "../trust/rank.ts";
import { parseKey, parseLimit, parseText, parseTime } from "./params.ts";
import { badQuery, json, notFound } from "./problem.ts";

export interface ReadDeps {
  store: Store;
  metrics: Metrics;
  engine: QueryEngine;
  escalations: Escalations;
  audit: QueryAuditLog | null;
  escalateKappa: number;
  apiKeyOf: (request: Request) => string | null;
  callerOf: (request: Request) => string;
  requestIdOf: (request: Request) => string | undefined;
}

const jsonHeaders = { "content-type": "application/json" };

/** `GET /v1/query` (one lens) and `POST /v1/query` (`multi`: several, as `{results}`). */
export async function answerQuery(deps: ReadDeps, request: Request, q: QueryRequest, multi: boolean): Promise<Response> {
  const started = performance.now();
  try {
    return await answerQueryTimed(deps, request, q, multi);
  } finally {
    // Only known lens names become labels: a typo must not mint a new time series.
    const lens =
      q.lenses.length !== 1 ? "multiple" : lensNames.includes(q.lenses[0] as string) ? (q.lenses[0] as string) : "unknown";
    deps.metrics.querySeconds.observe({ lens }, (performance.now() - started) / 1000);
  }
}

async function answerQueryTimed(deps: ReadDeps, request: Request, q: QueryRequest, multi: boolean): Promise<Response> {
  if (q.escalate === undefined && q.explain !== false) {
    // Hot path: answers kept as views are sent as the JSON serialized when they were made.
    if (!multi) {
      const view = deps.engine.peek(q);
      if (view) {
        audit(deps, request, q, q.lenses[0] as string, view.answer, true);
        return new Response(view.json(), { headers: jsonHeaders });
      }
    } else {
      const views = deps.engine.peekAll(q);
      if (views) {
        for (const v of views) audit(deps, request, q, v.lens, v.answer, true);
        const body = `{"results":{${views.map((v) => `${JSON.stringify(v.lens)}:${v.json()}`).join(",")}}}`;
        return new Response(body, { headers: jsonHeaders });
      }
    }
  }
  const { answers, fromViews } = await deps.engine.query(q);
  const out: Record<string, QueryAnswer> = {};
  for (const lens of q.lenses) {
    let answer = answers[lens] as QueryAnswer;
    if (q.escalate !== undefined) answer = await maybeEscalate(deps, request, q, lens, answer);
    audit(deps, request, q, lens, answer, fromViews === q.lenses.length);
    if (q.explain === false) {
      const { explain: _explain, ...rest } = answer;
      answer = rest as QueryAnswer;
    }
    out[lens] = answer;
  }
  return multi ? json({ results: out }) : json(out[q.lenses[0] as string]);
}

/** κ at or over the threshold with a winner opens (or finds) the escalation on that winner. */
async function maybeEscalate(
  deps: ReadDeps,
  request: Request,
  q: QueryRequest,
  lens: string,
  answer: QueryAnswer,
): Promise<QueryAnswer> {
  const threshold = q.escalate === true ? deps.escalateKappa : (q.escalate as number);
  const winnerId = answer.winner?.id;
  if (answer.conflict < threshold || typeof winnerId !== "string") return answer;
  const { id, opened } = await deps.escalations.open(winnerId, {
    subject: q.subject,
    predicate: q.predicate,
    lens,
    conflict: answer.conflict,
    threshold,
    requestId: deps.requestIdOf(request),
    apiKey: deps.apiKeyOf(request),
  });
  return { ...answer, escalation: { id, target: winnerId, opened } } as QueryAnswer;
}

function audit(deps: ReadDeps, request: Request, q: QueryRequest, lens: string, answer: QueryAnswer, fromView: boolean): void {
  if (!deps.audit) return;
  const params: Record<string, unknown> = {};
  if (q.asOf !== undefined) params.as_of = q.asOf;
  if (q.validAt !== undefined) params.valid_at = q.validAt;
  if (q.tolerance !== undefined) params.tolerance = q.tolerance;
  if (q.include) params.include = q.include;
  if (q.layers) params.layers = q.layers;
  if (q.fresh) params.fresh = true;
  if (q.escalate !== undefined) params.escalate = q.escalate;
  deps.audit.record({
    at: Date.now(),
    caller: deps.callerOf(request),
    requestId: deps.requestIdOf(request) ?? null,
    subject: q.subject,
    predicate: q.predicate,
    lens,
    params,
    winner: typeof answer.winner?.id === "string" ? answer.winner.id : null,
    value: answer.value,
    conflict: answer.conflict,
    support: answer.support,
    lsn: answer.lsn,
    fromView,
  });
}

/** `GET /v1/audit/queries?subject=&predicate=&lens=&caller=&since=&until=&cursor=&limit=` */
export function listAudit(deps: ReadDeps, q: URLSearchParams): Response {
  const known = new Set(["subject", "predicate", "lens", "caller", "since", "until", "cursor", "limit"]);
  for (const key of q.keys())
    if (!known.has(key)) throw badQuery(key, `unknown parameter; expected one of ${[...known].join(", ")}`);
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
export function listEscalations(deps: ReadDeps, q: URLSearchParams): Response {
  for (const key of q.keys()) if (key !== "status") throw badQuery(key, "unknown parameter; expected status");
  const status = q.get("status") ?? "open";
  if (status !== "open" && status !== "resolved" && status !== "all")
    throw badQuery("status", 'expected "open", "resolved" or "all"');
  return json({ items: deps.escalations.list(status) });
}

/** `GET /v1/agents/:key`: τ and how it came about, record counts, recent records. */
export async function agentDetail(deps: ReadDeps, keyHex: string, q: URLSearchParams): Promise<Response> {
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
export async function listAgents(deps: ReadDeps, q: URLSearchParams): Promise<Response> {
  const known = new Set(["sort", "limit", "cursor"]);
  for (const key of q.keys())
    if (!known.has(key)) throw badQuery(key, `unknown parameter; expected one of ${[...known].join(", ")}`);
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
