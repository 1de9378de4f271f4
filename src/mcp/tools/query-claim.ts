/**
 * `query_claim`: resolve subject → predicate through one lens or several side by side
 * (docs/SEMANTICS.md#queries-and-lenses), with κ, a verdict and the explanation per lens.
 *
 * It sends `POST /v1/query` itself rather than through the client: `known_at` is passed through
 * as the agent gave it, so a server that supports it answers it, and an older one that does not
 * refuses the call — said to the model with a hint — instead of answering a different question.
 */
import { z } from "zod";
import { type Problem, type QueryAnswer, StemeClientError } from "../../client/index.ts";
import { lensNames, type Verdict, verdictFor } from "../../lens/index.ts";
import { blockingFlags } from "../../state/lifecycle.ts";
import type { Connection } from "../backend.ts";
import { kappaGuide, lensList, subjectGuide } from "../guide.ts";
import { defineTool, short, shownValue, timeArg } from "../tool.ts";

const lensArg = z.enum(lensNames as [string, ...string[]]);
const flagArg = z.enum(blockingFlags as [string, ...string[]]);

export const queryClaim = defineTool({
  name: "query_claim",
  title: "Ask what is known",
  description: `Ask what is known about subject → predicate. Every agent's latest claim counts; a lens picks the answer, says how contested it is (κ) and explains why. Call it before you state or rely on a fact others may have recorded, and before assert_claim, to see what is already claimed.
${kappaGuide}
Ask several lenses at once (lenses) to see whether the answer depends on the policy: when consensus and authority disagree, the crowd and the best source disagree — say so. No candidates means nobody has claimed it yet.`,
  input: (namespace) =>
    z.strictObject({
      subject: z.string().min(1).describe(subjectGuide(namespace)),
      predicate: z.string().min(1).describe("The property asked about, e.g. 'bleeding_risk_pct'."),
      lens: lensArg.optional().describe(`One lens (default consensus). ${lensList()}`),
      lenses: z
        .array(lensArg)
        .min(1)
        .max(8)
        .optional()
        .describe('Several lenses side by side (up to 8), instead of lens: e.g. ["consensus", "authority", "skeptic"].'),
      as_of: timeArg(
        "Time travel: only claims their agents dated at or before this time count. Agents state their own times, so a backdated claim counts here; known_at asks what the node had actually received.",
      ).optional(),
      known_at: timeArg(
        "Only claims this node had received by this time, however they were dated: what it knew then. Passed to the server as given; a server older than known_at refuses the call and says so.",
      ).optional(),
      valid_at: timeArg("Only claims whose validity interval [valid_from, valid_to) holds at this time.").optional(),
      tolerance: z
        .number()
        .min(0)
        .max(1)
        .optional()
        .describe(
          "Numbers within this relative distance agree: 0.05 = within 5 %. Use it for measured quantities so 0.20 and 0.21 form one camp.",
        ),
      include: z
        .array(flagArg)
        .optional()
        .describe('Also count claims hidden by these lifecycle flags, e.g. ["superseded"] to see history.'),
      layers: z
        .array(lensArg)
        .min(1)
        .max(6)
        .optional()
        .describe('For the layered lens: lenses in order (default ["authority", "recency"]).'),
    }),
  output: z.object({
    subject: z.string(),
    predicate: z.string(),
    answers: z.array(
      z.object({
        lens: z.string(),
        value: z.unknown().describe("the winning claim's value; null with no candidates"),
        winner: z
          .object({
            id: z.string(),
            agent: z.string(),
            confidence: z.number(),
            source: z.string().nullable(),
            ts: z.number(),
          })
          .nullable(),
        support: z.number().describe("the winner's group's share of the weight, 0–1"),
        conflict: z.number().describe("κ: 0 settled … 1 equal camps"),
        verdict: z.enum(["settled", "disputed", "contested"]),
        candidates: z.number().int(),
        groups: z.array(z.object({ value: z.unknown(), weight: z.number(), count: z.number().int() })),
        explain: z.array(z.string()),
        lsn: z.number().int(),
      }),
    ),
    summary: z.string().describe("what the answers mean together, for the model"),
  }),
  annotations: { readOnlyHint: true, openWorldHint: false },
  async run(args, backend) {
    const lenses = args.lenses ?? [args.lens ?? "consensus"];
    const { subject, lens: _lens, lenses: _lenses, ...options } = args;
    const body = { ...options, subject: backend.namespace.stored(subject), lenses };
    const results = await postQuery(backend.connection, body);
    const answers = lenses.map((lens) => summarize(lens, backend.namespace.present(results[lens] as QueryAnswer)));
    const summary = summaryOf(answers);
    return {
      text: [`${subject} → ${args.predicate}`, ...answers.map(answerText), summary].join("\n"),
      structured: { subject, predicate: args.predicate, answers, summary },
    };
  },
});

