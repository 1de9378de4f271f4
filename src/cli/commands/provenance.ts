/** `stemedb provenance`: the provenance tree of a record. */
import { type ProvenanceTree, provenanceDepthMax, renderProvenance } from "../../provenance/tree.ts";
import { connect } from "../client.ts";
import { defineCommand } from "../command.ts";
import { jsonFlag, number, serverFlag } from "../flags.ts";
import { json } from "../output.ts";

export const provenance = defineCommand({
  name: "provenance",
  summary: "the provenance chain of a record: dependencies, sources, votes, retractions, reviews",
  usage: ["stemedb provenance ID [--depth N] [--json] [--server URL]"],
  about: `Prints the assertion and, indented below it, what it depends on, each with its source (tier,
retracted?), votes, retractions, reviews and lifecycle flags. --depth bounds the tree (default 8).`,
  flags: {
    depth: number({ help: "how deep the tree goes", value: "N", integer: true, min: 0, max: provenanceDepthMax }),
    json: jsonFlag,
    server: serverFlag,
  },
  args: [{ name: "ID" }],
  async run({ values, args }, io) {
    const tree = await connect(values.server, io.env).provenance(args[0] as string, {
      ...(values.depth !== undefined ? { depth: values.depth } : {}),
    });
    if (values.json) io.out(json(tree));
    else {
      io.out(renderProvenance(tree as unknown as ProvenanceTree));
      if (tree.dangling.length) io.out(`dangling (not on this node): ${tree.dangling.join(", ")}`);
    }
    return 0;
  },
});
