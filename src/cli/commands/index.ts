// The list of `bindery` subcommands; each module adds its own command to the program.
import type { Command } from 'commander';
import type { CliIo } from '../main.js';
import { registerAddressServer } from './address-server.js';
import { registerDemo } from './demo.js';
import { registerInstallCni } from './install-cni.js';
import { registerMigrate } from './migrate.js';
import { registerDown } from './down.js';
import { registerExec } from './exec.js';
import { registerFlows } from './flows.js';
import { registerForwards } from './forwards.js';
import { registerPasst } from './passt.js';
import { registerPodNet } from './pod-net.js';
import { registerRender } from './render.js';
import { registerRepairHelper } from './repair-helper.js';
import { registerSidecar } from './sidecar.js';
import { registerStatus } from './status.js';
import { registerUp } from './up.js';
import { registerValidate } from './validate.js';

/** Adds every subcommand to `program`. */
export function registerCommands(program: Command, io: CliIo): void {
  registerAddressServer(program, io);
  registerDemo(program, io);
  registerInstallCni(program, io);
  registerMigrate(program, io);
  registerDown(program, io);
  registerExec(program, io);
  registerFlows(program, io);
  registerForwards(program, io);
  registerPasst(program, io);
  registerPodNet(program, io);
  registerRender(program, io);
  registerRepairHelper(program, io);
  registerSidecar(program, io);
  registerStatus(program, io);
  registerUp(program, io);
  registerValidate(program, io);
}
