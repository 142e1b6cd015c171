#!/usr/bin/env node
// Entry point of the `bindery` executable: runs the compiled CLI and exits with its status.
import { run } from '../dist/cli/main.js';

const code = await run(process.argv.slice(2));
process.exitCode = code;
