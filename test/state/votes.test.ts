import { describe, expect, test } from "bun:test";
import { deriveState } from "../../src/state/index.ts";
import { assertion, fakeId, newAgent, retraction, vote } from "./helpers.ts";

const alice = newAgent();
const bob = newAgent();
const carol = newAgent();
const authorities = new Set<string>();

describe("netVotes", () => {
  const a = assertion(alice, 1);
  test("each voter's latest vote counts, by ts then id, not input order", () => {
    const records = [vote(bob, 3, a, -1), a, vote(bob, 2, a, 1), vote(carol, 2, a, 1)];
    expect(deriveState(records, { authorities }).netVotes(a.id)).toBe(0);
    expect(deriveState(records, { authorities, asOf: 2 }).netVotes(a.id)).toBe(2);
  });
  test("same ts: the vote with the larger id is the latest", () => {
    const up = vote(bob, 2, a, 1);
    const down = vote(bob, 2, a, -1);
    expect(deriveState([a, up, down], { authorities }).netVotes(a.id)).toBe(up.id > down.id ? 1 : -1);
  });
  test("weighted by voter trust", () => {
    const trust = (agent: string) => (agent === bob.hex ? 0.5 : agent === carol.hex ? 0.25 : 0);
    const records = [a, vote(bob, 2, a, 1), vote(carol, 2, a, -1), vote(alice, 2, a, 1)];
    expect(deriveState(records, { authorities, trust }).netVotes(a.id)).toBeCloseTo(0.25, 12);
    expect(deriveState(records, { authorities }).netVotes(a.id)).toBe(0);
  });
  test("an author's vote on its own assertion does not count", () => {
    expect(deriveState([a, vote(alice, 2, a, 1)], { authorities }).netVotes(a.id)).toBe(0);
    expect(deriveState([a, vote(alice, 2, a, 1), vote(bob, 2, a, 1)], { authorities }).netVotes(a.id)).toBe(1);
  });
  test("votes on absent targets, and unknown ids, are 0; votes still count on a retracted assertion", () => {
    const b = assertion(bob, 1);
    expect(deriveState([vote(carol, 2, b, 1)], { authorities }).netVotes(b.id)).toBe(0);
    expect(deriveState([a], { authorities }).netVotes(fakeId(3))).toBe(0);
    expect(deriveState([b, vote(carol, 2, b, 1)], { authorities }).netVotes(b.id)).toBe(1);
    expect(deriveState([b, vote(carol, 2, b, 1), retraction(bob, 3, b)], { authorities }).netVotes(b.id)).toBe(1);
  });
  test("a vote on a non-assertion record is ignored", () => {
    const v = vote(bob, 2, a, 1);
    expect(deriveState([a, v, vote(carol, 3, v, 1)], { authorities }).netVotes(v.id)).toBe(0);
  });
});
