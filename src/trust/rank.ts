/**
 * TrustRank (docs/SEMANTICS.md#trustrank): τ ∈ [0, 1] per agent, a pure function of a set of trust facts.
 *
 * Method — TrustRank (Gyöngyi, Garcia-Molina, Pedersen, VLDB 2004), which is personalised
 * PageRank (Page et al. 1999; Haveliwala 2002) with the teleport vector on a trusted seed set:
 *
 * 1. **Seeds**: the deployment's authorities, and every agent an authority named in a
 *    `trust_seed` review.
 * 2. **Endorsement graph**: each voter's latest vote on an assertion counts towards an edge voter →
 *    author, netted per pair as EigenTrust does (endorsements − disputes: positive is an
 *    endorsement of that weight, negative a dispute). Self-votes carry no trust and are dropped.
 * 3. **Propagation**: r = (1 − d)·p + d·Σ_u r_u · w(u→v) / W(u), d = 0.85, p uniform over the
 *    seeds; the rank of agents that endorse nobody (dangling) teleports back to the seeds.
 *    Power iteration until the L1 change is below 1e-12 (at most 200 rounds).
 * 4. **Scale**: s_v = min(1, r_v / ((1 − d) / |seeds|)) — rank relative to what a seed gets from
 *    the teleport alone, so a seed is 1 and an agent endorsed by one of a seed's few
 *    endorsements is near 1, falling as endorsements are spread thinner.
 * 5. **Disputes** count against, propagated one step the same way: an agent u whose dispute
 *    edges weigh n takes d·s_u·m / n from an author it disputes with weight m.
 * 6. **Reliability**: ρ_v = E_v / (E_v + D_v), the share of trusted judgement (edges weighted by
 *    the voter's s_u) on v's claims that endorses them; 1 when nobody trusted judged v.
 * 7. **Gold standards**: for each gold assertion (an authority's latest gold/ungold review says
 *    gold), each agent's latest claim on the same (subject, predicate) agrees (equal canonical
 *    object) or contradicts; g_v = (1 + agree) / (1 + agree + contradict).
 * 8. τ_v = floor + (1 − floor) · clamp(g_v · ρ_v · (s_v − disputes_v), 0, 1); authorities are 1.
 *
 * Step 2's netting and step 6 came from the arena (docs/ARENA.md#findings): agents that copy the
 * consensus were endorsed whenever it was right and passed the trust on to the liars they
 * copied. Facts may carry the node's receive time, so τ can be computed as known at a time.
 *
 * An agent with no endorsement path from a seed has r = 0 and sits at the floor, however many
 * sybils endorse it. Every loop runs in sorted order, so the result is bit-identical for the
 * same set of facts in any input order.
 */
import { invariant } from "../core/errors.ts";
import { byFact, type ClaimFact, type TrustFacts } from "./facts.ts";

export const trustDamping = 0.85;
/** τ of an agent nobody trusted endorses. Lenses weigh only what lies above it (earned trust), so strangers never add up. */
export const trustFloor = 0.01;
const iterationsMax = 200;
const convergedL1 = 1e-12;

export interface AgentTrust {
  /** τ in [0, 1]. */
  trust: number;
  /** Personalised PageRank before scaling. */
  rank: number;
  seeded: boolean;
  authority: boolean;
  /** Distinct endorsers / disputers (latest votes, self-votes dropped). */
  endorsedBy: number;
  disputedBy: number;
  goldAgree: number;
  goldContradict: number;
}

export interface TrustResult {
  /** Every agent the facts mention, by key (hex). */
  agents: Map<string, AgentTrust>;
  seeds: string[];
  iterations: number;
}

export interface TrustOptions {
  authorities: ReadonlySet<string>;
  /** Only facts with ts ≤ asOf count. */
  asOf?: number;
  /** Only facts this node received by then count (recordedAt ≤ knownAt); every fact must carry recordedAt. */
  knownAt?: number;
}

/** τ of `agent` in a result (or a query worker's copy of its table): authorities 1, unknown agents the floor. */
export function trustOf(
  result: { agents: ReadonlyMap<string, { trust: number }> } | null,
  agent: string,
  authorities: ReadonlySet<string>,
): number {
  if (authorities.has(agent)) return 1;
  return result?.agents.get(agent)?.trust ?? trustFloor;
}

