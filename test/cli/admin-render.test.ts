/** `stemedb admin`'s output pieces: colour only on a terminal without NO_COLOR, tables padded by what shows, shard ranges, gateway addresses. */
import { describe, expect, test } from "bun:test";
import { checkGateway, gatewayUrl } from "../../src/cli/admin/gateway.ts";
import { colourTable, colourWanted, countsLine, idRanges, painter } from "../../src/cli/admin/render.ts";

describe("admin output", () => {
  test("colour only when stdout is a terminal and NO_COLOR is unset or empty", () => {
    expect(colourWanted({}, true)).toBe(true);
    expect(colourWanted({ NO_COLOR: "" }, true)).toBe(true);
    expect(colourWanted({ NO_COLOR: "1" }, true)).toBe(false);
    expect(colourWanted({}, false)).toBe(false);
    expect(painter(false).state("dead")).toBe("dead");
    expect(painter(true).state("dead")).toBe("\x1b[31mdead\x1b[0m");
    expect(painter(true).state("alive")).toBe("\x1b[32malive\x1b[0m");
    expect(painter(true).state("whatever")).toBe("whatever");
  });

  test("a coloured table lines up as a plain one does", () => {
    const rows = [
      ["n1", "alive", "x"],
      ["node-two", "suspect", "y"],
    ];
    const plain = colourTable(["name", "state", "api"], rows);
    const p = painter(true);
    const coloured = colourTable(
      ["name", "state", "api"],
      rows.map((r) => [r[0] as string, p.state(r[1] as string), r[2] as string]),
    );
    expect(coloured.replace(/\x1b\[[0-9;]*m/g, "")).toBe(plain);
    expect(plain.split("\n")[2]).toBe("n1        alive    x");
  });

  test("counts and shard ranges", () => {
    expect(countsLine({ alive: 2, dead: 1, suspect: 0 }, ["alive", "suspect", "dead"], painter(false))).toBe("2 alive, 1 dead");
    expect(countsLine({}, ["alive"], painter(false))).toBe("none");
    expect(idRanges([9, 0, 1, 2, 3, 7, 10])).toBe("0-3, 7, 9-10");
    expect(idRanges([0, 2, 4, 6], 2)).toBe("0, 2, …");
  });

  test("--gateway: a URL or HOST:PORT", () => {
    expect(gatewayUrl("127.0.0.1:18180")).toBe("http://127.0.0.1:18180");
    expect(gatewayUrl("https://db1.example:8443/ignored")).toBe("https://db1.example:8443");
    expect(gatewayUrl("http://db1")).toBe("http://db1");
    expect(checkGateway("db1")).toMatch(/HOST:PORT/);
    expect(checkGateway("notaurl")).toMatch(/HOST:PORT/);
    expect(checkGateway("ftp://x:1")).toMatch(/URL/);
  });
});
