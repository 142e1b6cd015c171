#!/usr/bin/env node
// Entry point of the `bindery` executable: runs the compiled CLI and exits with its status.
import { setFlagsFromString } from 'node:v8';
import { run, v8FlagsFor } from '../dist/cli/main.js';

const argv = process.argv.slice(2);
for (const flag of v8FlagsFor(argv)) setFlagsFromString(flag);
process.exitCode = await run(argv);
