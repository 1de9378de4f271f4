/**
 * Content defense (docs/DEFENSE.md): the quarantine policy and the circuit breakers. `Defense` is what
 * the server builds; the rest is here for tests and tools.
 */
export { type BreakerOptions, type BreakerSnapshot, type BreakerState, CircuitBreaker } from "./breaker.ts";
export { Breakers } from "./breakers.ts";
export { Defense, type DefenseOptions } from "./defense.ts";
export { GlobalBreaker } from "./global-breaker.ts";
export { defenseOptions } from "./options.ts";
export { type HoldReason, type QuarantinePolicyOptions, quarantineReasons } from "./policy.ts";
export { Quarantine } from "./quarantine.ts";
