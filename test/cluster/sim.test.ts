/** The simulator: one seed, one run; its report adds up. */
import { expect, test } from "bun:test";
import { ClusterSim, simulateCluster } from "../../src/cluster/sim.ts";

test("the same seed replays the same run, event for event; another seed does not", () => {
  const run = (seed: number) => {
    const sim = new ClusterSim({ nodes: 8, seed, lossRate: 0.05 });
    sim.record();
    sim.startAll(10);
    sim.run(30_000);
    sim.crash(3);
    sim.run(30_000);
    return {
      events: sim.events,
      stats: sim.nodes.map((n) => n.membership.stats),
      traffic: sim.nodes.map((n) => sim.network.traffic(n.name)),
      timers: sim.clock.fired,
    };
  };
  const a = run(11);
  expect(run(11)).toEqual(a);
  expect(run(12).events).not.toEqual(a.events);
  expect(a.events.some((e) => e.subject === "n04" && e.to === "dead")).toBe(true);
});

test("a report: convergence, detection of a crash, no false deaths, traffic per node", () => {
  const r = simulateCluster({ nodes: 10, seed: 1, durationMs: 120_000, crash: 1 });
  expect(r.convergenceMs).not.toBeNull();
  expect(r.convergenceMs as number).toBeLessThan(5000);
  expect(r.detectionMs).not.toBeNull();
  expect(r.falseDeaths).toBe(0);
  expect(r.falseSuspicions).toBe(0);
  // Each node pings one member a second and acks the pings it gets: about two packets a second.
  expect(r.traffic.packetsPerSecond).toBeGreaterThan(1.5);
  expect(r.traffic.packetsPerSecond).toBeLessThan(4);
  expect(r.traffic.bytesPerSecond).toBeGreaterThan(r.traffic.streamBytesPerSecond);
  expect(r.dropped).toBe(0);
  expect(() => simulateCluster({ nodes: 0, seed: 1, durationMs: 1000 })).toThrow(RangeError);
});
