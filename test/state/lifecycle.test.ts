import { describe, expect, test } from "bun:test";
import { blockingFlags, type DeriveOptions, deriveState, type Flag, type StoredRecord } from "../../src/state/index.ts";
import { assertion, epoch, fakeId, newAgent, retraction, review, source, sourceRetraction, withId } from "./helpers.ts";

const alice = newAgent();
const bob = newAgent();
const mallory = newAgent();
const authority = newAgent();
const opts: DeriveOptions = { authorities: new Set([authority.hex]) };

const derive = (records: StoredRecord[], extra: Partial<DeriveOptions> = {}) => deriveState(records, { ...opts, ...extra });
const flagsOf = (records: StoredRecord[], target: StoredRecord, extra: Partial<DeriveOptions> = {}) =>
  derive(records, extra).assertions.get(target.id)?.flags;
const notesOf = (records: StoredRecord[], target: StoredRecord) => derive(records).assertions.get(target.id)?.notes ?? [];

describe("basics", () => {
  test("every assertion appears, unflagged ones included; only assertions appear", () => {
    const a = assertion(alice, 1);
    const b = assertion(bob, 2);
    const s = derive([a, b, source(alice, 3, "fda", 1)]);
    expect([...s.assertions.keys()].sort()).toEqual([a.id, b.id].sort());
    expect(s.assertions.get(a.id)).toEqual({ flags: [], notes: [] });
    expect(s.visible(a.id)).toBe(true);
    expect(s.visible(fakeId(9))).toBe(false);
  });

  test("blockingFlags lists all seven flags", () => {
    const all: Flag[] = ["cascade", "epoch_superseded", "quarantined", "rejected", "retracted", "source_retracted", "superseded"];
    expect([...blockingFlags].sort()).toEqual(all.sort());
  });

  test("records referencing absent ids have no effect", () => {
    const a = assertion(alice, 1, { supersedes: fakeId(7), depends_on: [fakeId(8)] });
    const s = derive([a, review(authority, 2, "hold", withId(a, fakeId(9)))]);
    expect(s.assertions.get(a.id)).toEqual({ flags: [], notes: [] });
  });

  test("duplicate records count once", () => {
    const a = assertion(alice, 1);
    const r = retraction(alice, 2, a);
    expect(derive([a, r, a, r]).assertions.size).toBe(1);
  });
});

describe("retracted", () => {
  const a = assertion(alice, 1);
  test("by the author", () => {
    expect(flagsOf([a, retraction(alice, 2, a)], a)).toEqual(["retracted"]);
    expect(derive([a, retraction(alice, 2, a)]).visible(a.id)).toBe(false);
  });
  test("by an authority", () => expect(flagsOf([a, retraction(authority, 2, a)], a)).toEqual(["retracted"]));
  test("by a stranger: ignored, with a note", () => {
    const records = [a, retraction(mallory, 2, a)];
    expect(flagsOf(records, a)).toEqual([]);
    expect(notesOf(records, a)).toEqual([
      `retraction by ${mallory.hex.slice(0, 8)}… ignored: neither the author nor an authority`,
    ]);
  });
  test("a retraction arriving before its target takes effect once the target is present", () => {
    const r = retraction(alice, 2, a);
    expect(derive([r]).assertions.size).toBe(0);
    expect(flagsOf([r, a], a)).toEqual(["retracted"]);
  });
});

