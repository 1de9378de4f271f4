/** `trace_provenance`: where a claim comes from, as a tree (docs/PROVENANCE.md#provenance-chain). */
import { z } from "zod";
import { type ProvenanceTree, provenanceDepthDefault, provenanceDepthMax, renderProvenance } from "../../provenance/tree.ts";
import { defineTool, idArg } from "../tool.ts";

/** Fields of a stored record a model has no use for: the signature and the encoded body. */
const bulky = new Set(["sig", "body", "v"]);

export const traceProvenance = defineTool({
  name: "trace_provenance",
  title: "Trace where a claim comes from",
  description: `Show where a claim comes from, as a tree: its source (title, tier, whether retracted), the claims it depends_on (recursively), the votes, retractions and reviews on each, and their lifecycle flags with the reason. Call it to audit a surprising or contested answer (trace each lens's winner from query_claim), or before building on a claim with depends_on.`,
  input: () =>
    z.strictObject({
      id: idArg("The claim's id (64 hex digits), e.g. a query_claim winner."),
      depth: z
        .number()
        .int()
        .min(0)
        .max(provenanceDepthMax)
        .optional()
        .describe(`How many levels of depends_on to follow (default ${provenanceDepthDefault}, at most ${provenanceDepthMax}).`),
    }),
  output: z.object({
    root: z
      .looseObject({ id: z.string() })
      .describe("the claim, its source, votes, retractions, reviews, flags, and depends_on nodes"),
    nodes: z.number().int(),
    dangling: z.array(z.string()).describe("ids depended on that this node has not seen"),
    lsn: z.number().int(),
  }),
  annotations: { readOnlyHint: true, openWorldHint: false },
  async run(args, backend) {
    const raw = await backend.client.provenance(args.id.toLowerCase(), args.depth === undefined ? {} : { depth: args.depth });
    const tree = backend.namespace.present(withoutBulk(raw)) as unknown as ProvenanceTree;
    const text = [renderProvenance(tree), tree.dangling.length ? `dangling (not on this node): ${tree.dangling.join(", ")}` : ""]
      .filter(Boolean)
      .join("\n");
    return { text, structured: tree as unknown as Record<string, unknown> };
  },
});

/** The tree without each record's signature and encoded body. */
function withoutBulk<T>(value: T): T {
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (v === null || typeof v !== "object") return v;
    return Object.fromEntries(
      Object.entries(v)
        .filter(([k]) => !bulky.has(k))
        .map(([k, x]) => [k, walk(x)]),
    );
  };
  return walk(value) as T;
}
