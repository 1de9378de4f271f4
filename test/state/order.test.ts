/** Order independence (docs/SEMANTICS.md#the-record-set): the derived state depends on the set of records, never their order. */
import { expect, test } from "bun:test";
import { blockingFlags, type DerivedState, deriveState, type StoredRecord } from "../../src/state/index.ts";
import { prng } from "../support/prng.ts";
import { assertion, epoch, fakeId, newAgent, retraction, review, source, sourceRetraction, vote, withId } from "./helpers.ts";

const [alice, bob, carol, mallory, authority] = [newAgent(), newAgent(), newAgent(), newAgent(), newAgent()];
const authorities = new Set([authority.hex]);
const trustOf: Record<string, number> = { [alice.hex]: 0.9, [bob.hex]: 0.3, [carol.hex]: 0.7, [mallory.hex]: 0.01 };
const trust = (agent: string) => trustOf[agent] ?? 0.5;

function mixedSet(): StoredRecord[] {
  const a1 = assertion(alice, 10, { source: "fda" });
  const a2 = assertion(alice, 20, { supersedes: a1.id, source: "fda" });
  const a3 = assertion(alice, 30, { supersedes: a2.id });
  const b1 = assertion(bob, 11, { depends_on: [a1.id], source: "blog" });
  const b2 = assertion(bob, 12, { depends_on: [b1.id], epoch: "g-2024" });
  const c1 = assertion(carol, 13, { source: "journal", supersedes: b1.id });
  const c2 = assertion(carol, 14, { epoch: "g-2025" });
  const m1 = assertion(mallory, 15, { supersedes: c2.id });
  const x = withId(assertion(carol, 16, { supersedes: fakeId(2), depends_on: [fakeId(2)] }), fakeId(1));
  const y = withId(assertion(carol, 17, { supersedes: fakeId(1), depends_on: [fakeId(1), b1.id] }), fakeId(2));
  const q = assertion(bob, 18);
  const held = assertion(carol, 19);
  // Sources as claims: a confirmed registration, a disputed one, and a dispute an authority settled.
  const trial = source(carol, 6, "trial", 2);
  const settled = source(alice, 7, "settled", 1);
  const t1 = assertion(bob, 24, { source: "trial" });
  const t2 = assertion(mallory, 25, { source: "contested" });
  const t3 = assertion(carol, 26, { source: "settled" });
  return [
    trial,
    settled,
    t1,
    t2,
    t3,
    review(authority, 8, "confirm_source", trial),
    source(bob, 9, "contested", 2),
    source(mallory, 0, "contested", 1),
    sourceRetraction(mallory, 27, "contested"),
    source(mallory, 0, "settled", 1),
    review(authority, 10, "confirm_source", settled),
    sourceRetraction(mallory, 28, "settled"),
    vote(alice, 24, a1, 1),
    a1,
    a2,
    a3,
    b1,
    b2,
    c1,
    c2,
    m1,
    x,
    y,
    q,
    held,
    source(authority, 1, "fda", 1, "FDA label"),
    source(bob, 2, "blog", 5),
    source(mallory, 3, "blog", 1),
    source(carol, 4, "journal", 3),
    source(carol, 5, "journal", 2),
    sourceRetraction(carol, 40, "journal"),
    sourceRetraction(mallory, 41, "fda"),
    retraction(alice, 31, a3),
    retraction(mallory, 32, b1),
    retraction(bob, 33, b1),
    epoch(authority, 1, "g-2024"),
    epoch(authority, 35, "g-2025", "g-2024"),
    epoch(mallory, 36, "m", "g-2025"),
    review(authority, 19, "hold", q),
    review(authority, 20, "hold", held),
    review(authority, 20, "reject", q),
    review(mallory, 21, "approve", q),
    review(authority, 21, "hold", c2),
    review(authority, 22, "approve", c2),
    vote(bob, 20, a1, 1),
    vote(bob, 21, a1, -1),
    vote(carol, 21, a1, 1),
    vote(carol, 21, a1, -1),
    vote(mallory, 22, c2, 1),
    vote(alice, 22, c2, 1),
    vote(alice, 23, c2, -1),
  ];
}

const sourceIds = ["fda", "blog", "journal", "trial", "contested", "settled", "none"];

function snapshot(records: StoredRecord[], asOf?: number, knownAt?: number): string {
  const cut = { ...(asOf === undefined ? {} : { asOf }), ...(knownAt === undefined ? {} : { knownAt }) };
  const s: DerivedState = deriveState(records, { authorities, trust, ...cut });
  const ids = [...s.assertions.keys()];
  return JSON.stringify({
    assertions: [...s.assertions.entries()],
    visible: ids.map((id) => s.visible(id)),
    votes: ids.map((id) => s.netVotes(id)),
    tiers: sourceIds.map((id) => [s.sourceTier(id), s.sourceTitle(id), s.sourceTierNote(id)]),
  });
}

/** Receive times unrelated to ts (as backdating makes them): a fixed function of the id. */
function received(records: StoredRecord[]): StoredRecord[] {
  return records.map((r) => ({ ...r, recordedAt: Number.parseInt(r.id.slice(0, 4), 16) }));
}

function shuffle<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

test("30 seeded shuffles of a mixed record set give identical derived state (full and as of several times)", () => {
  const records = mixedSet();
  for (const asOf of [undefined, 15, 21, 33]) {
    const expected = snapshot(records, asOf);
    for (let seed = 1; seed <= 30; seed++) expect(snapshot(shuffle(records, prng(seed)), asOf)).toBe(expected);
    expect(snapshot([...records].reverse(), asOf)).toBe(expected);
  }
});

test("30 seeded shuffles give identical derived state known at several times, alone and with as_of", () => {
  const records = received(mixedSet());
  for (const [asOf, knownAt] of [
    [undefined, 0x4000],
    [undefined, 0x9000],
    [21, 0x9000],
    [33, 0xc000],
  ] as const) {
    const expected = snapshot(records, asOf, knownAt);
    for (let seed = 1; seed <= 30; seed++) expect(snapshot(shuffle(records, prng(seed)), asOf, knownAt)).toBe(expected);
  }
  // The cut is by receive time: a record received after it is not counted, whatever its ts.
  const late = records.filter((r) => (r.recordedAt as number) > 0x9000);
  expect(late.length).toBeGreaterThan(0);
  expect(snapshot(records, undefined, 0x9000)).toBe(snapshot(records.filter((r) => !late.includes(r))));
});

test("the mixed set's sources: confirmed, capped, disputed, settled", () => {
  const s = deriveState(mixedSet(), { authorities, trust });
  expect(sourceIds.map((id) => s.sourceTier(id))).toEqual([1, 6, 4, 2, 6, 1, 6]);
});

test("the mixed set exercises every flag", () => {
  const s = deriveState(mixedSet(), { authorities, trust });
  const seen = new Set([...s.assertions.values()].flatMap((a) => a.flags));
  expect([...seen].sort()).toEqual([...blockingFlags].sort());
});