export function computeTrust(facts: TrustFacts, options: TrustOptions): TrustResult {
  const { authorities, asOf, knownAt } = options;
  const within = (x: { ts: number; recordedAt?: number }): boolean => {
    if (asOf !== undefined && x.ts > asOf) return false;
    if (knownAt === undefined) return true;
    invariant(x.recordedAt !== undefined, "a trust fact without recordedAt under a knownAt cut");
    return x.recordedAt <= knownAt;
  };
  const counts = <T extends { ts: number; recordedAt?: number }>(xs: readonly T[]) =>
    asOf === undefined && knownAt === undefined ? [...xs] : xs.filter(within);
  const reviews = counts(facts.reviews).sort(byFact);
  const claims = new Map(counts([...facts.claims.values()]).map((c) => [c.id, c]));

  // Seeds: authorities, plus trust_seed reviews by an authority.
  const seedSet = new Set(authorities);
  // Gold: the latest gold/ungold review by an authority per target.
  const goldState = new Map<string, boolean>();
  for (const r of reviews) {
    if (!authorities.has(r.agent)) continue;
    if (r.action === "trust_seed") seedSet.add(r.target);
    else if (r.action === "gold" || r.action === "ungold") goldState.set(r.target, r.action === "gold");
  }

  // Latest vote per (voter, target) whose target is a known claim; self-votes dropped.
  const latest = new Map<string, { voter: string; author: string; value: 1 | -1 }>();
  for (const v of counts(facts.votes).sort(byFact)) {
    const claim = claims.get(v.target);
    if (!claim) continue;
    latest.set(`${v.voter}:${v.target}`, { voter: v.voter, author: claim.agent, value: v.value });
  }
  const { pos, neg } = netEdges(latest.values());

  const gold = goldAgreement(claims, goldState);

  const agentSet = new Set<string>(seedSet);
  for (const c of claims.values()) agentSet.add(c.agent);
  for (const [u, out] of [...pos, ...neg]) {
    agentSet.add(u);
    for (const v of out.keys()) agentSet.add(v);
  }
  const agents = [...agentSet].sort();
  const seeds = agents.filter((a) => seedSet.has(a));
  const { rank, iterations } = personalisedPageRank(agents, seeds, pos);

  const scale = seeds.length > 0 ? (1 - trustDamping) / seeds.length : 1;
  const scaled = new Map(agents.map((a) => [a, Math.min(1, (rank.get(a) ?? 0) / scale)]));
  const disputes = new Map<string, number>();
  for (const u of [...neg.keys()].sort()) {
    const out = neg.get(u)!;
    const total = [...out.values()].reduce((s, n) => s + n, 0);
    for (const v of [...out.keys()].sort())
      disputes.set(v, (disputes.get(v) ?? 0) + (trustDamping * scaled.get(u)! * out.get(v)!) / total);
  }
  const endorsers = countIncoming(pos);
  const disputers = countIncoming(neg);
  const reliability = reliabilityOf(pos, neg, scaled);

  const result = new Map<string, AgentTrust>();
  for (const a of agents) {
    const g = gold.get(a) ?? { agree: 0, contradict: 0 };
    const goldFactor = (1 + g.agree) / (1 + g.agree + g.contradict);
    const raw = Math.min(1, Math.max(0, goldFactor * (reliability.get(a) ?? 1) * (scaled.get(a)! - (disputes.get(a) ?? 0))));
    result.set(a, {
      trust: authorities.has(a) ? 1 : trustFloor + (1 - trustFloor) * raw,
      rank: rank.get(a) ?? 0,
      seeded: seedSet.has(a),
      authority: authorities.has(a),
      endorsedBy: endorsers.get(a) ?? 0,
      disputedBy: disputers.get(a) ?? 0,
      goldAgree: g.agree,
      goldContradict: g.contradict,
    });
  }
  return { agents: result, seeds, iterations };
}

/**
 * The endorsement graph, netted per (voter, author) as EigenTrust does (Kamvar, Schlosser and
 * Garcia-Molina, WWW 2003: local trust = satisfactory − unsatisfactory): a voter that endorsed
 * an author's claims e times and disputed them d times holds an endorsement of weight e − d
 * when e > d, a dispute of weight d − e when d > e, nothing when they are equal. Self-votes
 * are dropped. Without netting, an agent right only when it copies the right answer collected
 * the same endorsements from the honest as one that is always right, and the disputes of its
 * wrong claims were spread too thin to matter (docs/SEMANTICS.md#trustrank).
 */
function netEdges(latest: Iterable<{ voter: string; author: string; value: 1 | -1 }>) {
  const net = new Map<string, Map<string, number>>(); // voter → author → endorsements − disputes
  for (const e of latest) {
    if (e.voter === e.author) continue;
    const out = net.get(e.voter) ?? new Map<string, number>();
    net.set(e.voter, out);
    out.set(e.author, (out.get(e.author) ?? 0) + e.value);
  }
  const pos = new Map<string, Map<string, number>>();
  const neg = new Map<string, Map<string, number>>();
  for (const [voter, out] of net)
    for (const [author, n] of out) {
      if (n === 0) continue;
      const m = n > 0 ? pos : neg;
      const edges = m.get(voter) ?? new Map<string, number>();
      m.set(voter, edges);
      edges.set(author, Math.abs(n));
    }
  return { pos, neg };
}