describe("superseded", () => {
  const a = assertion(alice, 1);
  test("by the same agent: old superseded, new visible", () => {
    const b = assertion(alice, 2, { supersedes: a.id });
    const s = derive([a, b]);
    expect(s.assertions.get(a.id)?.flags).toEqual(["superseded"]);
    expect(s.assertions.get(a.id)?.notes).toEqual([`superseded by ${b.id.slice(0, 8)}…`]);
    expect(s.visible(a.id)).toBe(false);
    expect(s.visible(b.id)).toBe(true);
  });
  test("by an authority", () => {
    const b = assertion(authority, 2, { supersedes: a.id });
    expect(flagsOf([a, b], a)).toEqual(["superseded"]);
  });
  test("by a stranger: ignored, with a note", () => {
    const b = assertion(mallory, 2, { supersedes: a.id });
    const s = derive([a, b]);
    expect(s.assertions.get(a.id)?.flags).toEqual([]);
    expect(s.assertions.get(a.id)?.notes).toEqual([
      `supersedes by ${b.id.slice(0, 8)}… ignored: neither the author nor an authority`,
    ]);
    expect(s.visible(a.id)).toBe(true);
    expect(s.visible(b.id)).toBe(true);
  });
  test("a retracted superseder does not supersede", () => {
    const b = assertion(alice, 2, { supersedes: a.id });
    const s = derive([a, b, retraction(alice, 3, b)]);
    expect(s.assertions.get(a.id)?.flags).toEqual([]);
    expect(s.assertions.get(a.id)?.notes).toEqual([`supersedes by ${b.id.slice(0, 8)}… has no effect: it is not visible`]);
    expect(s.visible(a.id)).toBe(true);
  });
  test("recursive: C supersedes B supersedes A → B hidden, so A stays visible; retract C → B supersedes A", () => {
    const b = assertion(alice, 2, { supersedes: a.id });
    const c = assertion(alice, 3, { supersedes: b.id });
    const s = derive([c, b, a]);
    expect(s.visible(c.id)).toBe(true);
    expect(s.assertions.get(b.id)?.flags).toEqual(["superseded"]);
    // B is not visible, so it does not supersede A (docs/SEMANTICS.md: only a *visible* assertion with supersedes counts).
    expect(s.assertions.get(a.id)?.flags).toEqual([]);
    // Retract C: B comes back and supersedes A.
    const s2 = derive([c, b, a, retraction(alice, 4, c)]);
    expect(s2.visible(b.id)).toBe(true);
    expect(s2.assertions.get(a.id)?.flags).toEqual(["superseded"]);
  });
  test("a blocked assertion can still be superseded (both flags)", () => {
    const b = assertion(alice, 2, { supersedes: a.id });
    expect(flagsOf([a, b, retraction(alice, 3, a)], a)).toEqual(["retracted", "superseded"]);
  });
  test("a cycle terminates: both members hidden as superseded, with a note", () => {
    const x = withId(assertion(alice, 1, { supersedes: fakeId(2) }), fakeId(1));
    const y = withId(assertion(alice, 2, { supersedes: fakeId(1) }), fakeId(2));
    const s = derive([x, y]);
    for (const r of [x, y]) {
      expect(s.assertions.get(r.id)?.flags).toEqual(["superseded"]);
      expect(s.assertions.get(r.id)?.notes).toContain("in a supersession cycle that cannot be resolved: treated as superseded");
      expect(s.visible(r.id)).toBe(false);
    }
  });
  test("a cycle broken by a retraction resolves", () => {
    const x = withId(assertion(alice, 1, { supersedes: fakeId(2) }), fakeId(1));
    const y = withId(assertion(alice, 2, { supersedes: fakeId(1) }), fakeId(2));
    const s = derive([x, y, retraction(alice, 3, x)]);
    expect(s.assertions.get(x.id)?.flags).toEqual(["retracted", "superseded"]);
    expect(s.assertions.get(y.id)?.flags).toEqual([]);
    expect(s.visible(y.id)).toBe(true);
  });
});

