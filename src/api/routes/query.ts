/**
 * Queries (docs/SEMANTICS.md#queries-and-lenses): a (subject, predicate) resolved through one lens or several side by side,
 * through the engine's materialized views; every predicate of a subject; escalation of
 * contested answers; the query audit trail's entries.
 */
import type { QueryAuditLog } from "../../audit/query-log.ts";
import type { Escalations } from "../../decisions/escalations.ts";
import { lensNames } from "../../lens/index.ts";
import type { Metrics } from "../../metrics/index.ts";
import type { QueryEngine } from "../../query/engine.ts";
import { type AnswerSummary, type QueryAnswer, type QueryRequest, summaryOf } from "../../query/query.ts";
import type { Store } from "../../store/store.ts";
import { type BodyLimit, parseJson, readBody } from "../body.ts";
import { jsonBodyCodes, json as jsonContent, lensParams, pathParam, query } from "../openapi/operation.ts";
import type { ProblemCode } from "../../core/errors.ts";
import { ref, str } from "../openapi/schema.ts";
import { json } from "../problem.ts";
import { parseQueryBody, parseQueryParams } from "../query-params.ts";
import type { Route } from "../route.ts";

export interface QueryDeps {
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
async function answerQuery(deps: QueryDeps, request: Request, q: QueryRequest, multi: boolean): Promise<Response> {
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

async function answerQueryTimed(deps: QueryDeps, request: Request, q: QueryRequest, multi: boolean): Promise<Response> {
  if (q.escalate === undefined && q.explain !== false) {
    // Hot path: answers kept as views are sent as the JSON serialized when they were made.
    if (!multi) {
      const view = deps.engine.peek(q);
      if (view) {
        audit(deps, request, q, q.lenses[0] as string, summaryOf(view.answer), true);
        return new Response(view.json(), { headers: jsonHeaders });
      }
    } else {
      const views = deps.engine.peekAll(q);
      if (views) {
        for (const v of views) audit(deps, request, q, v.lens, summaryOf(v.answer), true);
        const body = `{"results":{${views.map((v) => `${JSON.stringify(v.lens)}:${v.json()}`).join(",")}}}`;
        return new Response(body, { headers: jsonHeaders });
      }
    }
  }
  const result = await deps.engine.query(q);
  if (!multi && q.escalate === undefined && q.explain !== false) {
    // A query worker's answer is sent as the text it came as.
    const lens = q.lenses[0] as string;
    const text = result.json?.[lens];
    const summary = result.summaries?.[lens];
    if (text !== undefined && summary !== undefined) {
      audit(deps, request, q, lens, summary, false);
      return new Response(text, { headers: jsonHeaders });
    }
  }
  const { answers, fromViews } = result;
  const out: Record<string, QueryAnswer> = {};
  for (const lens of q.lenses) {
    let answer = answers[lens] as QueryAnswer;
    if (q.escalate !== undefined) answer = await maybeEscalate(deps, request, q, lens, answer);
    audit(deps, request, q, lens, summaryOf(answer), fromViews === q.lenses.length);
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
  deps: QueryDeps,
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

function audit(deps: QueryDeps, request: Request, q: QueryRequest, lens: string, answer: AnswerSummary, fromView: boolean): void {
  if (!deps.audit) return;
  const params: Record<string, unknown> = {};
  if (q.asOf !== undefined) params.as_of = q.asOf;
  if (q.knownAt !== undefined) params.known_at = q.knownAt;
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
    winner: answer.winner,
    value: answer.value,
    conflict: answer.conflict,
    support: answer.support,
    lsn: answer.lsn,
    fromView,
  });
}

const queryCodes: readonly ProblemCode[] = ["invalid_query", "unknown_lens", "query_too_large", "overloaded", "log_write_failed"];

/** `GET /v1/subjects/{path+}`: every predicate of the subject, each through the query's lens. */
async function subjectAnswers(deps: QueryDeps, url: URL, subject: string): Promise<Response> {
  const params = new URLSearchParams(url.searchParams);
  params.set("subject", subject);
  params.set("predicate", "-"); // every predicate: parsed for the other parameters only
  return json(await deps.engine.subject(subject, parseQueryParams(params)));
}

export function queryRoutes(deps: QueryDeps & { limits: { read: BodyLimit } }): Route[] {
  return [
    {
      method: "GET",
      path: "/v1/query",
      class: "read",
      handle: ({ request, url }) => answerQuery(deps, request, parseQueryParams(url.searchParams), false),
      doc: {
        id: "query",
        tag: "query",
        summary: "Resolve (subject, predicate) through a lens",
        description:
          "Candidates are the visible assertions about the pair (docs/API.md); one agent, one voice. Without as_of and known_at the answer may come from a materialized view equal to the resolved one. With escalate, an answer whose κ reaches the threshold opens an escalation on its winner.",
        parameters: [
          query("subject", "the subject path", str(), true),
          query("predicate", "the predicate", str(), true),
          ...lensParams,
        ],
        answers: { 200: { description: "the answer", schema: ref("QueryAnswer") } },
        errors: queryCodes,
      },
    },
    {
      method: "POST",
      path: "/v1/query",
      class: "read",
      handle: async ({ request }) =>
        answerQuery(deps, request, parseQueryBody(parseJson(await readBody(request, deps.limits.read))), true),
      doc: {
        id: "queryLenses",
        tag: "query",
        summary: "Resolve through several lenses side by side",
        body: { description: "JSON, at most 64 KiB (--read-body-limit)", content: jsonContent(ref("QueryRequest")) },
        answers: { 200: { description: "lens → answer", schema: ref("MultiQueryAnswer") } },
        errors: [...queryCodes, ...jsonBodyCodes],
      },
    },
    {
      method: "GET",
      path: "/v1/subjects/{path+}",
      class: "read",
      handle: ({ url, params }) => subjectAnswers(deps, url, params.path as string),
      doc: {
        id: "subject",
        tag: "query",
        summary: "Every predicate of a subject, resolved",
        description:
          "Every predicate asserted about exactly that subject, each through one lens (at most 500, by name). The path's slashes may stay unencoded: the rest of the URL path is the subject.",
        parameters: [pathParam("path", "the subject, e.g. pharma/drug/aspirin"), ...lensParams],
        answers: { 200: { description: "predicate → answer", schema: ref("SubjectAnswer") } },
        errors: ["invalid_query", "unknown_lens", "query_too_large"],
      },
    },
  ];
}
