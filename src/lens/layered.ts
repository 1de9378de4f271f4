/**
 * `layered` (docs/SEMANTICS.md#the-lenses): `layers=authority,recency` — each layer narrows the candidates to its
 * best group, and the last layer picks the winner among what is left.
 *
 * What "best group" means per layer (the contract is silent; we take each lens's *primary* criterion,
 * so that a later layer still has something to choose between):
 * - `authority`: the candidates of the best tier (so authority,recency is "the latest word of
 *   the best source available", e.g. an updated regulator label);
 * - `recency`: the candidates sharing the latest ts;
 * - `consensus`, `vote`, `trust`, `skeptic`: the winner's value group under that lens.
 *
 * `groups`, `conflict` and `support` come from the first layer run over all candidates: κ
 * describes the disagreement the query faced, not the few candidates left at the end.
 */
import { authority, bestTier } from "./authority.ts";
import { consensus } from "./consensus.ts";
import { invalid } from "../core/errors.ts";
import { recency } from "./recency.ts";
import { fmtValue, plural, tidy } from "./result.ts";
import { oneVoicePerAgent } from "./select.ts";
import { skeptic } from "./skeptic.ts";
import { trust } from "./trust.ts";
import type { Candidate, Lens, LensParams, LensResult } from "./types.ts";
import { vote } from "./vote.ts";

export const defaultLayers: readonly string[] = ["authority", "recency"];
/** More layers than lenses would only repeat one. */
export const layersMax = 6;

const layerable: Record<string, Lens> = { recency, consensus, vote, authority, trust, skeptic };

type Narrow = (kept: Candidate[], params: LensParams) => { kept: Candidate[]; why: string };

function narrowToWinningGroup(lens: Lens): Narrow {
  return (kept, params) => {
    const r = lens.resolve(kept, params);
    const home = r.groups.find((g) => r.winner !== null && g.ids.includes(r.winner.id));
    const ids = new Set(home?.ids ?? []);
    return { kept: kept.filter((c) => ids.has(c.id)), why: `the group agreeing on ${fmtValue(r.value)}` };
  };
}

const narrowers: Record<string, Narrow> = {
  authority: (kept) => {
    const tier = bestTier(kept);
    return { kept: kept.filter((c) => c.tier === tier), why: `tier ${tier}` };
  },
  recency: (kept) => {
    const ts = kept.reduce((m, c) => Math.max(m, c.ts), Number.NEGATIVE_INFINITY);
    return { kept: kept.filter((c) => c.ts === ts), why: "the latest ts" };
  },
  consensus: narrowToWinningGroup(consensus),
  vote: narrowToWinningGroup(vote),
  trust: narrowToWinningGroup(trust),
  skeptic: narrowToWinningGroup(skeptic),
};

function checkLayers(layers: unknown): string[] {
  if (!Array.isArray(layers) || layers.length === 0 || layers.length > layersMax) {
    throw invalid("invalid_query", `layers: expected 1 to ${layersMax} lens names, got ${JSON.stringify(layers)}`, {
      field: "layers",
    });
  }
  for (const name of layers) {
    if (typeof name !== "string" || !Object.hasOwn(layerable, name)) {
      throw invalid("unknown_lens", `layers: unknown lens ${JSON.stringify(name)}`, {
        field: "layers",
        expected: Object.keys(layerable),
      });
    }
  }
  return layers as string[];
}

export const layered: Lens = {
  name: "layered",
  resolve(candidates: Candidate[], params: LensParams): LensResult {
    const layers = checkLayers(params.layers ?? [...defaultLayers]);
    const effective: LensParams = { ...params, layers };
    const first = layerable[layers[0]!]!.resolve(candidates, params);
    let kept = oneVoicePerAgent(candidates).kept;
    const lines: string[] = [`layers: ${layers.join(" → ")}`];
    for (const name of layers.slice(0, -1)) {
      if (kept.length === 0) break;
      const narrowed = narrowers[name]!(kept, params);
      lines.push(`${name} keeps ${plural(narrowed.kept.length, "candidate")} of ${kept.length}: ${narrowed.why}`);
      kept = narrowed.kept;
    }
    const lastName = layers.at(-1)!;
    const last = layerable[lastName]!.resolve(kept, params);
    const winner = last.winner;
    if (winner !== null) lines.push(`${lastName} picks ${fmtValue(winner.object)}`);
    lines.push(`κ and groups from the first layer (${layers[0]})`);
    return {
      lens: "layered",
      winner,
      value: winner === null ? null : winner.object,
      support: tidy(supportIn(first, winner)),
      conflict: first.conflict,
      groups: first.groups,
      candidates: first.candidates,
      explain: [...first.explain.slice(0, -1), ...lines, first.explain.at(-1)!],
      params: effective,
    };
  },
};

/** The winner's group's share of the first layer's weight (head count when there is no weight). */
function supportIn(first: LensResult, winner: Candidate | null): number {
  if (winner === null) return 0;
  const home = first.groups.find((g) => g.ids.includes(winner.id));
  if (home === undefined) return 0;
  const total = first.groups.reduce((s, g) => s + g.weight, 0);
  return total > 0 ? home.weight / total : home.count / first.candidates;
}
