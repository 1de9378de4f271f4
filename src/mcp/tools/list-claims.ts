/** `list_claims`: the raw signed records, filtered and paged (`GET /v1/assertions`, docs/API.md#reading). */
import { z } from "zod";
import { kinds } from "../../core/record.ts";
import { subjectGuide } from "../guide.ts";
import { defineTool, short, shownValue, timeArg } from "../tool.ts";

const limitDefault = 20;
const limitMax = 100;
/** Fields of a stored record a model has no use for: the signature and the encoded body. */
const bulky = new Set(["sig", "body", "v"]);

export const listClaims = defineTool({
  name: "list_claims",
  title: "Browse the records",
  description: `Browse the signed records themselves, without resolving them: find which subjects and predicates exist before asserting (reuse their names), see who said what and when, or find a claim's id to vote on, retract or trace. Newest first. To learn what is true, use query_claim instead: a list shows every claim, including outvoted and superseded ones (their flags say so).`,
  input: (namespace) =>
    z.strictObject({
      subject: z
        .string()
        .min(1)
        .optional()
        .describe(
          `An exact subject, or a prefix pattern 'pharma/drug/*' for everything below it${namespace.prefix === null ? ", or a tail pattern '*/aspirin'" : ""}. ${subjectGuide(namespace)}`,
        ),
      predicate: z.string().min(1).optional().describe("Only this predicate."),
      agent: z.string().optional().describe("Only records signed by this agent (public key, 64 hex digits)."),
      source: z.string().min(1).optional().describe("Only claims citing this source_id."),
      kind: z
        .enum([...kinds, "any"] as [string, ...string[]])
        .default("assertion")
        .describe(
          "Which records: assertion (claims, the default), source (registered sources), vote, retraction, source_retraction, epoch, review, or any.",
        ),
      since: timeArg("Only records dated at or after this time.").optional(),
      until: timeArg("Only records dated at or before this time.").optional(),
      limit: z
        .number()
        .int()
        .min(1)
        .max(limitMax)
        .default(limitDefault)
        .describe(`How many (1–${limitMax}, default ${limitDefault}).`),
      cursor: z.string().min(1).optional().describe("next_cursor from the previous page, for the next one."),
      order: z.enum(["desc", "asc"]).default("desc").describe("desc: newest first (default); asc: oldest first."),
    }),
  output: z.object({
    items: z.array(z.looseObject({ id: z.string(), kind: z.string(), agent: z.string(), ts: z.number() })),
    next_cursor: z.string().nullable().describe("pass as cursor for the next page; null on the last"),
  }),
  annotations: { readOnlyHint: true, openWorldHint: false },
  async run(args, backend) {
    const ns = backend.namespace;
    const subject = args.subject !== undefined ? ns.pattern(args.subject) : args.kind === "assertion" ? ns.everything : undefined;
    const page = await backend.client.list({ ...args, subject });
    const items = page.items.map((r) => ns.present(Object.fromEntries(Object.entries(r).filter(([k]) => !bulky.has(k)))));
    const lines = items.map(itemText);
    const text = [
      items.length === 0 ? "No records match." : `${items.length} record${items.length === 1 ? "" : "s"}:`,
      ...lines,
      page.next_cursor ? `More: call again with cursor "${page.next_cursor}".` : "",
    ]
      .filter(Boolean)
      .join("\n");
    return { text, structured: { items, next_cursor: page.next_cursor } };
  },
});

function itemText(r: Record<string, unknown>): string {
  const when = typeof r.ts === "number" ? new Date(r.ts).toISOString() : "";
  const flags = Array.isArray(r.flags) && r.flags.length ? ` [${r.flags.join(", ")}]` : "";
  const by = `by ${short(r.agent)} at ${when}, id ${r.id}`;
  switch (r.kind) {
    case "assertion":
      return `- ${r.subject} → ${r.predicate} = ${shownValue(r.object)} (confidence ${r.confidence}${r.source ? `, source ${r.source}` : ""})${flags} ${by}`;
    case "source":
      return `- source ${r.source_id}: ${r.title} (tier ${r.tier}) ${by}`;
    case "vote":
      return `- vote ${Number(r.value) > 0 ? "+1" : "−1"} on ${short(r.target)} ${by}`;
    case "retraction":
      return `- retraction of ${short(r.target)}${r.reason ? `: ${r.reason}` : ""} ${by}`;
    default:
      return `- ${r.kind} ${by}`;
  }
}
