/** `retract_claim`: withdraw one of the agent's own claims (docs/SEMANTICS.md#lifecycle-flags). */
import { z } from "zod";
import { StemeClientError } from "../../client/index.ts";
import { StemeError } from "../../core/errors.ts";
import { type McpBackend, signerOf } from "../backend.ts";
import { defineTool, idArg, short, writeOutput, writeText } from "../tool.ts";
import { targetClaim } from "./target.ts";

export const retractClaim = defineTool({
  name: "retract_claim",
  title: "Withdraw your claim",
  description: `Withdraw one of your own claims, by its id, when you learn it was wrong or unfounded. The claim stays in the log (history is never erased; trace_provenance shows the retraction) but stops counting in every answer, and every claim that depends_on it is flagged too (cascade). A retraction is final. Only the claim's author (or an authority) can retract it: to disagree with someone else's claim, vote_claim −1 and assert_claim your own value. To replace a value rather than withdraw it, assert_claim with supersedes.`,
  input: () =>
    z.strictObject({
      target: idArg("The id of your claim to withdraw (64 hex digits)."),
      reason: z.string().min(1).optional().describe("Why it is withdrawn, in a sentence."),
    }),
  output: z.object({ ...writeOutput, target: z.string() }),
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
  async run(args, backend) {
    const signer = signerOf(backend);
    const claim = await targetClaim(backend, args.target);
    if (claim.agent !== signer.agent && !(await isAuthority(backend, signer.agent)))
      throw new StemeError("forbidden", `target: claim ${short(args.target)} is agent ${short(claim.agent)}'s, not yours`, {
        hint: "only a claim's author (or an authority) can retract it; to disagree, vote_claim with value -1 and assert_claim your own value",
        extra: { field: "target" },
      });
    const result = await backend.client.retract(signer.sign({ kind: "retraction", ...args }));
    const what = `retraction of claim ${short(args.target)} (${backend.namespace.shown(String(claim.subject))} → ${claim.predicate}); it and the claims that depend on it no longer count`;
    return { text: writeText(what, result, signer.agent), structured: { ...result, agent: signer.agent, target: args.target } };
  },
});

/** Whether the node counts `agent` as an authority (an agent it has never seen is not one). */
async function isAuthority(backend: McpBackend, agent: string): Promise<boolean> {
  try {
    return (await backend.client.agent(agent)).authority === true;
  } catch (err) {
    if (err instanceof StemeClientError && err.status === 404) return false;
    throw err;
  }
}
