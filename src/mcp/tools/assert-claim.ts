/** `assert_claim`: sign and store a claim, subject → predicate = object (docs/RECORDS.md#kinds-and-fields). */
import { z } from "zod";
import { signerOf } from "../backend.ts";
import { subjectGuide, tierGuide } from "../guide.ts";
import { defineTool, idArg, shownValue, timeArg, toMillis, writeOutput, writeText } from "../tool.ts";

export const assertClaim = defineTool({
  name: "assert_claim",
  title: "Record a claim",
  description: `Record a claim — subject → predicate = object — signed as this agent and stored for good. Call it when you have learned or concluded something worth keeping for other agents or later sessions.
Nothing is overwritten: other agents' claims stay beside yours, and a lens resolves the disagreement when someone asks (query_claim). Your latest claim on a subject and predicate is your one voice; to correct an earlier claim assert again with supersedes, or retract_claim it.
Set confidence honestly (consensus weighs claims by it), cite a registered source (register_source) so the authority lens can rank the claim, and list in depends_on the ids of claims this one was derived from (if one of them is retracted, this one is flagged too).
Returns the claim's id, for vote_claim, retract_claim, trace_provenance and depends_on.`,
  input: (namespace) =>
    z.strictObject({
      subject: z.string().min(1).describe(subjectGuide(namespace)),
      predicate: z
        .string()
        .min(1)
        .describe(
          "The property claimed: a short stable name, snake_case, unit in the name where it helps: 'bleeding_risk_pct', 'ceo', 'founded_year'.",
        ),
      object: z
        .unknown()
        .describe(
          'The value, any JSON. Give numbers as JSON numbers (0.2, not "0.2") so that tolerance and outlier detection work; text as a string; several facts as an object. Claims agree only when their values are equal (numbers: within a query\'s tolerance).',
        ),
      confidence: z
        .number()
        .min(0)
        .max(1)
        .default(1)
        .describe(
          "How sure you are, from 0 to 1 (default 1): 0.95 checked against a primary source, 0.7 good evidence, 0.5 plausible. The consensus lens weighs claims by it.",
        ),
      source: z
        .string()
        .min(1)
        .optional()
        .describe(`The source_id of a registered source this claim cites (register_source). ${tierGuide}`),
      evidence: z
        .array(z.string().min(1))
        .max(16)
        .optional()
        .describe("Up to 16 short texts behind the claim: quotes, URLs, reasoning."),
      depends_on: z
        .array(idArg("a claim id"))
        .max(64)
        .optional()
        .describe(
          "Ids of claims this one was derived from (up to 64, no repeats). Retracting any of them flags this one (cascade).",
        ),
      unit: z.string().min(1).optional().describe("The unit of a numeric object: 'mg', 'percent', 'USD'."),
      supersedes: idArg("The id of an earlier claim of yours that this one corrects: it stops counting.").optional(),
      valid_from: timeArg("When the claim starts to hold in the world (not when you say it).").optional(),
      valid_to: timeArg("When it stops holding (exclusive).").optional(),
      tags: z.array(z.string().min(1)).max(16).optional().describe("Up to 16 labels."),
      note: z.string().min(1).optional().describe("A free-text note."),
    }),
  output: z.object({
    ...writeOutput,
    subject: z.string(),
    predicate: z.string(),
    object: z.unknown(),
    confidence: z.number(),
  }),
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  async run(args, backend) {
    const signer = signerOf(backend);
    const { valid_from, valid_to, ...rest } = args;
    const fields: Record<string, unknown> = { kind: "assertion", ...rest, subject: backend.namespace.stored(args.subject) };
    if (valid_from !== undefined) fields.valid_from = toMillis("valid_from", valid_from);
    if (valid_to !== undefined) fields.valid_to = toMillis("valid_to", valid_to);
    const result = await backend.client.submit(signer.sign(fields as { kind: string }));
    const what = `claim ${args.subject} → ${args.predicate} = ${shownValue(args.object)} (confidence ${args.confidence}${args.source ? `, source ${args.source}` : ""})`;
    return {
      text: writeText(what, result, signer.agent),
      structured: {
        ...result,
        agent: signer.agent,
        subject: args.subject,
        predicate: args.predicate,
        object: args.object ?? null,
        confidence: args.confidence,
      },
    };
  },
});
