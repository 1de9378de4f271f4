/**
 * What the MCP server tells a model, written once: the lenses and when to prefer each, what κ
 * and the verdicts mean, what a source tier is, the server's instructions, the lens guide
 * resource and the fact-check prompt. The tool descriptions are built from these pieces, so a
 * lens or a threshold is explained the same way everywhere. The rules themselves are
 * docs/SEMANTICS.md#queries-and-lenses; this is their short form, for a model deciding what to call.
 */
import { contestedFrom, settledBelow } from "../lens/conflict.ts";
import { lensNames } from "../lens/index.ts";
import type { Namespace } from "./namespace.ts";

/** Each lens in a sentence: what wins, and when to prefer it. A test checks every lens is here. */
export const lensGuide: Readonly<Record<string, string>> = {
  consensus:
    "the value with the most total confidence: what most agents say, weighted by how sure they are. The default; a good first look.",
  authority:
    "the claim citing the best source tier (1 regulatory … 5 anecdotal; no source counts as 6), then the highest confidence. Prefer it for facts with authoritative sources: medicine, law, standards, specifications.",
  recency: "the latest claim, whoever made it. Prefer it for values that change over time: prices, status, who holds an office.",
  trust:
    "like consensus, but each claim weighs confidence × its author's trust τ (earned through endorsements from trusted agents, TrustRank). Prefer it when many unknown or possibly fake agents are involved.",
  vote: "like consensus, moved by other agents' +1/−1 votes on the claims (each vote weighted by the voter's trust).",
  skeptic:
    "consensus's answer plus the dissent (minority values, numeric outliers) and a verdict: settled, disputed or contested. Prefer it when you must judge whether a claim is reliable before acting on it.",
  layered:
    "several lenses in order (`layers`, default authority,recency): each narrows the candidates, the last picks. authority,recency reads 'the latest word of the best source available'.",
};

export const kappaGuide = `κ (conflict) says how contested an answer is: 0 when every candidate agrees, 1 when the weight is split into equal camps. Below ${settledBelow}: settled, rely on it. From ${settledBelow} to ${contestedFrom}: disputed, rely on it with care and mention the disagreement. ${contestedFrom} and above: contested — do not state one value as fact; report the competing values with their support and sources, ask other lenses, or trace_provenance the winner.`;

export const tierGuide =
  "Source tiers: 1 regulatory body or gold standard, 2 peer-reviewed, 3 clinical or expert opinion, 4 grey literature (reports, preprints), 5 anecdotal (forums, hearsay). A claim with no source, or citing a source nobody registered, counts as tier 6.";

/** The lenses as the query tool's argument describes them. */
export function lensList(): string {
  return lensNames.map((name) => `${name}: ${lensGuide[name] ?? ""}`).join(" ");
}

/** How subjects are named, with this session's namespace rule when there is one. */
export function subjectGuide(namespace: Namespace): string {
  const base =
    "A path of segments separated by '/', general to specific, e.g. 'pharma/drug/aspirin' or 'company/acme'. No '*' and no empty segments. Reuse subjects that list_claims shows rather than inventing variants.";
  if (namespace.prefix === null) return base;
  return `${base} Subjects are inside this session's namespace '${namespace.prefix}': give 'drug/aspirin', not '${namespace.prefix}/drug/aspirin'; a subject starting with '/' is outside it ('/shared/glossary').`;
}

/** The server's `instructions`, sent to the client at initialisation. */
export function serverInstructions(namespace: Namespace, agent: string | null): string {
  return [
    "StemeDB keeps signed claims from many agents and never settles a disagreement when it is written: every claim is kept, and at read time a lens picks an answer, scores how contested it is (κ) and explains why.",
    "Before you state or rely on a fact others may have recorded, call query_claim. Record what you learn with assert_claim, citing a source registered with register_source when you can. When an answer is contested, say so and show the camps rather than picking one silently.",
    "A claim is subject → predicate = object: the subject a path like 'pharma/drug/aspirin', the predicate a short name like 'bleeding_risk_pct'.",
    kappaGuide,
    agent
      ? `Records you write are signed as agent ${agent}.`
      : "This session cannot write: the writing tools will say why and what to do.",
    namespace.prefix === null ? "" : `Subjects are relative to the namespace '${namespace.prefix}'.`,
    "The resource stemedb://guide/lenses explains the lenses in full.",
  ]
    .filter(Boolean)
    .join("\n\n");
}

export const lensGuideUri = "stemedb://guide/lenses";

/** The lens guide resource (markdown). */
export function lensGuideText(): string {
  return [
    "# StemeDB lenses: how an answer is chosen",
    "",
    "For a subject and predicate, the candidates are the claims still in force (not retracted, superseded, quarantined …). One agent, one voice: only each agent's latest claim counts, so repeating a claim does not outvote anyone. Claims agree when their values are equal, or for numbers within the query's `tolerance` (0.05 = 5 %). Agreeing claims form a group; a lens weighs the groups and picks a winner.",
    "",
    "## The lenses",
    "",
    ...lensNames.map((name) => `- **${name}**: ${lensGuide[name] ?? ""}`),
    "",
    "## κ and the verdicts",
    "",
    kappaGuide,
    "",
    `κ = (1 − W_max / W_total) / (1 − 1/k) over the k groups' weights under the lens. Each lens weighs its own way, so κ differs between lenses. Verdicts: settled (κ < ${settledBelow}), disputed, contested (κ ≥ ${contestedFrom}).`,
    "",
    "## Which lens when",
    "",
    "- A fact with authoritative sources (dosage, regulation, specification): authority, and skeptic to see the dissent.",
    "- A value that changes (price, status, office holder): recency, or layered with layers authority,recency.",
    "- Many agents of unknown quality, possibly fake: trust.",
    "- Deciding whether to rely on a claim at all: skeptic; when consensus and authority disagree, the crowd and the best source disagree — say so.",
    "",
    "## Sources",
    "",
    tierGuide,
    "",
    "## Time",
    "",
    "`as_of` counts only claims their agents dated at or before a time (agents state their own times, so a backdated claim counts); `known_at` asks what the node had received by a time; `valid_at` keeps claims whose validity interval holds then.",
  ].join("\n");
}

/** The fact-check prompt's text for a subject, predicate and, optionally, the value to check. */
export function factCheckPrompt(subject: string, predicate: string, claim?: string): string {
  const what = claim ? `the claim that ${subject} → ${predicate} is ${claim}` : `what is known about ${subject} → ${predicate}`;
  return [
    `Fact-check ${what} against StemeDB.`,
    `1. Call query_claim with subject "${subject}", predicate "${predicate}" and lenses ["consensus", "authority", "skeptic"].`,
    "2. Read κ and the verdict. If the lenses agree and κ is low, the answer is settled: say so with its support.",
    "3. If they disagree or κ is high, call trace_provenance on each lens's winner to see its sources (tier, retracted?) and what it rests on.",
    "4. Answer with: the value you would rely on and why, the competing values with their sources and support, and how contested it is. Never present a contested value as settled fact.",
    claim
      ? "5. If you have checked evidence of your own, record it with assert_claim (citing a registered source) or vote_claim on the claim you verified."
      : "",
  ]
    .filter(Boolean)
    .join("\n");
}