type Summary = ReturnType<typeof summarize>;

function summarize(lens: string, a: QueryAnswer) {
  const w = a.winner;
  return {
    lens,
    value: a.winner ? (a.value ?? null) : null,
    winner: w
      ? {
          id: w.id,
          agent: String(w.agent),
          confidence: Number(w.confidence),
          source: typeof w.source === "string" ? w.source : null,
          ts: Number(w.ts),
        }
      : null,
    support: a.support,
    conflict: a.conflict,
    verdict: (a.verdict ?? verdictFor(a.conflict)) as Verdict,
    candidates: a.candidates,
    groups: a.groups.map((g) => ({ value: g.value ?? null, weight: g.weight, count: g.count })),
    explain: a.explain ?? [],
    lsn: a.lsn,
  };
}

function answerText(a: Summary): string {
  if (a.winner === null) return `${a.lens}: no claims yet (no candidates).`;
  const by = `winner ${short(a.winner.id)} by agent ${short(a.winner.agent)}, confidence ${a.winner.confidence}${a.winner.source ? `, source ${a.winner.source}` : ""}`;
  return `${a.lens}: ${shownValue(a.value)} — support ${a.support.toFixed(2)}, κ ${a.conflict.toFixed(2)} ${a.verdict}; ${by}\n  why: ${a.explain.join("; ")}`;
}

/** What the answers mean together: nothing claimed, lenses that disagree, how contested. */
function summaryOf(answers: Summary[]): string {
  if (answers.every((a) => a.winner === null)) return "Nobody has claimed this yet.";
  const values = new Map<string, string[]>();
  for (const a of answers) {
    const key = shownValue(a.value);
    values.set(key, [...(values.get(key) ?? []), a.lens]);
  }
  const worst = Math.max(...answers.map((a) => a.conflict));
  const verdict = verdictFor(worst);
  const split =
    values.size > 1
      ? `The lenses disagree: ${[...values].map(([v, ls]) => `${ls.join(", ")} ${ls.length === 1 ? "says" : "say"} ${v}`).join("; ")}. `
      : answers.length > 1
        ? "The lenses agree. "
        : "";
  const advice =
    verdict === "contested"
      ? "Contested: do not state one value as fact; give the competing values with their support and sources."
      : verdict === "disputed"
        ? "Disputed: rely on it with care and mention the disagreement."
        : "Settled.";
  return `${split}${advice}`;
}

/** `POST /v1/query` with the body as given (see the top of this file); a refusal is a StemeClientError. */
async function postQuery(connection: Connection, body: Record<string, unknown>): Promise<Record<string, QueryAnswer>> {
  const res = await connection.fetch(`${connection.url.replace(/\/+$/, "")}/v1/query`, {
    method: "POST",
    headers: { ...connection.headers, accept: "application/json", "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = null;
  try {
    parsed = text.length ? JSON.parse(text) : null;
  } catch {
    // not a StemeDB answer: said below as bad_response
  }
  const requestId = res.headers.get("x-request-id");
  if (!res.ok || parsed === null || typeof parsed !== "object") {
    const problem: Problem =
      res.ok || parsed === null || typeof parsed !== "object"
        ? { type: "", title: "", status: res.status, code: "bad_response", detail: `not a StemeDB answer: ${text.slice(0, 200)}` }
        : (parsed as Problem);
    if (problem.field === "known_at")
      problem.hint =
        "this server is older than known_at (docs/SEMANTICS.md#the-record-set); ask again without it, or with as_of (the time the agents stated)";
    throw new StemeClientError(res.status, problem, requestId);
  }
  return (parsed as { results: Record<string, QueryAnswer> }).results;
}
