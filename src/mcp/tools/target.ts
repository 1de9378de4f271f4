/**
 * The claim a vote or retraction targets, fetched first: the node would store a vote on an id
 * it has never seen (a replica may get the claim later, docs/SEMANTICS.md#the-record-set), which
 * for an agent is almost always a mistyped id. Through MCP the target must be a claim the node holds.
 */
import { StemeClientError } from "../../client/index.ts";
import { StemeError } from "../../core/errors.ts";
import type { McpBackend } from "../backend.ts";

export async function targetClaim(backend: McpBackend, id: string): Promise<Record<string, unknown>> {
  let record: Record<string, unknown>;
  try {
    record = await backend.client.get(id.toLowerCase());
  } catch (err) {
    if (err instanceof StemeClientError && err.status === 404)
      throw new StemeError("not_found", `target: no claim ${id} on this node`, {
        hint: "check the id: query_claim (each winner), list_claims and assert_claim show claim ids",
        extra: { field: "target" },
      });
    throw err;
  }
  if (record.kind !== "assertion")
    throw new StemeError("wrong_kind", `target: ${id} is a ${String(record.kind)} record, not a claim`, {
      hint: "votes and retractions target claims (assertions); list_claims shows their ids",
      extra: { field: "target" },
    });
  return record;
}
