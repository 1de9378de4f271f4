/** The namespace rule (docs/MCP.md#namespaces): relative in, relative out, a leading / absolute. */
import { describe, expect, test } from "bun:test";
import { StemeError } from "../../src/core/errors.ts";
import { Namespace } from "../../src/mcp/namespace.ts";

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(StemeError);
    return (err as StemeError).code;
  }
  return "no error";
}

describe("Namespace", () => {
  const ns = Namespace.parse("team/alpha");

  test("a subject is stored under the prefix; a leading / is absolute", () => {
    expect(ns.stored("drug/aspirin")).toBe("team/alpha/drug/aspirin");
    expect(ns.stored("/shared/glossary")).toBe("shared/glossary");
    expect(Namespace.none.stored("drug/aspirin")).toBe("drug/aspirin");
    expect(Namespace.none.stored("/drug/aspirin")).toBe("drug/aspirin");
  });

  test("shown is stored's inverse, so what a tool shows can be passed back", () => {
    for (const given of ["drug/aspirin", "/shared/glossary", "/team/alphabet/x", "/team/alpha"]) {
      const stored = ns.stored(given);
      expect([given, ns.shown(stored)]).toEqual([given, given]);
      expect(ns.stored(ns.shown(stored))).toBe(stored);
    }
    // A sibling prefix is not inside: team/alphabet is not team/alpha.
    expect(ns.shown("team/alphabet/x")).toBe("/team/alphabet/x");
    expect(Namespace.none.shown("a/b")).toBe("a/b");
  });

  test("list patterns: exact and prefix are kept inside; a tail pattern is refused inside, allowed absolute", () => {
    expect(ns.pattern("drug/*")).toBe("team/alpha/drug/*");
    expect(ns.pattern("drug/aspirin")).toBe("team/alpha/drug/aspirin");
    expect(ns.pattern("/*/aspirin")).toBe("*/aspirin");
    expect(codeOf(() => ns.pattern("*/aspirin"))).toBe("invalid_query");
    expect(Namespace.none.pattern("*/aspirin")).toBe("*/aspirin");
    expect(ns.everything).toBe("team/alpha/*");
    expect(Namespace.none.everything).toBeUndefined();
  });

  test("present rewrites every subject field of the records, however deep, and no claimed value", () => {
    const answer = {
      subject: "team/alpha/a",
      value: { subject: "team/alpha/data" },
      winner: { subject: "team/alpha/a", object: { subject: "team/alpha/data" } },
      groups: [{ value: { subject: "team/alpha/data" } }],
      depends_on: [{ record: { subject: "other/b" } }],
      source: "team/alpha/src",
    };
    expect(ns.present(answer)).toEqual({
      subject: "a",
      value: { subject: "team/alpha/data" },
      winner: { subject: "a", object: { subject: "team/alpha/data" } },
      groups: [{ value: { subject: "team/alpha/data" } }],
      depends_on: [{ record: { subject: "/other/b" } }],
      source: "team/alpha/src",
    });
    expect(Namespace.none.present(answer)).toBe(answer);
  });

  test("a malformed namespace is invalid_path; none is the empty one", () => {
    for (const bad of ["/a", "a/", "a//b", "a/*", "a\u0007b"])
      expect([bad, codeOf(() => Namespace.parse(bad))]).toEqual([bad, "invalid_path"]);
    expect(Namespace.parse(undefined)).toBe(Namespace.none);
    expect(Namespace.parse("")).toBe(Namespace.none);
  });
});