describe("sources", () => {
  const short = (a: { hex: string }) => `${a.hex.slice(0, 8)}…`;
  test("an authority's registration counts as stated; unregistered and absent sources are tier 6", () => {
    const s = derive([source(authority, 1, "fda", 1, "FDA label")]);
    expect(s.sourceTier("fda")).toBe(1);
    expect(s.sourceTierNote("fda")).toBeUndefined();
    expect(s.sourceTitle("fda")).toBe("FDA label");
    expect(s.sourceTier("blog")).toBe(6);
    expect(s.sourceTier(undefined)).toBe(6);
    expect(s.sourceTitle("blog")).toBeUndefined();
  });
  test("a tier is a claim: 1–3 from one agent count as tier 4 until an authority confirms, and say so", () => {
    const a = assertion(bob, 3, { source: "fda" });
    const reg = source(alice, 1, "fda", 1, "FDA label");
    const s = derive([reg, a]);
    expect(s.sourceTier("fda")).toBe(4);
    expect(s.sourceTitle("fda")).toBe("FDA label");
    const note = `source 'fda': tier 1 claimed by ${short(alice)}, not confirmed: counted as tier 4`;
    expect(s.sourceTierNote("fda")).toBe(note);
    expect(notesOf([reg, a], a)).toEqual([note]);
    expect(derive([source(alice, 1, "forum", 5)]).sourceTier("forum")).toBe(5);
    expect(derive([source(alice, 1, "grey", 4)]).sourceTierNote("grey")).toBeUndefined();
  });
  test("an authority's confirm_source of the current entry makes its tier count", () => {
    const reg = source(alice, 1, "fda", 1);
    expect(derive([reg, review(authority, 2, "confirm_source", reg)]).sourceTier("fda")).toBe(1);
    const s = derive([reg, review(mallory, 2, "confirm_source", reg), assertion(bob, 3, { source: "fda" })]);
    expect(s.sourceTier("fda")).toBe(4);
  });
  test("a confirmation vouches for one record: a later re-registration is a new claim", () => {
    const reg = source(alice, 1, "j", 3);
    const confirm = review(authority, 2, "confirm_source", reg);
    expect(derive([reg, confirm]).sourceTier("j")).toBe(3);
    expect(derive([reg, confirm, source(alice, 3, "j", 1)]).sourceTier("j")).toBe(4);
    expect(derive([reg, confirm, source(alice, 3, "j", 5)]).sourceTier("j")).toBe(5);
  });
  test("the latest counts by ts, not input order", () => {
    expect(derive([source(alice, 2, "j", 5), source(alice, 1, "j", 4)]).sourceTier("j")).toBe(5);
    expect(derive([source(alice, 1, "j", 4), source(alice, 2, "j", 5)]).sourceTier("j")).toBe(5);
  });
  test("two registrants dispute a source: unregistered (tier 6), whoever came first, with a note", () => {
    const a = assertion(bob, 3, { source: "j" });
    for (const records of [
      [source(alice, 1, "j", 4), source(mallory, 2, "j", 1), a],
      [source(mallory, 1, "j", 1), source(alice, 2, "j", 4), a],
    ]) {
      const s = derive(records);
      expect(s.sourceTier("j")).toBe(6);
      expect(s.sourceTitle("j")).toBeUndefined();
      expect(s.sourceTierNote("j")).toBe("source 'j' disputed between 2 registrars: counted as unregistered (tier 6)");
      expect(notesOf(records, a)).toContain("source 'j' disputed between 2 registrars");
    }
  });
  test("a backdated hijack: a later, backdated registrant cannot retract the owner's source", () => {
    const a = assertion(alice, 101, { source: "src-a2" });
    const records = [source(alice, 100, "src-a2", 2), a, source(mallory, 1, "src-a2", 1), sourceRetraction(mallory, 2, "src-a2")];
    expect(flagsOf(records, a)).toEqual([]);
    expect(notesOf(records, a)).toContain(
      `retraction of source 'src-a2' by ${short(mallory)} ignored: the source is disputed, so only an authority's counts`,
    );
    // Nor can the owner, while it is disputed; an authority can.
    expect(flagsOf([...records, sourceRetraction(alice, 102, "src-a2")], a)).toEqual([]);
    expect(flagsOf([...records, sourceRetraction(authority, 102, "src-a2")], a)).toEqual(["source_retracted"]);
  });
  test("an authority settles a dispute by registering the source: its entry counts", () => {
    const s = derive([source(mallory, 1, "j", 1), source(alice, 2, "j", 3), source(authority, 3, "j", 2, "Settled")]);
    expect(s.sourceTier("j")).toBe(2);
    expect(s.sourceTitle("j")).toBe("Settled");
  });
  test("an authority settles a dispute by confirming one registration: that registrant is the registrar", () => {
    const real = source(alice, 5, "j", 2, "Real");
    const a = assertion(bob, 6, { source: "j" });
    const base = [source(mallory, 1, "j", 1, "Forged"), real, a, review(authority, 7, "confirm_source", real)];
    const s = derive(base);
    expect(s.sourceTier("j")).toBe(2);
    expect(s.sourceTitle("j")).toBe("Real");
    expect(flagsOf([...base, sourceRetraction(mallory, 8, "j")], a)).toEqual([]);
    expect(flagsOf([...base, sourceRetraction(alice, 8, "j")], a)).toEqual(["source_retracted"]);
  });
  test("an authority's later entry replaces a registrar's", () => {
    const s = derive([source(mallory, 1, "j", 1), source(authority, 2, "j", 5, "Demoted")]);
    expect(s.sourceTier("j")).toBe(5);
    expect(s.sourceTitle("j")).toBe("Demoted");
  });
  test("source_retracted by the registrar", () => {
    const a = assertion(bob, 2, { source: "j" });
    expect(flagsOf([source(alice, 1, "j", 2), a, sourceRetraction(alice, 3, "j")], a)).toEqual(["source_retracted"]);
  });
  test("source_retracted by an authority", () => {
    const a = assertion(bob, 2, { source: "j" });
    expect(flagsOf([source(alice, 1, "j", 2), a, sourceRetraction(authority, 3, "j")], a)).toEqual(["source_retracted"]);
  });
  test("a source retraction by a non-registrar is ignored, with a note", () => {
    const a = assertion(bob, 2, { source: "j" });
    const records = [source(alice, 1, "j", 5), a, sourceRetraction(mallory, 3, "j")];
    expect(flagsOf(records, a)).toEqual([]);
    expect(notesOf(records, a)).toEqual([
      `retraction of source 'j' by ${short(mallory)} ignored: neither the registrar nor an authority`,
    ]);
  });
  test("assertions citing other sources are unaffected", () => {
    const a = assertion(bob, 2, { source: "k" });
    expect(flagsOf([source(alice, 1, "j", 2), a, sourceRetraction(alice, 3, "j")], a)).toEqual([]);
  });
});

