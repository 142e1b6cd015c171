// The `bindery address-server` daemon's life: config, detach and readiness, the packet socket, leases, logging, signals.
//
// Life of the daemon (`runAddressServer`):
//   1. read and check the config (a bad one: one BinderyError line, status 1);
//   2. without -f: start this same command again with -f, detached, and wait until the child
//      reports on a pipe (fd 3, named by BINDERY_PASST_READY_FD as for `bindery passt`) that it
//      serves, or why it could not; return 0 or 1;
//   3. with -f (or as that child): load the lease store, open the filtered packet socket on
//      config.device in config.netns, and with IPv4 also a device-bound UDP socket on port 67
//      whose datagrams are thrown away: the packet socket has seen them already, and without a
//      listener the kernel would answer a renewing client's unicast REQUEST to the server
//      address with ICMP port unreachable. Then write the pid file, report readiness, and serve
//      until SIGTERM/SIGINT; SIGUSR1 logs the counters. On stop: close the sockets, remove the
//      pid file, log the counters.
import { closeSync, writeSync } from 'node:fs';
import { readFile, unlink, writeFile } from 'node:fs/promises';
import { BinderyError, ErrorCode } from '../errors.js';
import { binderyVersion } from '../version.js';
import type { AddressServerConfig } from '../podnet/address-config.js';
import { checkAddressServerConfig } from '../podnet/address-config-check.js';
import { AddressServer } from '../podnet/address-server.js';
import { LeaseStore } from '../podnet/lease-store.js';
import {
  openDeviceUdpSocket,
  openPacketSocket,
  PACKET_CSUM_PARTIAL,
  type DatagramEndpoint,
} from '../native/index.js';
import { pino } from 'pino';
import type { PasstEdge } from './passt.js';
import { serveReporting, startDetached } from './detach.js';

/**
 * Reads and checks a config file.
 *
 * @throws BinderyError (Input) when it cannot be read, is not JSON or is not a valid config.
 */
export async function readAddressServerConfig(file: string): Promise<AddressServerConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? String(e);
    throw new BinderyError(ErrorCode.Input, `cannot read address server config ${file}: ${code}`, {
      cause: e,
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new BinderyError(ErrorCode.Input, `address server config ${file} is not JSON`, {
      cause: e,
    });
  }
  return checkAddressServerConfig(json);
}

async function detach(edge: PasstEdge): Promise<number> {
  const { line } = await startDetached(edge);
  if (line.startsWith('ready')) return 0;
  const why = line.startsWith('error ') ? line.slice('error '.length) : 'did not start';
  edge.io.err(`bindery: address-server: ${why}\n`);
  return 1;
}

async function serve(cfg: AddressServerConfig, edge: PasstEdge): Promise<number> {
  // JSON lines (pino's own format, fields kept: leases and counters are meant to be read by
  // tools), appended to logFile, or to stderr without one.
  const dest = pino.destination({
    dest: cfg.logFile ?? 2,
    append: true,
    sync: true,
    mkdir: false,
  });
  const logger = pino(
    { level: 'info', base: { name: 'address-server', version: binderyVersion(), pid: edge.pid } },
    dest,
  );
  const leases = await LeaseStore.load(cfg.leaseFile);
  const packet = openPacketSocket({ device: cfg.device, netns: cfg.netns });
  let udp67: DatagramEndpoint | undefined;
  try {
    if (cfg.v4) udp67 = openDeviceUdpSocket({ device: cfg.device, port: 67, netns: cfg.netns });
  } catch (e) {
    packet.close();
    throw e;
  }
  const server = new AddressServer(cfg, {
    send: (f) => {
      try {
        if (packet.send([f]) === 0) logger.warn('send queue full: reply dropped');
      } catch (e) {
        logger.warn({ err: e }, 'send failed');
      }
    },
    clock: edge.clock,
    wallNow: () => Date.now(),
    log: logger,
    leases,
  });
  packet.onError((e) => logger.warn({ err: e }, 'packet socket receive error'));
  packet.onFrames((frames, flags) => {
    for (let i = 0; i < frames.length; i++)
      server.handleFrame(frames[i]!, (flags[i]! & PACKET_CSUM_PARTIAL) !== 0);
  });
  udp67?.onError(() => {});
  udp67?.onMessages(() => {});
  server.start();
  logger.info(
    {
      device: cfg.device,
      netns: cfg.netns,
      v4: cfg.v4?.address,
      v6: cfg.v6?.address,
      clientMac: cfg.clientMac,
      leases: leases.all().length,
    },
    'address server serving',
  );

  let stop!: () => void;
  const stopped = new Promise<void>((r) => (stop = r));
  const unregister = edge.onShutdownSignal(() => {
    logger.info('signal received, shutting down');
    stop();
  });
  const unregisterCounters = edge.onCountersSignal(() =>
    logger.info({ counters: server.counters }, 'counters'),
  );
  await writeFile(cfg.pidFile, `${edge.pid}\n`);
  if (edge.readyFd !== undefined) {
    try {
      writeSync(edge.readyFd, `ready ${cfg.device}\n`);
      closeSync(edge.readyFd);
    } catch {
      // parent gone
    }
  }
  await stopped;
  unregister();
  unregisterCounters();
  server.stop();
  packet.close();
  udp67?.close();
  await unlink(cfg.pidFile).catch(() => undefined);
  logger.info({ counters: server.counters }, 'stopped');
  dest.flushSync();
  return 0;
}

/**
 * Runs `bindery address-server --config FILE [-f]`.
 *
 * @returns 0 after a clean stop or a successful detach, 1 when the detached child failed.
 * @throws BinderyError on a bad config, or on start-up failures in the foreground.
 */
export async function runAddressServer(
  configFile: string,
  foreground: boolean,
  edge: PasstEdge,
): Promise<number> {
  const cfg = await readAddressServerConfig(configFile);
  if (!foreground && edge.readyFd === undefined) return detach(edge);
  return serveReporting(edge.readyFd, () => serve(cfg, edge));
}
