/** `stemedb sim`: the simulators, one subcommand each (`sim cluster`, `sim truth`). */
import { defineCommand } from "../command.ts";
import { usage } from "../flags.ts";
import { simCluster } from "./sim-cluster.ts";
import { simTruth } from "./sim-truth.ts";

export const sim = defineCommand({
  name: "sim",
  summary: "simulators: the cluster protocol over a simulated network; adversaries against the lenses",
  usage: [...simCluster.usage, ...simTruth.usage],
  flags: {},
  subcommands: [simCluster, simTruth],
  async run() {
    throw usage("give a subcommand: cluster or truth");
  },
});
