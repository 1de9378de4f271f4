#!/usr/bin/env bun
/** The `stemedb` executable: composes the layers through the CLI; holds no logic of its own. */
import { applyHeapGrowth } from "./core/heap-growth.ts";

// First, before the program loads: `serve` may execute itself again with the heap's growth set.
applyHeapGrowth();
const { main } = await import("./cli/index.ts");
process.exitCode = await main(process.argv.slice(2));
