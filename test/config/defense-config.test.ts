/** Content-defense settings: switches, fractions and counts from flags and the environment. */
import { describe, expect, test } from "bun:test";
import { loadConfig } from "../../src/config/config.ts";
import { defenseOptions } from "../../src/defense/options.ts";

describe("content-defense configuration", () => {
  test("defaults: every quarantine policy off, breakers and fsync shedding on", () => {
    const c = loadConfig({}, {});
    expect(defenseOptions(c)).toEqual({
      policy: { unknownAgents: false, trustBelow: 0, gold: false, goldConfidence: 0.8 },
      breaker: { windowMs: 60_000, badMax: 50, rateMax: 120_000, coolDownMs: 30_000 },
      global: { fsyncP99MsMax: 1000 },
    });
  });

  test("a bare switch on the command line is true; the environment says true/false/1/0", () => {
    expect(loadConfig({ "quarantine-unknown-agents": true }, {}).quarantineUnknownAgents).toBe(true);
    expect(loadConfig({}, { STEMEDB_QUARANTINE_GOLD: "1" }).quarantineGold).toBe(true);
    expect(loadConfig({}, { STEMEDB_QUARANTINE_GOLD: "false" }).quarantineGold).toBe(false);
    expect(() => loadConfig({}, { STEMEDB_QUARANTINE_UNKNOWN_AGENTS: "yes" })).toThrow(/true or false/);
  });

  test("flags over environment; fractions in [0, 1], counts integers, the fsync bound any ms ≥ 0", () => {
    const c = loadConfig(
      { "quarantine-trust-below": "0.2", "breaker-bad-max": "0" },
      { STEMEDB_QUARANTINE_TRUST_BELOW: "0.9", STEMEDB_SHED_FSYNC_P99_MS: "2.5" },
    );
    expect([c.quarantineTrustBelow, c.breakerBadMax, c.shedFsyncP99Ms]).toEqual([0.2, 0, 2.5]);
    expect(() => loadConfig({ "quarantine-trust-below": "1.5" }, {})).toThrow(/--quarantine-trust-below .*\[0, 1\]/);
    expect(() => loadConfig({ "quarantine-gold-confidence": "" }, {})).toThrow(/\[0, 1\]/);
    expect(() => loadConfig({ "breaker-rate-max": "1.5" }, {})).toThrow(/integer/);
    expect(() => loadConfig({ "breaker-window-ms": "5" }, {})).toThrow(/≥ 10/);
    expect(() => loadConfig({ "shed-fsync-p99-ms": "-1" }, {})).toThrow(/ms ≥ 0/);
  });
});
