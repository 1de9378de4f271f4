/** The generated parts of docs/ (scripts/docs.ts) match the tables they are written from. */
import { expect, test } from "bun:test";
import { renderDocs } from "../../scripts/docs.ts";

test("the derived docs are current: docs/API.md tables, docs/CLI.md, .env.example (else: make docs)", () => {
  expect(renderDocs().stale).toEqual([]);
});
