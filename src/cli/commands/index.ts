// The list of `bindery` subcommands; each module adds its own command to the program.
import type { Command } from 'commander';
import type { CliIo } from '../main.js';
import { registerDemo } from './demo.js';
import { registerPasst } from './passt.js';
import { registerRender } from './render.js';
import { registerSidecar } from './sidecar.js';
import { registerValidate } from './validate.js';

/** Adds every subcommand to `program`. */
export function registerCommands(program: Command, io: CliIo): void {
  registerDemo(program, io);
  registerPasst(program, io);
  registerRender(program, io);
  registerSidecar(program, io);
  registerValidate(program, io);
}
