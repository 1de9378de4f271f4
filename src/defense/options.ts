/** Content-defense settings from the node's configuration (`--quarantine-*`, `--breaker-*`, `--shed-*`). */
import type { Config } from "../config/config.ts";
import type { DefenseOptions } from "./defense.ts";

export function defenseOptions(config: Config): Pick<DefenseOptions, "policy" | "breaker" | "global"> {
  return {
    policy: {
      unknownAgents: config.quarantineUnknownAgents,
      trustBelow: config.quarantineTrustBelow,
      gold: config.quarantineGold,
      goldConfidence: config.quarantineGoldConfidence,
    },
    breaker: {
      windowMs: config.breakerWindowMs,
      badMax: config.breakerBadMax,
      rateMax: config.breakerRateMax,
      coolDownMs: config.breakerCoolDownMs,
    },
    global: { fsyncP99MsMax: config.shedFsyncP99Ms },
  };
}