describe("cascade", () => {
  test("through two levels", () => {
    const a = assertion(alice, 1);
    const b = assertion(bob, 2, { depends_on: [a.id] });
    const c = assertion(bob, 3, { depends_on: [b.id] });
    const s = derive([a, b, c, retraction(alice, 4, a)]);
    expect(s.assertions.get(b.id)?.flags).toEqual(["cascade"]);
    expect(s.assertions.get(c.id)?.flags).toEqual(["cascade"]);
    expect(s.assertions.get(c.id)?.notes).toEqual([`cascade: depends on ${b.id.slice(0, 8)}…, which is cascade-flagged`]);
    expect(s.assertions.get(b.id)?.notes).toEqual([`cascade: depends on ${a.id.slice(0, 8)}…, which is retracted`]);
  });
  test("from a source-retracted dependency", () => {
    const a = assertion(alice, 2, { source: "j" });
    const b = assertion(bob, 3, { depends_on: [a.id] });
    expect(flagsOf([source(alice, 1, "j", 2), a, b, sourceRetraction(alice, 4, "j")], b)).toEqual(["cascade"]);
  });
  test("no taint, no cascade; a superseded or quarantined dependency does not cascade", () => {
    const a = assertion(alice, 1);
    const a2 = assertion(alice, 2, { supersedes: a.id });
    const q = assertion(alice, 3);
    const b = assertion(bob, 4, { depends_on: [a.id, q.id] });
    expect(flagsOf([a, b, q], b)).toEqual([]);
    expect(flagsOf([a, a2, b, q, review(authority, 5, "hold", q)], b)).toEqual([]);
  });
  test("through a cycle: terminates and flags every member reaching the taint", () => {
    const r = assertion(alice, 1);
    const x = withId(assertion(bob, 2, { depends_on: [fakeId(2), r.id] }), fakeId(1));
    const y = withId(assertion(bob, 3, { depends_on: [fakeId(1)] }), fakeId(2));
    const s = derive([r, x, y, retraction(alice, 4, r)]);
    expect(s.assertions.get(x.id)?.flags).toEqual(["cascade"]);
    expect(s.assertions.get(y.id)?.flags).toEqual(["cascade"]);
    // Without the retraction, the cycle alone flags nothing.
    expect(derive([r, x, y]).assertions.get(x.id)?.flags).toEqual([]);
  });
});

