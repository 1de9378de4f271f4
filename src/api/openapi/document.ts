/**
 * The HTTP API described in OpenAPI 3.1, served at `GET /openapi.json` and rendered for people
 * at `GET /docs` (docs-page.ts). The paths come from the route table (api/routes/): each
 * route's method, path, class and description; nothing here lists a route.
 */
import * as limits from "../../core/limits.ts";
import { answerSchemas } from "./answers.ts";
import { clusterSchemas } from "./cluster.ts";
import { componentHeaders, componentParameters } from "./operation.ts";
import { recordSchemas } from "./records.ts";
import { mib } from "./schema.ts";
import { roleFor } from "../../auth/guard.ts";
import { openApiPath, type Route } from "../route.ts";
import { operation } from "./operation.ts";
import type { Method, OpenApiDocument } from "./types.ts";

// ---------------------------------------------------------------- the document

const description = `A database of signed claims for AI agents. Every record is signed with the agent's Ed25519 key and addressed by the BLAKE3 hash of its canonical CBOR bytes; nothing is overwritten. This document is served by the node itself; docs/API.md walks through each endpoint with examples.

**Authentication.** With API keys on the node, every request but the health checks carries \`Authorization: Bearer <secret>\`. Roles nest: reader ⊂ writer ⊂ admin. Each operation names the role it needs in \`x-stemedb-role\`. No key, an unknown or a revoked one: \`401 unauthorized\`; too low a role: \`403 forbidden\`. A node bound only to loopback with no keys runs open.

**Rate limits.** A token bucket per key and per client address per endpoint class (read, write, admin; health checks are not limited). Answers carry \`RateLimit\` and \`RateLimit-Policy\` (draft-ietf-httpapi-ratelimit-headers); an empty bucket answers \`429 rate_limited\` with \`Retry-After\`.

**Limits.** Write bodies ${mib(limits.writeBodyBytesMax)}, batches ${mib(limits.batchBodyBytesMax)} and ${limits.batchRecordsMax} records, read and admin bodies 64 KiB (each configurable) → \`413\`; a body not received within --http-timeout-secs → \`408\`; an answer not ready within it → \`503 timeout\` with \`Retry-After\`.

**Errors** are RFC 9457 \`application/problem+json\` with a stable \`code\` (the Problem schema lists them all); \`detail\` is for people, \`field\` names the field at fault. Every response carries \`X-Request-Id\`.

**Times** in query parameters accept integer milliseconds since the Unix epoch or ISO 8601; times in records are milliseconds.`;

/** The document for a route table: every route an operation, its role from its class. */
export function openApiDocument(routes: readonly Route[], version: string): OpenApiDocument {
  return {
    openapi: "3.1.0",
    jsonSchemaDialect: "https://spec.openapis.org/oas/3.1/dialect/base",
    info: {
      title: "StemeDB HTTP API",
      version,
      summary: "Signed, content-addressed claims; lenses that resolve disagreement; provenance; trust.",
      description,
      license: { name: "Apache-2.0", identifier: "Apache-2.0" },
    },
    servers: [{ url: "http://127.0.0.1:18180", description: "the default bind address" }],
    tags: [
      { name: "write", description: "Signed records in: one, a vote, a retraction, a batch." },
      { name: "read", description: "Records by id, listings, the concept tree." },
      { name: "query", description: "Resolving a claim through a lens, with κ and an explanation." },
      { name: "trust", description: "TrustRank, escalations and the query audit trail." },
      { name: "provenance", description: "Sources and retraction cascades, epochs, provenance chains." },
      { name: "admin", description: "Authority decisions, API keys, views." },
      { name: "mcp", description: "The tools for agents over the Model Context Protocol (docs/MCP.md)." },
      { name: "cluster", description: "Members, shards and their replicas; leaving and draining (docs/CLUSTER.md)." },
      { name: "ops", description: "Health, readiness, metrics and this description. No key needed." },
    ],
    security: [{ bearerAuth: [] }],
    paths: paths(routes),
    components: {
      schemas: { ...recordSchemas(), ...answerSchemas(), ...clusterSchemas() },
      parameters: componentParameters,
      headers: componentHeaders,
      securitySchemes: {
        bearerAuth: {
          type: "http",
          scheme: "bearer",
          description: "An API key secret (stm_<id>_<secret>), from POST /v1/admin/keys or `stemedb keys create`.",
        },
      },
    },
  };
}

function paths(routes: readonly Route[]): OpenApiDocument["paths"] {
  const out: OpenApiDocument["paths"] = {};
  for (const route of routes) {
    const path = openApiPath(route.path);
    out[path] = { ...out[path], [route.method.toLowerCase() as Method]: operation(route.doc, roleFor[route.class]) };
  }
  return out;
}
