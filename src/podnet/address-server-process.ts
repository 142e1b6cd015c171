// Starting and stopping the address server daemon (`bindery address-server`) for pod-net.
//
// startAddressServer runs `node bin/bindery.js address-server --config FILE`, which detaches
// the daemon and exits once it serves (or with the reason it could not); the daemon's pid is
// then read from the config's pidFile. stopAddressServer sends SIGTERM and waits, SIGKILL after
// a deadline.
import { spawn } from 'node:child_process';
import { readFile, unlink } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { BinderyError, ErrorCode } from '../errors.js';
import { readAddressServerConfig } from '../runner/address-server.js';

/** The bindery executable (package root is two levels up from src/podnet and dist/podnet). */
const BIN = fileURLToPath(new URL('../../bin/bindery.js', import.meta.url));
/** How long the start may take. */
const START_DEADLINE_MS = 30_000;
/** How long a SIGTERMed daemon may take to exit before SIGKILL. */
const STOP_DEADLINE_MS = 5_000;

async function logTail(file: string | undefined): Promise<string> {
  if (file === undefined) return '';
  const text = await readFile(file, 'utf8').catch(() => '');
  const lines = text.trimEnd().split('\n').slice(-5).join(' | ');
  return lines ? `; log: ${lines}` : '';
}

/**
 * Starts `bindery address-server --config FILE` detached and waits until it serves.
 * @param configFile - an AddressServerConfig as JSON
 * @returns the daemon's pid
 * @throws BinderyError (Input) for a bad config, (Link) when the daemon did not start,
 *   (Timeout) past the deadline
 */
export async function startAddressServer(configFile: string): Promise<number> {
  const cfg = await readAddressServerConfig(configFile);
  // A pid file left by a killed daemon must not be taken for the new one's.
  await unlink(cfg.pidFile).catch(() => undefined);
  const child = spawn(process.execPath, [BIN, 'address-server', '--config', configFile], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => (stderr += d));
  const code = await new Promise<number | 'timeout'>((resolve) => {
    const timer = setTimeout(() => resolve('timeout'), START_DEADLINE_MS);
    child.on('error', (e) => {
      stderr += e.message;
      clearTimeout(timer);
      resolve(1);
    });
    child.on('close', (c) => {
      clearTimeout(timer);
      resolve(c ?? 1);
    });
  });
  if (code === 'timeout') {
    child.kill('SIGKILL');
    throw new BinderyError(
      ErrorCode.Timeout,
      `address server on ${cfg.device} did not start within ${START_DEADLINE_MS} ms${await logTail(cfg.logFile)}`,
    );
  }
  const pid = Number((await readFile(cfg.pidFile, 'utf8').catch(() => '')).trim());
  if (code !== 0 || !Number.isInteger(pid) || pid <= 0)
    throw new BinderyError(
      ErrorCode.Link,
      `address server on ${cfg.device} did not start: ${stderr.trim().split('\n')[0] || `exit ${code}`}${await logTail(cfg.logFile)}`,
    );
  return pid;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function waitGone(pid: number, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (alive(pid)) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

/**
 * Stops the daemon (SIGTERM, then SIGKILL after a deadline) and waits for it to exit.
 * A pid that is gone already is fine.
 * @param pid - from startAddressServer
 */
export async function stopAddressServer(pid: number): Promise<void> {
  try {
    process.kill(pid, 'SIGTERM');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return;
    throw e;
  }
  if (await waitGone(pid, STOP_DEADLINE_MS)) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  if (!(await waitGone(pid, STOP_DEADLINE_MS)))
    throw new BinderyError(ErrorCode.Timeout, `address server ${pid} did not exit after SIGKILL`);
}
