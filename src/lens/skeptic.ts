/**
 * `skeptic` (docs/SEMANTICS.md#the-lenses): consensus's winner, plus the dissent and a verdict.
 *
 * The dissent is every minority group and every numeric outlier: a candidate whose number lies
 * more than 3 MAD from the confidence-weighted median of the numeric candidates (MAD: the
 * median absolute deviation, weighted the same way; Hampel's rule). When the MAD is 0 — more
 * than half the weight sits on one value — any number off the median is an outlier, unless it
 * agrees with the median under the query's tolerance. With fewer than 3 numbers there is no
 * meaningful median and no outlier. The verdict follows κ: settled below 0.2, contested from
 * 0.5, disputed between.
 */
import { contestedFrom, settledBelow, verdictFor } from "./conflict.ts";
import { consensusWeight } from "./consensus.ts";
import { fmt, fmtValue, plural, resolveHeaviest } from "./result.ts";
import { numbersAgree, oneVoicePerAgent } from "./select.ts";
import type { Candidate, Dissent, Lens, LensParams, LensResult, Outlier } from "./types.ts";

/** How many MADs from the median make an outlier. */
export const outlierMads = 3;
/** Fewest numeric candidates for a median to say anything. */
export const outlierCandidatesMin = 3;

export const skeptic: Lens = {
  name: "skeptic",
  resolve(candidates: Candidate[], params: LensParams): LensResult {
    const result = resolveHeaviest("skeptic", candidates, params, consensusWeight, "Σ confidence");
    const winnerId = result.winner?.id;
    const minority = result.groups.filter((g) => winnerId === undefined || !g.ids.includes(winnerId));
    const numeric = numericOutliers(oneVoicePerAgent(candidates).kept, params.tolerance);
    const dissent: Dissent = { groups: minority, ...numeric };
    const verdict = verdictFor(result.conflict);
    const lines: string[] = [];
    for (const g of minority) lines.push(`dissent: ${fmtValue(g.value)} (${plural(g.count, "agent")}, weight ${fmt(g.weight)})`);
    for (const o of numeric.outliers) {
      const far = o.distanceMads === null ? "off the median (MAD 0)" : `${fmt(o.distanceMads)} MAD`;
      lines.push(
        `outlier: ${fmt(o.value)} from agent ${o.agent.slice(0, 8)}… is ${far} from the weighted median ${fmt(numeric.median!)}`,
      );
    }
    lines.push(`verdict: ${verdict} (settled below κ ${settledBelow}, contested from ${contestedFrom})`);
    return { ...result, verdict, dissent, explain: [...result.explain, ...lines] };
  },
};

interface Weighted {
  x: number;
  w: number;
  id: string;
}

/** The lower weighted median: the first value (sorted by x, then id) at which half the weight is reached. */
export function weightedMedian(items: readonly Weighted[]): number {
  const sorted = [...items].sort((a, b) => a.x - b.x || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const total = sorted.reduce((s, i) => s + i.w, 0);
  let sum = 0;
  for (const i of sorted) {
    sum += i.w;
    if (sum >= total / 2) return i.x;
  }
  return sorted.at(-1)!.x;
}

export function numericOutliers(
  kept: readonly Candidate[],
  tolerance: number | undefined,
): Pick<Dissent, "outliers" | "median" | "mad"> {
  const numbers = kept.filter((c): c is Candidate & { object: number } => typeof c.object === "number");
  if (numbers.length < outlierCandidatesMin) return { outliers: [], median: null, mad: null };
  // All-zero confidence would leave no weight: fall back to one vote per number.
  const anyWeight = numbers.some((c) => c.confidence > 0);
  const items = numbers.map((c) => ({ x: c.object, w: anyWeight ? c.confidence : 1, id: c.id }));
  const median = weightedMedian(items);
  const mad = weightedMedian(items.map((i) => ({ ...i, x: Math.abs(i.x - median) })));
  const outliers: Outlier[] = [];
  for (const c of numbers) {
    const deviation = Math.abs(c.object - median);
    if (deviation <= outlierMads * mad) continue;
    if (tolerance !== undefined && numbersAgree(c.object, median, tolerance)) continue;
    outliers.push({ id: c.id, agent: c.agent, value: c.object, distanceMads: mad > 0 ? deviation / mad : null });
  }
  return { outliers, median, mad };
}
