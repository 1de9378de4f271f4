#!/usr/bin/env bun
/** The `stemedb` executable: composes the layers through the CLI; holds no logic of its own. */
import { runCli } from "./cli/commands.ts";

process.exitCode = await runCli(process.argv.slice(2));
