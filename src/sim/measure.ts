/**
 * What the arena measures, over the real HTTP API: every subject through every lens (one
 * `POST /v1/query` each, `fresh=true` so the answer reflects every record written and a
 * TrustRank computed from them, which keeps a run deterministic), and τ per agent
 * (`GET /v1/agents`).
 */
import type { QueryAnswer, StemeClient } from "../client/index.ts";
import type { Consensus } from "./personas.ts";
import type { Subject, World } from "./world.ts";

export const arenaLenses = ["recency", "consensus", "vote", "authority", "trust", "skeptic", "layered"] as const;
export type ArenaLens = (typeof arenaLenses)[number];

/** Queries in flight at once. */
const queriesInFlight = 4;

/** One subject's answers, reduced to what the arena compares. */
export interface SubjectAnswers {
  /** Per lens: whether the winner is the truth. */
  right: Record<ArenaLens, boolean>;
  /** Per lens: the answer in a form two answers can be compared by (winner, support, κ, groups). */
  digest: Record<ArenaLens, string>;
  consensus: Consensus | null;
}

export interface Cut {
  asOf?: number;
  knownAt?: number;
}

export async function measureSubjects(client: StemeClient, world: World, cut: Cut = {}): Promise<SubjectAnswers[]> {
  return mapLimit(world.subjects, queriesInFlight, (s) => measureSubject(client, world, s, cut));
}

async function measureSubject(client: StemeClient, world: World, s: Subject, cut: Cut): Promise<SubjectAnswers> {
  const { results } = await client.queryLenses(s.path, s.predicate, [...arenaLenses], {
    ...(typeof s.truth === "number" ? { tolerance: world.scenario.tolerance } : {}),
    ...(cut.asOf !== undefined ? { asOf: cut.asOf } : {}),
    ...(cut.knownAt !== undefined ? { knownAt: cut.knownAt } : {}),
    ...(cut.asOf === undefined && cut.knownAt === undefined ? { fresh: true } : {}),
  });
  const right = {} as Record<ArenaLens, boolean>;
  const digest = {} as Record<ArenaLens, string>;
  for (const lens of arenaLenses) {
    const a = results[lens] as QueryAnswer;
    right[lens] = a.winner !== null && world.isTrue(s, a.value);
    digest[lens] = JSON.stringify([a.winner?.id ?? null, a.support, a.conflict, a.groups]);
  }
  const c = results.consensus as QueryAnswer;
  return { right, digest, consensus: c.winner ? { value: c.value as Consensus["value"], winner: c.winner.id } : null };
}

/** τ of every agent the server knows, by key. */
export async function trustOfAgents(client: StemeClient): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  let cursor: string | undefined;
  for (;;) {
    const page = await client.agents({ sort: "key", limit: 1000, ...(cursor !== undefined ? { cursor } : {}) });
    for (const a of page.items) out.set(a.agent, a.trust);
    if (page.next_cursor === null) return out;
    cursor = page.next_cursor;
  }
}

export async function mapLimit<T, R>(items: readonly T[], n: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  return out;
}
