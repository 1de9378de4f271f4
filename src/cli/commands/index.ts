/**
 * The registry: every `stemedb` command, in the order `--help` lists them. A command added here
 * is in `--help`, in docs/CLI.md (`make docs`) and in the sweep test without more work.
 */
import type { Command } from "../command.ts";
import { admin } from "./admin.ts";
import { agents } from "./agents.ts";
import { archive } from "./archive.ts";
import { assert } from "./assert.ts";
import { backup } from "./backup.ts";
import { breakers } from "./breakers.ts";
import { demo } from "./demo.ts";
import { escalations } from "./escalations.ts";
import { exportCommand } from "./export.ts";
import { get } from "./get.ts";
import { importCommand } from "./import.ts";
import { init } from "./init.ts";
import { keygen } from "./keygen.ts";
import { keys } from "./keys.ts";
import { mcp } from "./mcp.ts";
import { provenance } from "./provenance.ts";
import { quarantine } from "./quarantine.ts";
import { query } from "./query.ts";
import { reindex } from "./reindex.ts";
import { repair } from "./repair.ts";
import { restore } from "./restore.ts";
import { retract } from "./retract.ts";
import { root } from "./root.ts";
import { serve } from "./serve.ts";
import { sim } from "./sim.ts";
import { source } from "./source.ts";
import { verify } from "./verify.ts";
import { verifyBundleCommand } from "./verify-bundle.ts";
import { vote } from "./vote.ts";

export const commands: readonly Command[] = [
  serve,
  init,
  keygen,
  keys,
  assert,
  vote,
  retract,
  get,
  query,
  agents,
  escalations,
  provenance,
  source,
  quarantine,
  breakers,
  reindex,
  repair,
  verify,
  exportCommand,
  importCommand,
  verifyBundleCommand,
  backup,
  restore,
  archive,
  root,
  sim,
  demo,
  mcp,
  admin,
];

/** Every command and subcommand, depth first (`keys`, `keys create`, …). */
export function allCommands(list: readonly Command[] = commands): Command[] {
  return list.flatMap((c) => [c, ...allCommands(c.subcommands ?? [])]);
}
