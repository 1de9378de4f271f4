/**
 * `stemedb keys create|list|revoke`: API keys in a data directory's keys.json, with or without
 * the server running (it sees a change within a second).
 */
import { KeyStore, roles } from "../../auth/keys.ts";
import { StemeError } from "../../core/errors.ts";
import { defineCommand } from "../command.ts";
import { openNode } from "../datadir.ts";
import { choice, dataDirFlag, flag, jsonFlag, text, usage } from "../flags.ts";
import { json, table } from "../output.ts";

const create = defineCommand({
  name: "keys create",
  summary: "make an API key; its secret is printed once",
  usage: ["stemedb keys create --role reader|writer|admin --name NAME [--signing] [--data-dir DIR]"],
  about: `Prints the key's id, name and role, then the secret alone on the last line — shown this once;
only its SHA-256 is stored (in DIR/keys.json, mode 0600). The first admin key is made this way;
later ones can be made over HTTP (POST /v1/admin/keys).
--signing also makes an Ed25519 signing key that the node keeps for this API key (in keys.json,
never shown): records an agent writes through the MCP endpoint /mcp with this key are signed
with it, and their \`agent\` is its public key, printed here as "agent" (docs/MCP.md).`,
  flags: {
    role: choice({ help: "what the key may do", values: roles }),
    name: text({ help: "who or what the key is for", value: "NAME" }),
    signing: flag("also make a signing key the node keeps for this key (for writes through /mcp)"),
    "data-dir": dataDirFlag,
  },
  async run({ values }, io) {
    if (values.role === undefined || values.name === undefined) throw usage("give --role and --name");
    openNode(values["data-dir"]);
    const k = new KeyStore(values["data-dir"]).create(values.name, values.role, { signing: values.signing });
    io.out(`id      ${k.id}`);
    io.out(`name    ${k.name}`);
    io.out(`role    ${k.role}`);
    if (k.agent) io.out(`agent   ${k.agent}  (public signing key: the agent of the records written with this key through /mcp)`);
    io.out("secret (shown once; send it as Authorization: Bearer <secret>):");
    io.out(k.secret);
    return 0;
  },
});

const list = defineCommand({
  name: "keys list",
  summary: "list the API keys (never their secrets)",
  usage: ["stemedb keys list [--data-dir DIR] [--json]"],
  about: "Shows each key's public signing key (agent) when it has one; never a secret.",
  flags: { "data-dir": dataDirFlag, json: jsonFlag },
  async run({ values }, io) {
    openNode(values["data-dir"]);
    const keys = new KeyStore(values["data-dir"]).list();
    if (values.json) io.out(json(keys));
    else
      io.out(
        table(
          ["id", "name", "role", "created", "revoked", "agent"],
          keys.map((k) => [k.id, k.name, k.role, k.created_at, k.revoked_at ?? "", k.agent ?? ""]),
        ),
      );
    return 0;
  },
});

const revoke = defineCommand({
  name: "keys revoke",
  summary: "revoke an API key (a running server stops taking it within a second)",
  usage: ["stemedb keys revoke ID [--data-dir DIR]"],
  flags: { "data-dir": dataDirFlag },
  args: [{ name: "ID" }],
  async run({ values, args }, io) {
    const dir = values["data-dir"];
    const id = args[0] as string;
    openNode(dir);
    if (!new KeyStore(dir).revoke(id))
      throw new StemeError("not_found", `no API key ${id} in ${dir}`, {
        hint: `\`stemedb keys list --data-dir ${dir}\` lists them`,
      });
    io.out(`revoked ${id}`);
    return 0;
  },
});

export const keys = defineCommand({
  name: "keys",
  summary: "create, list or revoke API keys in a data directory (works with the server running)",
  usage: [...create.usage, ...list.usage, ...revoke.usage],
  about: "A running server sees a new or revoked key within a second.",
  flags: {},
  subcommands: [create, list, revoke],
  async run() {
    throw usage("give a subcommand: create, list or revoke");
  },
});
