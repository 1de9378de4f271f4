/**
 * `stemedb mcp`: an MCP server on stdio (docs/MCP.md), for desktop and IDE agents that launch
 * their tools as processes. It signs with the agent's own key file — the secret never leaves
 * the machine — and talks to a StemeDB server over its HTTP API.
 *
 * Standard output carries the protocol and nothing else: the log goes to stderr, and so does a
 * failure. A server that cannot be reached, is not StemeDB or refuses the API key stops it at
 * start, in one line with its exit code (an MCP client shows that line); once it runs, a
 * failing call is a tool error the model reads, and the process carries on. It ends when its
 * standard input closes (the client went away).
 *
 * The MCP layer and the SDK are imported when the command runs, so other commands do not pay
 * for loading them (about 80 ms).
 */
import { version } from "../../api/serve.ts";
import { createLogger } from "../../core/logger.ts";
import { keyFlagHint, loadKey } from "../agent-key.ts";
import { reachingFetch } from "../client.ts";
import { defineCommand } from "../command.ts";
import { serverFlag, text } from "../flags.ts";

export const mcp = defineCommand({
  name: "mcp",
  summary: "serve StemeDB's tools to an agent over MCP on stdio, signing with the agent's key",
  usage: ["stemedb mcp --key FILE [--server URL] [--api-key K] [--namespace PREFIX]"],
  about: `For MCP clients that launch their servers (Claude Desktop, Cursor, VS Code …): the tools
assert_claim, query_claim, list_claims, vote_claim, retract_claim, trace_provenance and
register_source, the lens guide as a resource and a fact_check prompt (docs/MCP.md).
Every flag can come from the environment, as an MCP client's "env" block sets it:
STEMEDB_KEY_FILE, STEMEDB_URL, STEMEDB_API_KEY, STEMEDB_NAMESPACE.
--namespace keeps the agent's subjects under a prefix: subjects are given and shown relative
to it, and one starting with / is outside it.
At start it checks the server answers as StemeDB and takes the API key, and stops with one line
on stderr if not; afterwards a failed call is a tool error and it carries on. Standard output
is the protocol only; the log is on stderr. It stops when standard input closes.`,
  flags: {
    key: text({
      help: "the agent's key file (it signs every record; the secret stays on this machine)",
      value: "FILE",
      kind: "in-file",
      env: "STEMEDB_KEY_FILE",
      required: true,
      requiredHint: keyFlagHint,
    }),
    server: serverFlag,
    "api-key": text({ help: "the API key, when the server has keys", value: "K", env: "STEMEDB_API_KEY" }),
    namespace: text({ help: "keep the agent's subjects under this prefix", value: "PREFIX", env: "STEMEDB_NAMESPACE" }),
  },
  async run({ values }) {
    const { createBackend, createMcpServer, keySigner, Namespace } = await import("../../mcp/index.ts");
    const { StdioServerTransport } = await import("@modelcontextprotocol/sdk/server/stdio.js");
    const key = loadKey(values.key);
    const namespace = Namespace.parse(values.namespace);
    const apiKey = values["api-key"];
    const connection = {
      url: values.server,
      headers: apiKey ? { authorization: `Bearer ${apiKey}` } : ({} as Record<string, string>),
      fetch: reachingFetch(values.server),
    };
    const backend = createBackend(connection, keySigner(key), namespace);
    // Fail now, in one line, rather than on the model's first call: is it StemeDB, and does it take the key?
    await backend.client.health();
    await backend.client.list({ limit: 1 });
    // Standard output is the protocol's: anything a library prints with console.log goes to stderr instead.
    console.log = console.error;
    console.info = console.error;
    console.debug = console.error;
    const logger = createLogger({ level: "info", fields: { component: "mcp" } });
    const server = createMcpServer(backend, { version, logger });
    server.onerror = (err) => logger.warn("MCP protocol error", { error: err.message });
    const closed = new Promise<void>((resolve) => {
      server.onclose = resolve;
    });
    await server.connect(new StdioServerTransport(process.stdin, process.stdout));
    process.stdin.once("end", () => void server.close());
    logger.info("stemedb mcp serving on stdio", {
      server: values.server,
      agent: keySigner(key).agent,
      namespace: namespace.prefix,
    });
    await closed;
    return 0;
  },
});
