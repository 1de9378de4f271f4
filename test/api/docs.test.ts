/** The generated parts of docs/ (scripts/docs.ts) match the tables they are written from. */
import { expect, test } from "bun:test";
import { brokenCitations, renderDocs } from "../../scripts/docs.ts";

test("the derived docs are current: docs/API.md tables, docs/CLI.md, .env.example (else: make docs)", () => {
  expect(renderDocs().stale).toEqual([]);
});

test("every docs/<page>.md#<anchor> the code cites leads to a page and a heading", () => {
  expect(brokenCitations()).toEqual([]);
});
