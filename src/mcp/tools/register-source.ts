/** `register_source`: a source that claims can cite (docs/SEMANTICS.md#sources-and-registrars). */
import { z } from "zod";
import { signerOf } from "../backend.ts";
import { tierGuide } from "../guide.ts";
import { defineTool, timeArg, toMillis, writeOutput, writeText } from "../tool.ts";

export const registerSource = defineTool({
  name: "register_source",
  title: "Register a source",
  description: `Register a source — a document, dataset, site or person — that claims can cite by its source_id, with a title and a tier. Call it before asserting claims from a source that is not registered yet (list_claims with kind "source" shows the registered ones; reuse their ids). ${tierGuide} Claim the tier honestly: the authority lens ranks claims by it, and a tier is itself a claim — tiers 1–3 count only once an authority confirms the registration (until then it counts as tier 4). A source_id registered by two agents is disputed and counts as unregistered until an authority settles it, so reuse an existing id only if it is yours.`,
  input: () =>
    z.strictObject({
      source_id: z.string().min(1).describe("A short stable id, e.g. 'fda-aspirin-label-2023' or 'doi:10.1000/xyz'."),
      title: z.string().min(1).describe("What the source is, e.g. 'FDA aspirin label, 2023'."),
      tier: z
        .number()
        .int()
        .min(1)
        .max(5)
        .describe(
          "1 regulatory or gold standard, 2 peer-reviewed, 3 clinical or expert opinion, 4 grey literature, 5 anecdotal.",
        ),
      url: z.string().min(1).optional().describe("Where it can be read."),
      published_at: timeArg("When it was published.").optional(),
    }),
  output: z.object({ ...writeOutput, source_id: z.string(), tier: z.number().int() }),
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  async run(args, backend) {
    const signer = signerOf(backend);
    const { published_at, ...rest } = args;
    const fields: Record<string, unknown> = { kind: "source", ...rest };
    if (published_at !== undefined) fields.published_at = toMillis("published_at", published_at);
    const result = await backend.client.registerSource(signer.sign(fields as { kind: string }));
    const pending = args.tier <= 3 ? `; it counts as tier 4 until an authority confirms tier ${args.tier}` : "";
    const what = `source ${args.source_id}: ${args.title} (tier ${args.tier} claimed${pending}); cite it with source "${args.source_id}"`;
    return {
      text: writeText(what, result, signer.agent),
      structured: { ...result, agent: signer.agent, source_id: args.source_id, tier: args.tier },
    };
  },
});
