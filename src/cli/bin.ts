// The `bindery` command from source (`node --import tsx src/cli/bin.ts …`), as bin/bindery.js runs the compiled one.
import { run } from './main.js';

process.exitCode = await run(process.argv.slice(2));
