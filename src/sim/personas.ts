/**
 * The arena's personas (docs/ARENA.md#personas): each a strategy over ticks, writing signed
 * records through the tick's writer. They read the world's ledger (what has been written) and
 * the consensus the server answered at the end of the previous tick.
 *
 * - scientist: claims the truth of the subjects it studies, noisily (numbers within 40 % of the
 *   tolerance), with some uncertainty (confidence 0.6–0.95); endorses recent claims it knows to
 *   be true and disputes the others; a lab (30 %) backs a planned subject with a real source.
 * - believer: copies the current consensus and endorses its winner.
 * - troll: repeats the subject's lie with high confidence (0.9–1), endorses other liars,
 *   disputes honest claims.
 * - sybil: one of a ring of fresh keys; now and then repeats a lie, and endorses the ring's and
 *   the trolls' claims.
 * - forger: registers tier-1 sources of its own and cites them for lies; registers real sources'
 *   ids as its own and retracts them.
 * - backdater: writes lies dated up to two years back; registers real sources' ids dated at the
 *   start of time and retracts them (the old "earliest registration wins" hijack).
 * - authority: seeds trust in a few scientists at the start, marks a few gold standards (its own
 *   claims of the truth), and confirms every real source the tick it appears.
 */
import type { Value } from "../core/cbor.ts";
import type { SignedRecord } from "../crypto/signed.ts";
import type { Agent, Claim, Subject, World } from "./world.ts";
import { honestPersonas, roundSig, simStartMs, tickMs } from "./world.ts";

export interface Consensus {
  value: Value;
  /** The winning assertion's id. */
  winner: string;
}

export interface TickContext {
  tick: number;
  world: World;
  /** The consensus lens's answer per subject index at the end of the previous tick. */
  consensus: ReadonlyMap<number, Consensus>;
  /** Signs `fields` as `agent` at `ts` (default: the tick's time for that agent) and queues the record. */
  write(agent: Agent, fields: Record<string, unknown> & { kind: string }, ts?: number): SignedRecord;
}

/** The stated time of `agent`'s records in `tick`: the tick's day, spread by agent so ts rarely tie. */
export const tsOf = (tick: number, agent: Agent): number => simStartMs + tick * tickMs + agent.index;

/** Votes an agent casts in a tick, at most. */
const votesPerTick = 3;

function claim(ctx: TickContext, agent: Agent, subject: Subject, object: Value, confidence: number, extra = {}, ts?: number) {
  const fields = { kind: "assertion", subject: subject.path, predicate: subject.predicate, object, confidence, ...extra };
  const signed = ctx.write(agent, fields, ts);
  ctx.world.noteClaim(signed, agent, subject, ctx.tick);
  return signed;
}

function vote(ctx: TickContext, agent: Agent, target: string, value: 1 | -1): void {
  ctx.write(agent, { kind: "vote", target, value });
}

const conf = (agent: Agent, lo: number, hi: number) => Math.round(agent.rng.uniform(lo, hi) * 100) / 100;

/** Recent claims by others on `subjects` (or anywhere), for an agent to vote on. */
function recentClaims(world: World, agent: Agent, subjects?: readonly number[]): Claim[] {
  const out: Claim[] = [];
  for (const s of subjects ?? world.recent.keys())
    for (const c of world.recent.get(s) ?? []) if (c.agent !== agent.index) out.push(c);
  return out;
}

function scientist(ctx: TickContext, agent: Agent): void {
  const { world } = ctx;
  const subject = world.subjects[agent.rng.pick(agent.field)] as Subject;
  const noise = 0.4 * world.scenario.tolerance;
  const object =
    typeof subject.truth === "number" ? roundSig(subject.truth * (1 + agent.rng.uniform(-noise, noise)), 4) : subject.truth;
  const extra: Record<string, unknown> = {};
  if (subject.realSource?.registrar === agent.index) extra.source = subject.realSource.sourceId;
  else if (agent.lab && subject.sourcePlanned && subject.realSource === null) {
    const sourceId = `${world.prefix}/trial/${subject.index}`;
    const reg = ctx.write(agent, { kind: "source", source_id: sourceId, title: `Trial of subject ${subject.index}`, tier: 2 });
    subject.realSource = {
      sourceId,
      recordId: Buffer.from(reg.id).toString("hex"),
      registrar: agent.index,
      confirmedAtTick: null,
    };
    extra.source = sourceId;
  }
  claim(ctx, agent, subject, object, conf(agent, 0.6, 0.95), extra);
  for (const c of agent.rng.sample(recentClaims(world, agent, agent.field), votesPerTick))
    vote(ctx, agent, c.id, world.isTrue(world.subjects[c.subject] as Subject, c.object) ? 1 : -1);
}

