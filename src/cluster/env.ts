/**
 * What the cluster's protocols take from the world: time and randomness (docs/CLUSTER.md#testing-without-sockets).
 *
 * Membership is a timing protocol (probe every second, wait half a second for an ack, suspect
 * for a few seconds), and its interesting failures are races between those timers and a lossy
 * network. Tests that sleep on a real clock are slow and flaky, so the protocol never reads
 * `Date.now()` or calls `setTimeout` itself: it is handed a `Clock` and a `Random`. Production
 * passes `systemClock` and `systemRandom()`; tests and the simulator pass a `FakeClock`
 * (fake-clock.ts) and a `seededRandom(seed)` (random.ts), so one seed replays a whole cluster.
 * The network is injected the same way (transport.ts).
 *
 * Everything is callbacks on one thread — no promises inside the protocol — so a fake clock
 * that fires timers synchronously runs the whole cluster deterministically, in timer order.
 */
import crypto from "node:crypto";

/** A pending timer; cancelling one that already fired is harmless. */
export interface Timer {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds; only differences matter (a fake clock starts at 0). */
  now(): number;
  /** Runs `fn` once after `delayMs` (a negative delay is 0). */
  setTimeout(fn: () => void, delayMs: number): Timer;
}

export interface Random {
  /** A float in [0, 1). */
  float(): number;
  /** An integer in [0, n); n ≥ 1. */
  int(n: number): number;
  /** `n` random bytes: nonces. Production draws them from the operating system's CSPRNG. */
  bytes(n: number): Uint8Array;
}

/** The process's clock: `performance.now()` (monotonic) and the runtime's timers. */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout(fn, delayMs) {
    const handle = setTimeout(fn, Math.max(0, delayMs));
    return { cancel: () => clearTimeout(handle) };
  },
};

/**
 * Randomness for a running node. Choices (whom to probe, whom to gossip to) need no secrecy and
 * use `Math.random`; nonces, which an attacker must not predict, come from `crypto.getRandomValues`.
 */
export function systemRandom(): Random {
  return {
    float: () => Math.random(),
    int: (n) => Math.floor(Math.random() * n),
    bytes: (n) => crypto.getRandomValues(new Uint8Array(n)),
  };
}

/** Fisher–Yates, in place, drawing from `random`. */
export function shuffle<T>(items: T[], random: Random): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = random.int(i + 1);
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}

/** Up to `k` distinct items of `items` that pass `keep`, in random order. */
export function pickRandom<T>(items: readonly T[], k: number, random: Random, keep: (item: T) => boolean): T[] {
  const candidates = items.filter(keep);
  return shuffle(candidates, random).slice(0, Math.max(0, k));
}
