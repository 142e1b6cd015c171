// Starting and stopping the address server daemon (`bindery address-server`) for pod-net.
//
// Placeholder so pod-net and the daemon can be built apart; the real implementation replaces it.
import { BinderyError, ErrorCode } from '../errors.js';

/**
 * Starts `bindery address-server --config FILE` detached and waits until it serves.
 * @param configFile - an AddressServerConfig as JSON
 * @returns the daemon's pid
 */
export async function startAddressServer(configFile: string): Promise<number> {
  throw new BinderyError(ErrorCode.Input, `address server not built yet (${configFile})`);
}

/**
 * Stops the daemon (SIGTERM, then SIGKILL after a deadline) and waits for it to exit.
 * A pid that is gone already is fine.
 * @param pid - from startAddressServer
 */
export async function stopAddressServer(pid: number): Promise<void> {
  void pid;
}
