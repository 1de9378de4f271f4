/**
 * The arena's world: subjects with a planted truth (and the lie the trolls tell about each),
 * the agents with their personas and keys, and the ledger of what has been written — the
 * public record the agents read when they decide what to vote on. Everything is a function of
 * the scenario's seed.
 */
import type { Value } from "../core/cbor.ts";
import type { SignedRecord } from "../crypto/signed.ts";
import { Rng } from "./rng.ts";
import type { Scenario } from "./scenario.ts";
import { AgentKey } from "./signer.ts";

export type Persona = "scientist" | "believer" | "troll" | "sybil" | "forger" | "backdater" | "authority";
export const personas: readonly Persona[] = ["scientist", "believer", "troll", "sybil", "forger", "backdater", "authority"];
/** Personas that tell the truth as they know it: their claims make a subject "honest". */
export const honestPersonas: ReadonlySet<Persona> = new Set(["scientist", "authority"]);

/** The simulated clock: tick 0 is this day (UTC), one tick a day, so every ts is in the past. */
export const simStartMs = Date.UTC(2024, 0, 1);
export const tickMs = 86_400_000;

/** A scientist studies a tenth of the subjects, at least 3 and at most this many. */
const fieldSubjectsMax = 200;

const categories = ["none", "rare", "uncommon", "common", "very_common"] as const;

export interface Subject {
  index: number;
  path: string;
  predicate: "value" | "class";
  truth: number | string;
  /** The lie most trolls repeat about it. */
  lie: number | string;
  /** A real source will back it (some lab registers one and the authority confirms it). */
  sourcePlanned: boolean;
  realSource: { sourceId: string; recordId: string; registrar: number; confirmedAtTick: number | null } | null;
  /** A scientist or the authority has claimed it. */
  honest: boolean;
}

export interface Agent {
  index: number;
  name: string;
  persona: Persona;
  key: AgentKey;
  rng: Rng;
  /** Scientists: the subjects they study (know the truth of). */
  field: number[];
  /** A scientist that registers a real source for a planned subject it studies. */
  lab: boolean;
}

export interface Claim {
  id: string;
  agent: number;
  subject: number;
  object: Value;
  tick: number;
}

/** Rounds to `digits` significant digits (so noisy numbers read like measurements). */
export function roundSig(x: number, digits: number): number {
  if (x === 0) return 0;
  return Number(x.toPrecision(digits));
}

export class World {
  readonly subjects: Subject[] = [];
  readonly agents: Agent[] = [];
  readonly byPersona = new Map<Persona, Agent[]>();
  readonly byHex = new Map<string, Agent>();
  /** Every claim written, in order; and the last few ticks' claims per subject, to vote on. */
  readonly claims: Claim[] = [];
  readonly recent = new Map<number, Claim[]>();
  readonly prefix: string;

  constructor(
    readonly scenario: Scenario,
    authorityKey: AgentKey,
  ) {
    this.prefix = `arena-${scenario.seed.toString(16).padStart(8, "0")}`;
    const rng = Rng.for(scenario.seed, "world");
    for (let i = 0; i < scenario.subjects; i++) this.subjects.push(this.plantSubject(i, rng));
    this.cast(authorityKey);
  }

  private plantSubject(index: number, rng: Rng): Subject {
    const numeric = index % 2 === 0;
    const truth = numeric ? roundSig(10 ** rng.uniform(-1, 3), 3) : rng.pick(categories);
    const lie = numeric
      ? roundSig((truth as number) * rng.pick([0.2, 0.25, 3, 4, 5]), 3)
      : rng.pick(categories.filter((c) => c !== truth));
    return {
      index,
      path: `${this.prefix}/subject/${index}`,
      predicate: numeric ? "value" : "class",
      truth,
      lie,
      sourcePlanned: rng.chance(this.scenario.sourced),
      realSource: null,
      honest: false,
    };
  }

  /** Who plays: trolls, forgers, backdaters, then believers and scientists; the sybil ring; the authority. */
  private cast(authorityKey: AgentKey): void {
    const s = this.scenario;
    const trolls = Math.round(s.agents * s.trolls);
    const rest = s.agents - trolls - s.forgers - s.backdaters;
    const believers = Math.round(rest * s.believers);
    const plan: Array<[Persona, number]> = [
      ["troll", trolls],
      ["forger", s.forgers],
      ["backdater", s.backdaters],
      ["believer", believers],
      ["scientist", rest - believers],
      ["sybil", s.sybils],
    ];
    const fieldSize = Math.min(s.subjects, fieldSubjectsMax, Math.max(3, Math.ceil(s.subjects / 10)));
    for (const [persona, n] of plan)
      for (let i = 0; i < n; i++) {
        const name = `${persona}-${i}`;
        const rng = Rng.for(s.seed, name);
        const field = persona === "scientist" ? rng.indices(s.subjects, fieldSize) : [];
        this.add({
          name,
          persona,
          key: AgentKey.derive(s.seed, name),
          rng,
          field,
          lab: persona === "scientist" && rng.chance(0.3),
        });
      }
    this.add({
      name: "authority",
      persona: "authority",
      key: authorityKey,
      rng: Rng.for(s.seed, "authority"),
      field: [],
      lab: false,
    });
  }

  private add(a: Omit<Agent, "index">): void {
    const agent = { ...a, index: this.agents.length };
    this.agents.push(agent);
    this.byHex.set(agent.key.hex, agent);
    const list = this.byPersona.get(agent.persona) ?? [];
    list.push(agent);
    this.byPersona.set(agent.persona, list);
  }

  of(persona: Persona): Agent[] {
    return this.byPersona.get(persona) ?? [];
  }

  get authority(): Agent {
    return this.of("authority")[0] as Agent;
  }

  /** Notes a claim just written, for the ledger and the agents' reading of it. */
  noteClaim(signed: SignedRecord, agent: Agent, subject: Subject, tick: number): void {
    const r = signed.record as { object: Value };
    const claim = {
      id: Buffer.from(signed.id).toString("hex"),
      agent: agent.index,
      subject: subject.index,
      object: r.object,
      tick,
    };
    this.claims.push(claim);
    const recent = this.recent.get(subject.index) ?? [];
    recent.push(claim);
    this.recent.set(subject.index, recent);
    if (honestPersonas.has(agent.persona)) subject.honest = true;
  }

  /** Forgets claims older than `keepTicks` from the voting pool. */
  age(tick: number, keepTicks: number): void {
    for (const [subject, list] of this.recent) {
      const kept = list.filter((c) => c.tick > tick - keepTicks);
      if (kept.length > 0) this.recent.set(subject, kept);
      else this.recent.delete(subject);
    }
  }

  /** Whether `object` is the truth of `subject`: equal, or for numbers within the tolerance. */
  isTrue(subject: Subject, object: unknown): boolean {
    if (typeof subject.truth === "number") {
      if (typeof object !== "number") return false;
      return Math.abs(object - subject.truth) <= this.scenario.tolerance * Math.abs(subject.truth);
    }
    return object === subject.truth;
  }
}
