/**
 * Internal: the steps every lens shares — select, group, weigh, score, explain — so each lens
 * file holds only what makes it different (how it weighs and how it picks).
 */
import { encodeCanonical, type Value } from "../core/cbor.ts";
import { toHex } from "../core/hex.ts";
import { conflictScore, verdictFor } from "./conflict.ts";
import { type CandidateGroup, checkParams, groupCandidates, groupOf, later, oneVoicePerAgent } from "./select.ts";
import type { Candidate, LensGroup, LensParams, LensResult } from "./types.ts";

/** Candidates after one agent, one voice, grouped. */
export interface Prepared {
  params: LensParams;
  /** Sorted by (ts, id), earliest first. */
  kept: Candidate[];
  setAside: number;
  groups: CandidateGroup[];
}

/**
 * Prepared candidate lists, by list and tolerance: the lenses of one query are handed the same
 * list, and one agent, one voice and the grouping need doing once for all of them. (A list is
 * never changed once a lens has it.)
 */
const preparedLists = new WeakMap<readonly Candidate[], Map<number | undefined, Omit<Prepared, "params">>>();

export function prepare(candidates: readonly Candidate[], params: LensParams): Prepared {
  checkParams(params);
  let byTolerance = preparedLists.get(candidates);
  const known = byTolerance?.get(params.tolerance);
  if (known) return { ...known, params };
  const { kept, setAside } = oneVoicePerAgent(candidates);
  const made = { kept, setAside, groups: groupCandidates(kept, params.tolerance) };
  if (!byTolerance) {
    byTolerance = new Map();
    preparedLists.set(candidates, byTolerance);
  }
  byTolerance.set(params.tolerance, made);
  return { ...made, params };
}

export interface WeightedGroup extends CandidateGroup {
  weight: number;
  /** The group's latest member by (ts, id). */
  latest: Candidate;
}

/** Heaviest first; equal weights go to the group holding the later candidate. */
export function weigh(groups: readonly CandidateGroup[], weightOf: (c: Candidate) => number): WeightedGroup[] {
  const weighted = groups.map((g) => {
    let weight = 0;
    for (const c of g.members) weight += weightOf(c); // members are in (ts, id) order: same sum every time
    const latest = g.members.reduce(later);
    return { ...g, weight, latest };
  });
  return weighted.sort((a, b) => b.weight - a.weight || (later(a.latest, b.latest) === a.latest ? -1 : 1));
}

export const totalWeight = (groups: readonly WeightedGroup[]): number => groups.reduce((s, g) => s + g.weight, 0);

/** Assembles the result; `lines` are the lens's own explanation, between the shared ones. */
export function finish(
  lens: string,
  prep: Prepared,
  weighted: readonly WeightedGroup[],
  winner: Candidate | null,
  lines: readonly string[],
): LensResult {
  const total = totalWeight(weighted);
  const conflict = conflictScore(weighted.map((g) => g.weight));
  let support = 0;
  if (winner !== null) {
    const home = groupOf(weighted, winner);
    // With no weight at all (every τ 0, say) a share of weight means nothing: count heads instead.
    support = total > 0 ? home.weight / total : home.members.length / prep.kept.length;
  }
  const own = winner === null ? [] : valueLine(groupOf(weighted, winner).value, winner);
  return {
    lens,
    winner,
    value: winner === null ? null : winner.object,
    support: tidy(support),
    conflict: tidy(conflict),
    groups: weighted.map(publicGroup),
    candidates: prep.kept.length,
    explain: [...headLines(prep), ...lines, ...own, kappaLine(conflict, weighted.length, total)],
    params: prep.params,
  };
}

/**
 * Under a tolerance a group is named by its earliest claim but answered by the winning claim;
 * when the two values differ, say so.
 */
function valueLine(groupValue: Value, winner: Candidate): string[] {
  const a = encodeCanonical(groupValue).slice();
  const b = encodeCanonical(winner.object);
  if (a.length === b.length && a.every((x, i) => x === b[i])) return [];
  return [`the answer is the winning claim's own value, ${fmtValue(winner.object)}, within tolerance of ${fmtValue(groupValue)}`];
}

/**
 * Weights and scores for people and programs: 12 significant digits, so sums like
 * 0.6 + 0.6 + 0.6 read 1.8, not 1.7999999999999998. Decisions use the unrounded values.
 */
export function tidy(x: number): number {
  return Number(x.toPrecision(12));
}

export function publicGroup(g: WeightedGroup): LensGroup {
  return { value: g.value, weight: tidy(g.weight), count: g.members.length, ids: g.members.map((c) => c.id) };
}

function headLines(prep: Prepared): string[] {
  const n = prep.kept.length;
  if (n === 0) return ["no candidates: nothing to resolve"];
  const lines =
    prep.setAside === 0
      ? [`${plural(n, "candidate")} from ${plural(n, "agent")}`]
      : [
          `${plural(n + prep.setAside, "claim")} from ${plural(n, "agent")}; one agent, one voice sets aside ${plural(prep.setAside, "older claim")}`,
        ];
  if (prep.params.tolerance !== undefined && prep.params.tolerance > 0) {
    lines.push(`numbers within ${fmt(prep.params.tolerance * 100)}% of each other agree`);
  }
  if (prep.groups.length === 1) lines.push(`all agree on ${fmtValue(prep.groups[0]!.value)}`);
  else {
    const parts = prep.groups.map((g) => `${fmtValue(g.value)} (${plural(g.members.length, "agent")})`);
    lines.push(`${prep.groups.length} values: ${parts.join(", ")}`);
  }
  return lines;
}

function kappaLine(kappa: number, k: number, total: number): string {
  if (k < 2) return "κ = 0: no disagreement";
  if (total <= 0) return "κ = 0: no weight to measure disagreement by";
  return `κ = ${kappa.toFixed(2)}: ${verdictFor(kappa)}`;
}

/**
 * The shared pick for consensus, vote and trust: the heaviest group wins (ties to the group
 * holding the latest candidate), and its latest member stands for it.
 */
export function resolveHeaviest(
  lens: string,
  candidates: readonly Candidate[],
  params: LensParams,
  weightOf: (c: Candidate) => number,
  weightName: string,
): LensResult {
  const prep = prepare(candidates, params);
  const weighted = weigh(prep.groups, weightOf);
  const top = weighted[0];
  if (top === undefined) return finish(lens, prep, weighted, null, []);
  const total = totalWeight(weighted);
  const lines: string[] = [];
  const tied = weighted.filter((g) => g.weight === top.weight).length;
  if (total <= 0) {
    lines.push(`no candidate carries any ${weightName}; the group holding the latest candidate wins`);
  } else if (tied > 1) {
    lines.push(`${tied} values tie on ${weightName} ${fmt(top.weight)}; ${fmtValue(top.value)} holds the latest candidate`);
  } else {
    lines.push(`${fmtValue(top.value)} has the largest ${weightName}: ${fmt(top.weight)} of ${fmt(total)}`);
  }
  return finish(lens, prep, weighted, top.latest, lines);
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** A number for people: at most 3 decimals. */
export function fmt(x: number): string {
  return String(Math.round(x * 1000) / 1000);
}

/** A value for people, cut to a readable length. */
export function fmtValue(v: Value): string {
  const text = JSON.stringify(v, (_k, x) => (x instanceof Uint8Array ? `0x${toHex(x)}` : x)) ?? "null";
  return text.length > 40 ? `${text.slice(0, 39)}…` : text;
}
