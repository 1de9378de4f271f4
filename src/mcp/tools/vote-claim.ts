/** `vote_claim`: endorse (+1) or dispute (−1) a claim (docs/SEMANTICS.md#votes). */
import { z } from "zod";
import { signerOf } from "../backend.ts";
import { defineTool, idArg, short, writeOutput, writeText } from "../tool.ts";
import { targetClaim } from "./target.ts";

export const voteClaim = defineTool({
  name: "vote_claim",
  title: "Endorse or dispute a claim",
  description: `Endorse (+1) or dispute (−1) another agent's claim, by its id (from query_claim, list_claims or assert_claim). Call it after you have checked a claim against evidence: endorsements build its author's trust (the trust lens) and move the vote lens; disputes do the opposite. Your latest vote on a claim replaces your earlier one. A vote does not say what the right value is: to state it, assert_claim as well.`,
  input: () =>
    z.strictObject({
      target: idArg("The id of the claim voted on (64 hex digits)."),
      value: z.union([z.literal(1), z.literal(-1)]).describe("+1 to endorse, −1 to dispute."),
      reason: z.string().min(1).optional().describe("Why, in a sentence: what you checked it against."),
    }),
  output: z.object({ ...writeOutput, target: z.string(), value: z.number().int() }),
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  async run(args, backend) {
    const signer = signerOf(backend);
    await targetClaim(backend, args.target);
    const result = await backend.client.vote(signer.sign({ kind: "vote", ...args }));
    const what = `vote ${args.value > 0 ? "+1 (endorse)" : "−1 (dispute)"} on claim ${short(args.target)}`;
    return {
      text: writeText(what, result, signer.agent),
      structured: { ...result, agent: signer.agent, target: args.target, value: args.value },
    };
  },
});