function believer(ctx: TickContext, agent: Agent): void {
  const known = [...ctx.consensus.keys()];
  if (known.length === 0) return;
  const index = agent.rng.pick(known);
  const c = ctx.consensus.get(index) as Consensus;
  claim(ctx, agent, ctx.world.subjects[index] as Subject, c.value, conf(agent, 0.5, 0.8));
  if (ctx.world.byHex.get(c.winner) !== agent) vote(ctx, agent, c.winner, 1);
}

/** The lie about `subject`, mostly the shared one, sometimes one of the liar's own. */
function lie(agent: Agent, subject: Subject): Value {
  if (agent.rng.chance(0.9)) return subject.lie;
  if (typeof subject.truth === "number") return roundSig(subject.truth * agent.rng.pick([0.1, 0.5, 2, 8, 10]), 3);
  return subject.lie;
}

function troll(ctx: TickContext, agent: Agent): void {
  const { world } = ctx;
  const subject = agent.rng.pick(world.subjects);
  claim(ctx, agent, subject, lie(agent, subject), conf(agent, 0.9, 1));
  const pool = recentClaims(world, agent);
  for (const c of agent.rng.sample(pool, votesPerTick)) {
    const honest = honestPersonas.has(world.agents[c.agent]?.persona ?? "troll");
    if (honest) vote(ctx, agent, c.id, -1);
    else if (!world.isTrue(world.subjects[c.subject] as Subject, c.object)) vote(ctx, agent, c.id, 1);
  }
}

function sybil(ctx: TickContext, agent: Agent): void {
  const { world } = ctx;
  if (agent.rng.chance(0.5)) {
    const subject = agent.rng.pick(world.subjects);
    claim(ctx, agent, subject, lie(agent, subject), 0.9);
  }
  const liars = recentClaims(world, agent).filter((c) => {
    const p = world.agents[c.agent]?.persona;
    return p === "sybil" || p === "troll";
  });
  for (const c of agent.rng.sample(liars, votesPerTick - 1)) vote(ctx, agent, c.id, 1);
}

function realSources(world: World): Subject[] {
  return world.subjects.filter((s) => s.realSource !== null);
}

function forger(ctx: TickContext, agent: Agent): void {
  const { world, tick } = ctx;
  const subject = agent.rng.pick(world.subjects);
  const sourceId = `${world.prefix}/forged/${agent.name}/${tick}`;
  ctx.write(agent, { kind: "source", source_id: sourceId, title: `Regulator label ${subject.index}`, tier: 1 });
  claim(ctx, agent, subject, lie(agent, subject), 0.99, { source: sourceId });
  const real = realSources(world);
  if (real.length > 0 && agent.rng.chance(0.3)) {
    const target = (agent.rng.pick(real).realSource as { sourceId: string }).sourceId;
    ctx.write(agent, { kind: "source", source_id: target, title: "Regulator label (official)", tier: 1 });
    ctx.write(agent, { kind: "source_retraction", source_id: target, reason: "withdrawn by the publisher" });
  }
}

function backdater(ctx: TickContext, agent: Agent): void {
  const { world } = ctx;
  const subject = agent.rng.pick(world.subjects);
  const back = simStartMs - Math.round(agent.rng.uniform(30, 730)) * tickMs + agent.index;
  claim(ctx, agent, subject, lie(agent, subject), 0.99, {}, back);
  const real = realSources(world);
  if (real.length > 0 && agent.rng.chance(0.3)) {
    const target = (agent.rng.pick(real).realSource as { sourceId: string }).sourceId;
    ctx.write(agent, { kind: "source", source_id: target, title: "Trial (first registration)", tier: 1 }, 1000 + agent.index);
    ctx.write(agent, { kind: "source_retraction", source_id: target, reason: "fraud" }, 2000 + agent.index);
  }
}

/** The authority acts after everyone else in a tick. */
export function authority(ctx: TickContext, agent: Agent): void {
  const { world, tick } = ctx;
  const s = world.scenario;
  const ts = simStartMs + tick * tickMs + tickMs / 2;
  if (tick === 0)
    for (const seed of world.of("scientist").slice(0, s.seeded))
      ctx.write(agent, { kind: "review", action: "trust_seed", target: seed.key.hex }, ts);
  if (tick === Math.floor(s.ticks / 5))
    for (const subject of world.subjects.slice(0, s.gold)) {
      const gold = claim(ctx, agent, subject, subject.truth, 1, {}, ts);
      ctx.write(agent, { kind: "review", action: "gold", target: Buffer.from(gold.id).toString("hex") }, ts + 1);
    }
  for (const subject of world.subjects) {
    const real = subject.realSource;
    if (real === null || real.confirmedAtTick !== null) continue;
    ctx.write(agent, { kind: "review", action: "confirm_source", target: real.recordId }, ts + 2);
    real.confirmedAtTick = tick;
  }
}

export const strategies: Record<Exclude<Agent["persona"], "authority">, (ctx: TickContext, agent: Agent) => void> = {
  scientist,
  believer,
  troll,
  sybil,
  forger,
  backdater,
};
