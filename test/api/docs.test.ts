/** The generated parts of docs/ (scripts/docs.ts) match the tables they are written from. */
import { expect, test } from "bun:test";
import { renderDocs } from "../../scripts/docs.ts";

test("docs/API.md's error table and route list are current (else: bun scripts/docs.ts)", () => {
  expect(renderDocs().stale).toEqual([]);
});
