// The `bindery` command from source (`node --import tsx src/cli/bin.ts …`), as bin/bindery.js runs the compiled one.
import { setFlagsFromString } from 'node:v8';
import { run, v8FlagsFor } from './main.js';

const argv = process.argv.slice(2);
for (const flag of v8FlagsFor(argv)) setFlagsFromString(flag);
process.exitCode = await run(argv);
