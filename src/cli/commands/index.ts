// The list of `bindery` subcommands; each module adds its own command to the program.
import type { Command } from 'commander';
import type { CliIo } from '../main.js';
import { registerAddressServer } from './address-server.js';
import { registerDemo } from './demo.js';
import { registerInstallCni } from './install-cni.js';
import { registerPasst } from './passt.js';
import { registerPodNet } from './pod-net.js';
import { registerRender } from './render.js';
import { registerSidecar } from './sidecar.js';
import { registerValidate } from './validate.js';

/** Adds every subcommand to `program`. */
export function registerCommands(program: Command, io: CliIo): void {
  registerAddressServer(program, io);
  registerDemo(program, io);
  registerInstallCni(program, io);
  registerPasst(program, io);
  registerPodNet(program, io);
  registerRender(program, io);
  registerSidecar(program, io);
  registerValidate(program, io);
}