/** Power iteration over `agents` (sorted); `edges` voter → author → weight. */
function personalisedPageRank(
  agents: readonly string[],
  seeds: readonly string[],
  edges: ReadonlyMap<string, ReadonlyMap<string, number>>,
): { rank: Map<string, number>; iterations: number } {
  const n = agents.length;
  if (n === 0 || seeds.length === 0) return { rank: new Map(), iterations: 0 };
  const slot = new Map(agents.map((a, i) => [a, i]));
  const teleport = new Float64Array(n);
  for (const s of seeds) teleport[slot.get(s)!] = 1 / seeds.length;
  // Compressed edge lists in sorted order: from[i] → to[i] with share[i] = w / W(from).
  const from: number[] = [];
  const to: number[] = [];
  const share: number[] = [];
  const hasOut = new Uint8Array(n);
  for (const u of [...edges.keys()].sort()) {
    const out = edges.get(u)!;
    const total = [...out.values()].reduce((s, w) => s + w, 0);
    if (total <= 0) continue;
    hasOut[slot.get(u)!] = 1;
    for (const v of [...out.keys()].sort()) {
      from.push(slot.get(u)!);
      to.push(slot.get(v)!);
      share.push(out.get(v)! / total);
    }
  }
  let r = Float64Array.from(teleport);
  let next = new Float64Array(n);
  let iterations = 0;
  for (; iterations < iterationsMax; ) {
    iterations++;
    let dangling = 0;
    for (let i = 0; i < n; i++) if (!hasOut[i]) dangling += r[i]!;
    for (let i = 0; i < n; i++) next[i] = (1 - trustDamping) * teleport[i]! + trustDamping * dangling * teleport[i]!;
    for (let e = 0; e < from.length; e++) next[to[e]!]! += trustDamping * r[from[e]!]! * share[e]!;
    let delta = 0;
    for (let i = 0; i < n; i++) delta += Math.abs(next[i]! - r[i]!);
    [r, next] = [next, r];
    if (delta < convergedL1) break;
  }
  return { rank: new Map(agents.map((a, i) => [a, r[i]!])), iterations };
}

/** Per agent: how its latest claims on gold (subject, predicate) pairs compare with the gold object. */
function goldAgreement(claims: ReadonlyMap<string, ClaimFact>, goldState: ReadonlyMap<string, boolean>) {
  const goldBySp = new Map<string, string[]>(); // sp → gold objects
  for (const [id, isGold] of [...goldState].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const c = claims.get(id);
    if (!isGold || !c) continue;
    const list = goldBySp.get(c.sp) ?? [];
    list.push(c.object);
    goldBySp.set(c.sp, list);
  }
  const latestBy = new Map<string, ClaimFact>(); // agent, sp → that agent's latest claim
  for (const c of [...claims.values()].sort(byFact)) if (goldBySp.has(c.sp)) latestBy.set(`${c.agent}\0${c.sp}`, c);
  const out = new Map<string, { agree: number; contradict: number }>();
  for (const c of latestBy.values()) {
    const g = out.get(c.agent) ?? { agree: 0, contradict: 0 };
    for (const object of goldBySp.get(c.sp)!) {
      if (object === c.object) g.agree++;
      else g.contradict++;
    }
    out.set(c.agent, g);
  }
  return out;
}

/**
 * Per author: the share of trusted judgement on its claims that endorses them — Σ s_u over its
 * endorsements ÷ Σ s_u over its endorsements and disputes, each voter u weighed by its scaled
 * score s_u (strangers weigh 0). 1 when no trusted agent judged it. An agent the trusted find
 * right once and wrong four times keeps a fifth of what its endorsements earned it.
 */
function reliabilityOf(
  pos: ReadonlyMap<string, ReadonlyMap<string, number>>,
  neg: ReadonlyMap<string, ReadonlyMap<string, number>>,
  scaled: ReadonlyMap<string, number>,
): Map<string, number> {
  const endorsed = new Map<string, number>();
  const disputed = new Map<string, number>();
  const add = (edges: ReadonlyMap<string, ReadonlyMap<string, number>>, into: Map<string, number>) => {
    for (const u of [...edges.keys()].sort()) {
      const su = scaled.get(u) ?? 0;
      if (su === 0) continue;
      const out = edges.get(u)!;
      for (const v of [...out.keys()].sort()) into.set(v, (into.get(v) ?? 0) + su * out.get(v)!);
    }
  };
  add(pos, endorsed);
  add(neg, disputed);
  const out = new Map<string, number>();
  for (const [v, d] of disputed) {
    const e = endorsed.get(v) ?? 0;
    out.set(v, e / (e + d));
  }
  return out;
}

function countIncoming(edges: ReadonlyMap<string, ReadonlyMap<string, number>>): Map<string, number> {
  const out = new Map<string, number>();
  for (const targets of edges.values()) for (const v of targets.keys()) out.set(v, (out.get(v) ?? 0) + 1);
  return out;
}
