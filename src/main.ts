#!/usr/bin/env bun
/** The `stemedb` executable: composes the layers through the CLI; holds no logic of its own. */
import { main } from "./cli/index.ts";

process.exitCode = await main(process.argv.slice(2));
