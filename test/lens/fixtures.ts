/** Hand-built candidates for lens tests. */
import type { Candidate } from "../../src/lens/types.ts";

export const T0 = 1_732_400_000_000;

/** A 32-byte hex key for a short name ("a1" → "a1a1…"). */
export const key = (name: string): string => name.padEnd(2, "0").repeat(32).slice(0, 64);

let counter = 0;

/** A candidate with defaults; ids are unique hex unless given. */
export function cand(fields: Partial<Candidate> & { agent: string }): Candidate {
  counter += 1;
  return {
    id: fields.id ?? counter.toString(16).padStart(64, "0"),
    ts: T0,
    object: 1,
    confidence: 0.5,
    tier: 6,
    ...fields,
    agent: key(fields.agent),
  };
}

/** Fisher–Yates with a given random source. */
export function shuffle<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
