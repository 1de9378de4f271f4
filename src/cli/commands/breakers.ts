/**
 * `stemedb breakers`: per-agent circuit breakers and the global one; `breakers reset AGENT`
 * closes one (the older `--reset AGENT` still works).
 */
import { connect } from "../client.ts";
import { defineCommand } from "../command.ts";
import { choice, jsonFlag, serverFlag, text } from "../flags.ts";
import type { Io } from "../io.ts";
import { json, table } from "../output.ts";

async function reset(server: string, agent: string, io: Io): Promise<number> {
  await connect(server, io.env).resetBreaker(agent);
  io.out(`reset the breaker of ${agent}`);
  return 0;
}

const resetCommand = defineCommand({
  name: "breakers reset",
  summary: "close an agent's breaker now (admin)",
  usage: ["stemedb breakers reset AGENT [--server URL]"],
  flags: { server: serverFlag },
  args: [{ name: "AGENT" }],
  run: ({ values, args }, io) => reset(values.server, args[0] as string, io),
});

export const breakers = defineCommand({
  name: "breakers",
  summary: "per-agent circuit breakers and the global one; reset an agent's (admin)",
  usage: [
    "stemedb breakers [--state closed|open|half_open] [--json] [--server URL]",
    "stemedb breakers reset AGENT [--server URL]",
  ],
  about: "--reset AGENT is the older form of `breakers reset AGENT`.",
  flags: {
    state: choice({ help: "only breakers in this state", values: ["closed", "open", "half_open"] }),
    reset: text({ help: "reset this agent's breaker (as `breakers reset AGENT`)", value: "AGENT" }),
    json: jsonFlag,
    server: serverFlag,
  },
  subcommands: [resetCommand],
  async run({ values }, io) {
    if (values.reset !== undefined) return reset(values.server, values.reset, io);
    const b = await connect(values.server, io.env).breakers(values.state);
    if (values.json) {
      io.out(json(b));
      return 0;
    }
    io.out(
      table(
        ["agent", "state", "writes", "bad", "retry after s", "reason"],
        b.items.map((i) => [i.agent, i.state, i.writes, i.bad, i.retry_after_s, i.reason].map((v) => String(v ?? ""))),
      ),
    );
    io.out(`global: ${JSON.stringify(b.global)}`);
    return 0;
  },
});
