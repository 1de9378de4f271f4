/**
 * Operations (docs/API.md, §10): liveness, readiness, Prometheus metrics, and this API's own
 * description (OpenAPI JSON and a page for people). No key needed, no rate limit.
 */
import type { OpsService } from "../../backup/service.ts";
import type { Ingest } from "../../ingest/pipeline.ts";
import type { Metrics } from "../../metrics/index.ts";
import type { QueryEngine } from "../../query/engine.ts";
import type { Defense } from "../../defense/defense.ts";
import type { Store } from "../../store/store.ts";
import { docsHeaders } from "../docs-page.ts";
import { ref, str } from "../openapi/schema.ts";
import { json } from "../problem.ts";
import type { Route } from "../route.ts";

export interface OpsDeps {
  store: Store;
  ingest: Ingest;
  engine: QueryEngine;
  defense: Defense;
  metrics: Metrics;
  ops: OpsService;
  version: string;
  startedAtMs: number;
  isReady: () => { ready: boolean; reason?: string };
  /** This API described: the OpenAPI document as JSON and as a page, built once on first ask. */
  description: () => { json: string; page: string };
}

function health(deps: OpsDeps): Response {
  const { store } = deps;
  const root = deps.ops.root;
  return json({
    status: "ok",
    version: deps.version,
    node_id: store.dataDir.meta.node_id,
    lsn: store.log.lastLsn,
    index_lsn: store.indexLsn,
    root: root?.root ?? null,
    root_lsn: root?.lsn ?? null,
    root_records: root?.records ?? null,
    uptime_s: Math.round((Date.now() - deps.startedAtMs) / 1000),
  });
}

/** The exposition; values read at scrape time are each metric's `collect()` (metrics/scrape.ts). */
async function metrics({ metrics: m }: OpsDeps): Promise<Response> {
  return new Response(await m.registry.metrics(), { headers: { "content-type": m.registry.contentType } });
}

export function opsRoutes(deps: OpsDeps): Route[] {
  return [
    {
      method: "GET",
      path: "/v1/health",
      class: "health",
      handle: () => health(deps),
      doc: {
        id: "health",
        tag: "ops",
        summary: "Liveness: version and log position",
        answers: { 200: { description: "the process is up", schema: ref("Health") } },
      },
    },
    {
      method: "GET",
      path: "/v1/ready",
      class: "health",
      handle: () => {
        const state = deps.isReady();
        return state.ready
          ? json({ ready: true, lsn: deps.store.log.lastLsn })
          : json({ ready: false, reason: state.reason }, 503);
      },
      doc: {
        id: "ready",
        tag: "ops",
        summary: "Readiness",
        answers: {
          200: { description: "ready", schema: ref("Ready") },
          503: { description: "shutting down, after a failed log write, or while the index fails", schema: ref("NotReady") },
        },
      },
    },
    {
      method: "GET",
      path: "/metrics",
      class: "health",
      handle: () => metrics(deps),
      doc: {
        id: "metrics",
        tag: "ops",
        summary: "Prometheus metrics",
        description:
          "stemedb_wal_*, stemedb_index_*, stemedb_ingest_*, stemedb_http_* (by route and status), views, trust, rate-limit and limit rejections, the standard process_* series (docs/METRICS.md lists them all).",
        answers: { 200: { description: "Prometheus text exposition", content: { "text/plain": { schema: str() } } } },
      },
    },
    {
      method: "GET",
      path: "/openapi.json",
      class: "health",
      handle: () => new Response(deps.description().json, { headers: { "content-type": "application/json" } }),
      doc: {
        id: "openapi",
        tag: "ops",
        summary: "This document (OpenAPI 3.1)",
        answers: { 200: { description: "the document", schema: { type: "object", description: "OpenAPI 3.1" } } },
      },
    },
    {
      method: "GET",
      path: "/docs",
      class: "health",
      handle: () => new Response(deps.description().page, { headers: docsHeaders }),
      doc: {
        id: "docs",
        tag: "ops",
        summary: "This document as a page for people (no scripts, no network)",
        answers: { 200: { description: "HTML", content: { "text/html": { schema: str() } } } },
      },
    },
  ];
}
