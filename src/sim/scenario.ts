/**
 * An arena scenario (docs/ARENA.md#scenarios): who plays, how many subjects, how long, and —
 * for a scenario kept as a regression case — what the lenses must still achieve. One table of
 * fields, read from a JSON file (`--scenario FILE`, `sim/scenarios/*.json`) and from the
 * command line's flags (which win), so a bad case found once is replayed forever.
 */
import { StemeError } from "../core/errors.ts";

export interface Scenario {
  /** A name for reports. */
  name: string;
  seed: number;
  /** Agents with keys of their own (sybils come on top). */
  agents: number;
  /** Share of `agents` that are trolls. */
  trolls: number;
  /** Size of the sybil ring: fresh keys endorsing each other and the trolls. */
  sybils: number;
  forgers: number;
  backdaters: number;
  /** Share of the honest rest that copy the consensus (believers); the others are scientists. */
  believers: number;
  subjects: number;
  ticks: number;
  /** Scientists the authority seeds with trust at the start. */
  seeded: number;
  /** Subjects the authority marks a gold standard on. */
  gold: number;
  /** Share of subjects some scientist backs with a real source (the authority confirms it). */
  sourced: number;
  /** Chance an agent acts in a tick. */
  activity: number;
  /** Relative tolerance: numbers within it agree in queries and count as the truth. */
  tolerance: number;
  /** Final accuracy each lens must reach (a regression scenario); checked by tests, reported by the CLI. */
  expect: Record<string, number>;
}

interface FieldSpec {
  min: number;
  max: number;
  integer?: true;
  help: string;
}

/** Every numeric field: its range and meaning (`stemedb sim truth --help` and docs/ARENA.md say the same). */
export const scenarioFields: Record<Exclude<keyof Scenario, "name" | "expect">, FieldSpec> = {
  seed: { min: 0, max: 2 ** 32 - 1, integer: true, help: "the seed of every random choice" },
  agents: { min: 10, max: 20_000, integer: true, help: "agents with keys of their own (sybils come on top)" },
  trolls: { min: 0, max: 0.9, help: "share of agents that contradict the truth with high confidence" },
  sybils: { min: 0, max: 20_000, integer: true, help: "fresh keys that endorse each other and the trolls" },
  forgers: { min: 0, max: 10_000, integer: true, help: "agents that register tier-1 sources and cite them" },
  backdaters: { min: 0, max: 10_000, integer: true, help: "agents that backdate claims and source registrations" },
  believers: { min: 0, max: 1, help: "share of the honest rest that copy the current consensus" },
  subjects: { min: 1, max: 10_000, integer: true, help: "subjects, each with a planted truth" },
  ticks: { min: 1, max: 365, integer: true, help: "rounds of play (one simulated day each)" },
  seeded: { min: 0, max: 10_000, integer: true, help: "scientists the authority seeds with trust" },
  gold: { min: 0, max: 10_000, integer: true, help: "subjects the authority marks a gold standard on" },
  sourced: { min: 0, max: 1, help: "share of subjects a scientist backs with a real (confirmed) source" },
  activity: { min: 0.01, max: 1, help: "chance an agent acts in a tick" },
  tolerance: { min: 0, max: 0.5, help: "numbers within this relative distance agree, and count as the truth" },
};

export const scenarioDefaults: Scenario = {
  name: "default",
  seed: 1,
  agents: 200,
  trolls: 0.3,
  sybils: 50,
  forgers: 5,
  backdaters: 5,
  believers: 0.3,
  subjects: 200,
  ticks: 50,
  seeded: 5,
  gold: 4,
  sourced: 0.5,
  activity: 0.5,
  tolerance: 0.05,
  expect: {},
};

function bad(where: string, message: string): StemeError {
  return new StemeError("usage", `${where}: ${message}`, { hint: "see docs/ARENA.md#scenarios" });
}

function checkField(where: string, key: keyof typeof scenarioFields, v: unknown): number {
  const spec = scenarioFields[key];
  const ok =
    typeof v === "number" && Number.isFinite(v) && (!spec.integer || Number.isSafeInteger(v)) && v >= spec.min && v <= spec.max;
  if (!ok)
    throw bad(
      where,
      `${key}: expected ${spec.integer ? "an integer" : "a number"} from ${spec.min} to ${spec.max}, got ${JSON.stringify(v)}`,
    );
  return v as number;
}

/** A scenario from parsed JSON: unknown keys and out-of-range values are refused, absent ones default. */
export function parseScenario(value: unknown, where: string): Scenario {
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw bad(where, "expected a JSON object");
  const out: Scenario = { ...scenarioDefaults, expect: {} };
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    if (key === "name" || key === "description") {
      if (typeof v !== "string") throw bad(where, `${key}: expected text`);
      if (key === "name") out.name = v;
    } else if (key === "expect") out.expect = parseExpect(where, v);
    else if (Object.hasOwn(scenarioFields, key)) {
      const k = key as keyof typeof scenarioFields;
      out[k] = checkField(where, k, v);
    } else
      throw bad(
        where,
        `${key}: not a scenario field (fields: name, description, expect, ${Object.keys(scenarioFields).join(", ")})`,
      );
  }
  return checkWhole(where, out);
}

/** `{"<lens>": min final accuracy, "<lens>_sourced": …, "known_at_changed": max, …}`: numbers in [0, 1] or counts. */
function parseExpect(where: string, v: unknown): Record<string, number> {
  if (v === null || typeof v !== "object" || Array.isArray(v)) throw bad(where, "expect: expected an object of numbers");
  const out: Record<string, number> = {};
  for (const [k, n] of Object.entries(v as Record<string, unknown>)) {
    if (typeof n !== "number" || !Number.isFinite(n) || n < 0) throw bad(where, `expect.${k}: expected a number ≥ 0`);
    out[k] = n;
  }
  return out;
}

/** Fields overridden by flags given on the command line. */
export function withOverrides(base: Scenario, overrides: Partial<Record<keyof typeof scenarioFields, number>>): Scenario {
  const out: Scenario = { ...base };
  for (const [k, v] of Object.entries(overrides)) {
    if (v === undefined) continue;
    const key = k as keyof typeof scenarioFields;
    out[key] = checkField("the command line", key, v);
  }
  return checkWhole("the command line", out);
}

function checkWhole(where: string, s: Scenario): Scenario {
  const adversaries = Math.round(s.agents * s.trolls) + s.forgers + s.backdaters;
  if (adversaries > s.agents - 2)
    throw bad(
      where,
      `trolls (${Math.round(s.agents * s.trolls)}), forgers and backdaters leave fewer than 2 honest agents of ${s.agents}`,
    );
  return s;
}
