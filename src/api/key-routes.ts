/** `POST /v1/admin/keys`, `DELETE /v1/admin/keys/:id` (the list is a one-liner in app.ts). */
import type { KeyStore } from "../auth/keys.ts";
import { StemeError } from "../core/errors.ts";
import { parseJson, readBody } from "./body.ts";
import { json } from "./problem.ts";

export interface KeyRouteDeps {
  keys: KeyStore;
  readBodyBytesMax: number;
}

/** `{"name", "role"}` → `201 {"id", "name", "role", "secret", "created_at"}`. */
export async function createKey(deps: KeyRouteDeps, request: Request): Promise<Response> {
  const body = parseJson(await readBody(request, deps.readBodyBytesMax));
  if (body === null || typeof body !== "object" || Array.isArray(body))
    throw new StemeError("invalid_request", 'expected a JSON object like {"name": "ingest-bot", "role": "writer"}');
  for (const key of Object.keys(body))
    if (key !== "name" && key !== "role")
      throw new StemeError("unknown_field", `${key}: expected name, role`, { extra: { field: key } });
  const { name, role } = body as { name?: unknown; role?: unknown };
  if (typeof name !== "string") throw new StemeError("missing_field", "name: required text", { extra: { field: "name" } });
  if (typeof role !== "string")
    throw new StemeError("missing_field", "role: required (reader, writer or admin)", { extra: { field: "role" } });
  return json(deps.keys.create(name, role), 201);
}

export function revokeKey(deps: KeyRouteDeps, id: string): Response {
  if (!/^[0-9a-f]{16}$/.test(id)) throw new StemeError("invalid_query", "id: expected a key id (16 hex digits)");
  if (!deps.keys.revoke(id)) throw new StemeError("not_found", `no API key ${id}`);
  return json({ id, revoked: true });
}
