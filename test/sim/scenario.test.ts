/** Scenarios (docs/ARENA.md#scenarios): one table of fields, read from JSON and flags alike; bad input is a usage error. */
import { describe, expect, test } from "bun:test";
import fs from "node:fs";
import path from "node:path";
import { StemeError } from "../../src/core/errors.ts";
import { evaluate } from "../../src/sim/arena.ts";
import { parseScenario, scenarioDefaults, scenarioFields, withOverrides } from "../../src/sim/scenario.ts";

const usageOf = (f: () => unknown): string => {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(StemeError);
    expect((err as StemeError).code).toBe("usage");
    return (err as StemeError).message;
  }
  throw new Error("expected a usage error");
};

describe("scenarios", () => {
  test("absent fields default; name, description and expect are read", () => {
    const s = parseScenario({ name: "x", description: "why", agents: 50, expect: { trust: 0.9 } }, "x.json");
    expect(s).toEqual({ ...scenarioDefaults, name: "x", agents: 50, expect: { trust: 0.9 } });
  });

  test("unknown fields, wrong types and values out of range are refused, naming the field", () => {
    expect(usageOf(() => parseScenario({ agent: 5 }, "f.json"))).toContain("f.json: agent: not a scenario field");
    expect(usageOf(() => parseScenario({ trolls: 1.5 }, "f.json"))).toContain("trolls: expected a number from 0 to 0.9, got 1.5");
    expect(usageOf(() => parseScenario({ ticks: 2.5 }, "f.json"))).toContain("ticks: expected an integer");
    expect(usageOf(() => parseScenario({ seed: "1" }, "f.json"))).toContain('got "1"');
    expect(usageOf(() => parseScenario([], "f.json"))).toContain("expected a JSON object");
    expect(usageOf(() => parseScenario({ expect: { trust: -1 } }, "f.json"))).toContain("expect.trust");
    expect(usageOf(() => parseScenario({ agents: 10, forgers: 5, backdaters: 5 }, "f.json"))).toContain(
      "fewer than 2 honest agents",
    );
  });

  test("flags override a file's fields and are checked the same way", () => {
    const base = parseScenario({ agents: 50, ticks: 9 }, "f.json");
    expect(withOverrides(base, { ticks: 3, seed: undefined })).toMatchObject({ agents: 50, ticks: 3, seed: 1 });
    expect(usageOf(() => withOverrides(base, { subjects: 0 }))).toContain("the command line: subjects");
  });

  test("every kept scenario parses (sim/scenarios and test/fixtures/scenarios)", () => {
    const root = path.resolve(import.meta.dir, "../..");
    const files = ["sim/scenarios", "test/fixtures/scenarios"].flatMap((d) =>
      fs
        .readdirSync(path.join(root, d))
        .filter((f) => f.endsWith(".json"))
        .map((f) => path.join(root, d, f)),
    );
    expect(files.length).toBeGreaterThanOrEqual(7);
    for (const f of files)
      expect(Object.keys(parseScenario(JSON.parse(fs.readFileSync(f, "utf8")), f).expect).length).toBeGreaterThan(0);
  });

  test("every field has a help line and a range", () => {
    for (const [key, f] of Object.entries(scenarioFields)) {
      expect([key, f.help.length > 10, f.min < f.max]).toEqual([key, true, true]);
      expect(scenarioDefaults[key as keyof typeof scenarioFields]).toBeGreaterThanOrEqual(f.min);
    }
  });

  test("expectations: lenses at least, known_at changes and missing records at most; an unknown key is a mistake", () => {
    const series = (final: number | null) => ({ accuracy: [final], final, sourced: { accuracy: [final], final } });
    const report = {
      lenses: { trust: series(0.99), consensus: series(0.1), authority: series(null) },
      known_at: { changed: 1 },
      log: { missing: 0 },
    } as unknown as Parameters<typeof evaluate>[0];
    expect(
      evaluate(report, { trust: 0.99, consensus: 0.5, authority_sourced: 0.9, known_at_changed: 0, log_missing: 0 }),
    ).toEqual({
      trust: { want: 0.99, got: 0.99, ok: true },
      consensus: { want: 0.5, got: 0.1, ok: false },
      authority_sourced: { want: 0.9, got: null, ok: false },
      known_at_changed: { want: 0, got: 1, ok: false },
      log_missing: { want: 0, got: 0, ok: true },
    });
    expect(() => evaluate(report, { truth: 1 })).toThrow(RangeError);
  });
});