describe("epoch_superseded", () => {
  const old = assertion(alice, 3, { epoch: "guideline-2024" });
  const current = assertion(alice, 4, { epoch: "guideline-2025" });
  const base = [epoch(authority, 1, "guideline-2024"), old, current];
  test("an authority's later epoch supersedes the named one", () => {
    const s = derive([...base, epoch(authority, 5, "guideline-2025", "guideline-2024")]);
    expect(s.assertions.get(old.id)?.flags).toEqual(["epoch_superseded"]);
    expect(s.assertions.get(old.id)?.notes).toEqual(["epoch 'guideline-2024' superseded by 'guideline-2025'"]);
    expect(s.assertions.get(current.id)?.flags).toEqual([]);
  });
  test("a non-authority's epoch is ignored, with a note", () => {
    const s = derive([...base, epoch(mallory, 5, "mallory-era", "guideline-2024")]);
    expect(s.assertions.get(old.id)?.flags).toEqual([]);
    expect(s.assertions.get(old.id)?.notes).toEqual([
      `epoch 'mallory-era' by ${mallory.hex.slice(0, 8)}… superseding 'guideline-2024' ignored: not an authority`,
    ]);
  });
  test("an epoch naming itself is ignored", () => {
    expect(flagsOf([...base, epoch(authority, 5, "guideline-2024", "guideline-2024")], old)).toEqual([]);
  });
});

describe("quarantined / rejected", () => {
  const a = assertion(alice, 1);
  test("hold → quarantined", () => expect(flagsOf([a, review(authority, 2, "hold", a)], a)).toEqual(["quarantined"]));
  test("hold then approve → visible", () => {
    const s = derive([a, review(authority, 2, "hold", a), review(authority, 3, "approve", a)]);
    expect(s.assertions.get(a.id)?.flags).toEqual([]);
    expect(s.visible(a.id)).toBe(true);
  });
  test("approve then hold → quarantined (latest by ts, not input order)", () => {
    expect(flagsOf([review(authority, 3, "hold", a), a, review(authority, 2, "approve", a)], a)).toEqual(["quarantined"]);
  });
  test("reject → rejected; a later approve clears it", () => {
    expect(flagsOf([a, review(authority, 2, "hold", a), review(authority, 3, "reject", a)], a)).toEqual(["rejected"]);
    expect(flagsOf([a, review(authority, 2, "reject", a), review(authority, 3, "approve", a)], a)).toEqual([]);
  });
  test("same ts: the larger id wins", () => {
    const h = review(authority, 2, "hold", a);
    const r = review(authority, 2, "reject", a);
    expect(flagsOf([a, h, r], a)).toEqual([h.id > r.id ? "quarantined" : "rejected"]);
  });
  test("reviews by non-authorities are ignored, with a note", () => {
    const records = [a, review(mallory, 2, "reject", a)];
    expect(flagsOf(records, a)).toEqual([]);
    expect(notesOf(records, a)).toEqual([`review 'reject' by ${mallory.hex.slice(0, 8)}… ignored: not an authority`]);
  });
  test("other decision kinds neither flag nor override a hold", () => {
    expect(flagsOf([a, review(authority, 2, "gold", a), review(authority, 3, "escalate", a)], a)).toEqual([]);
    expect(flagsOf([a, review(authority, 2, "hold", a), review(authority, 3, "gold", a)], a)).toEqual(["quarantined"]);
    // A trust_seed targets an agent key: no assertion has that id, so nothing breaks.
    expect(derive([a, review(authority, 3, "trust_seed", alice.hex)]).assertions.get(a.id)).toEqual({ flags: [], notes: [] });
  });
});

describe("asOf", () => {
  const a = assertion(alice, 10);
  const records = [a, retraction(alice, 20, a)];
  test("before the retraction: visible; after: retracted", () => {
    expect(derive(records, { asOf: 19 }).visible(a.id)).toBe(true);
    expect(flagsOf(records, a, { asOf: 20 })).toEqual(["retracted"]);
    expect(flagsOf(records, a)).toEqual(["retracted"]);
  });
  test("before the assertion: absent", () => {
    expect(derive(records, { asOf: 9 }).assertions.has(a.id)).toBe(false);
  });
  test("a later supersession does not count before its ts", () => {
    const b = assertion(alice, 30, { supersedes: a.id });
    expect(flagsOf([a, b], a, { asOf: 29 })).toEqual([]);
    expect(flagsOf([a, b], a, { asOf: 30 })).toEqual(["superseded"]);
  });
});
