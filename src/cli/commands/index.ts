// The list of `bindery` subcommands; each module adds its own command to the program.
import type { Command } from 'commander';
import type { CliIo } from '../main.js';

/** Adds every subcommand to `program`. */
export function registerCommands(_program: Command, _io: CliIo): void {}
