/**
 * `stemedb source`: a source's entry, or what retracting it would take down; `source confirm ID`
 * has the node's authority vouch for its registration (admin).
 */
import { type Problem, StemeClientError } from "../../client/index.ts";
import { authHeaders, connect, reachingFetch } from "../client.ts";
import { defineCommand } from "../command.ts";
import type { Env } from "../flags.ts";
import { flag, jsonFlag, serverFlag, text } from "../flags.ts";
import { json, table } from "../output.ts";

/**
 * `POST /v1/admin/sources/:id/confirm`. (The client package has no method for admin decisions
 * on sources; the request is small enough to make here.)
 */
async function postConfirm(server: string, env: Env, id: string, body: Record<string, string>) {
  const res = await reachingFetch(server)(`${server.replace(/\/+$/, "")}/v1/admin/sources/${encodeURIComponent(id)}/confirm`, {
    method: "POST",
    headers: { accept: "application/json", "content-type": "application/json", ...authHeaders(env) },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  if (!res.ok || parsed === null || typeof parsed !== "object") {
    const problem: Problem =
      parsed !== null && typeof parsed === "object" && "code" in parsed
        ? (parsed as Problem)
        : { type: "", title: "", status: res.status, code: "bad_response", detail: `not JSON: ${text.slice(0, 200)}` };
    throw new StemeClientError(res.status, problem, res.headers.get("x-request-id"));
  }
  return parsed as {
    id: string;
    target: string;
    source: { tier: number; claimed_tier: number | null; registrar: string | null };
  };
}

const confirm = defineCommand({
  name: "source confirm",
  summary: "vouch for a source's registration as the node's authority (its tier 1–3 counts; settles a dispute)",
  usage: ["stemedb source confirm ID [--record RECORD_ID] [--note TEXT] [--json] [--server URL]"],
  about: `Writes a confirm_source review signed by the node's authority key (POST /v1/admin/sources/:id/confirm),
of the source's current entry, or of the registration --record names (needed when two agents
registered the source). Needs an admin key in $STEMEDB_API_KEY when the server has keys.`,
  flags: {
    record: text({ help: "the registration (source record id) to confirm", value: "RECORD_ID" }),
    note: text({ help: "why (kept in the review record)", value: "TEXT" }),
    json: jsonFlag,
    server: serverFlag,
  },
  args: [{ name: "ID" }],
  async run({ values, args }, io) {
    const id = args[0] as string;
    const body = {
      ...(values.record !== undefined ? { record: values.record } : {}),
      ...(values.note !== undefined ? { note: values.note } : {}),
    };
    const r = await postConfirm(values.server, io.env, id, body);
    if (values.json) io.out(json(r));
    else
      io.out(
        `confirmed ${id}: record ${r.target.slice(0, 12)}… now counts as tier ${r.source.tier} (review ${r.id.slice(0, 12)}…)`,
      );
    return 0;
  },
});

export const source = defineCommand({
  name: "source",
  summary: "a source's entry and citations, or what retracting it would take down (--impact)",
  usage: [
    "stemedb source ID [--impact] [--json] [--server URL]",
    "stemedb source confirm ID [--record RECORD_ID] [--note TEXT] [--json] [--server URL]",
  ],
  flags: { impact: flag("what retracting it would flag (a dry run)"), json: jsonFlag, server: serverFlag },
  args: [{ name: "ID" }],
  subcommands: [confirm],
  async run({ values, args }, io) {
    const id = args[0] as string;
    const client = connect(values.server, io.env);
    if (values.impact) {
      const first = await client.sourceImpact(id, { limit: 1000 });
      if (values.json) {
        io.out(json(first));
        return 0;
      }
      io.out(
        `retracting ${id} would flag ${first.source_retracted} citing assertions and ${first.cascade} more through depends_on`,
      );
      for (const i of first.items.slice(0, 20))
        io.out(`  ${i.flag.padEnd(16)} depth ${i.depth}  ${i.id.slice(0, 12)}…  ${i.subject} ${i.predicate}`);
      if (first.total > 20) io.out(`  … ${first.total - 20} more (--json for the first 1000)`);
      return 0;
    }
    const s = await client.source(id);
    io.out(
      values.json
        ? json(s)
        : table(
            ["field", "value"],
            Object.entries(s).map(([k, v]) => [k, typeof v === "object" ? JSON.stringify(v) : String(v)]),
          ),
    );
    return 0;
  },
});
