/** The presets: complete, sane, and every value in config.ts carries its reason. */
import { expect, test } from "bun:test";
import fs from "node:fs";
import path from "node:path";
import { failureDetectionBoundMs, presetNames, presets, pushPullIntervalFor } from "../../src/cluster/config.ts";

test("every preset sets every value; timeouts fit inside their periods", () => {
  const keys = Object.keys(presets.lan).sort();
  for (const name of presetNames) {
    const c = presets[name];
    expect(Object.keys(c).sort()).toEqual(keys);
    for (const v of Object.values(c)) expect(Number.isFinite(v) && v > 0).toBe(true);
    expect(c.probeTimeoutMs).toBeLessThan(c.probeIntervalMs);
    expect(c.gossipIntervalMs).toBeLessThan(c.probeIntervalMs);
    expect(c.streamTimeoutMs).toBeLessThan(c.pushPullIntervalMs);
  }
});

test("every value of every preset in config.ts has a comment saying why", () => {
  const source = fs.readFileSync(path.join(import.meta.dir, "../../src/cluster/config.ts"), "utf8");
  const bodies = [...source.matchAll(/^const (lan|wan|local): MembershipConfig = \{\n([\s\S]*?)\n\};/gm)];
  expect(bodies.map((m) => m[1])).toEqual(["lan", "wan", "local"]);
  for (const [, name, body] of bodies)
    for (const line of (body as string).split("\n")) {
      if (line.trim() === "...lan,") continue;
      expect({ name, line, commented: /: [^,]+, \/\/ \S/.test(line) }).toEqual({ name, line, commented: true });
    }
});

test("push-pull spreads out past 32 members; the detection bound grows with the cluster", () => {
  expect(pushPullIntervalFor(presets.lan, 32)).toBe(30_000);
  expect(pushPullIntervalFor(presets.lan, 33)).toBe(60_000);
  expect(pushPullIntervalFor(presets.lan, 128)).toBe(90_000);
  expect(failureDetectionBoundMs(presets.lan, 8)).toBe(40_800);
  expect(failureDetectionBoundMs(presets.lan, 50)).toBeGreaterThan(failureDetectionBoundMs(presets.lan, 8));
});
