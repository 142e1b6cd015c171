// The `bindery passt` daemon's life: detach and readiness, the guest link, the translators, logging, signals.
//
// Life of the daemon (`runPasstDaemon`, after the CLI parsed argv into PasstOptions):
//   1. without -f: start this same command again with -f added, detached, stdio to /dev/null
//      or --log-file, and wait until the child reports on a pipe (fd 3, named by the
//      BINDERY_PASST_READY_FD environment variable) that it is serving; then print the socket
//      path and QEMU's command line (unless -q) and return 0. The child's start-up error is
//      reported by the parent (status 1),
//   2. with -f (or as that child): open the guest link (the stream socket, by default the first
//      /tmp/passt_N.socket nothing accepts on, or --tap NAME --netns PATH), start the daemon,
//      write the --pid file, flush the log, report readiness, and serve until SIGTERM/SIGINT
//      or, with --one-off, until the guest leaves; then close the link (removing the socket
//      file), remove the pid file and log the counters.
//   Counters (daemon, TCP translator, flow table) are logged at debug level every
//   COUNTERS_INTERVAL_MS of the injected clock and at info level on SIGUSR1.
//   Observation (docs/operators.md): -p/--pcap captures from the start (runner/capture.ts),
//   --metrics serves Prometheus metrics (runner/metrics.ts, loaded only then), --stats prints
//   the event counts (runner/stats.ts), flow open/close lines at debug level and rate-limited
//   warnings for guest misbehaviour (runner/observe-log.ts).
// Process-wide things (signals, clock, argv to re-run ourselves, the ready fd) come in through
// `PasstEdge`, which the CLI builds (cli/commands/passt.ts).
import { closeSync, openSync, writeSync } from 'node:fs';
import { lstat, readFile, unlink, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import type { Logger } from 'pino';
import { BinderyError, ErrorCode, UsageError } from '../errors.js';
import { binderyVersion } from '../version.js';
import { resolveConfig, type PasstOptions } from '../usernet/conf.js';
import { readHostInfo } from '../usernet/hostinfo.js';
import { StreamLink } from '../usernet/link/stream.js';
import { tapLink, tapLinkProps } from '../usernet/link/tap.js';
import { switchableLink, type SwitchableLink } from '../usernet/link/switchable.js';
import { VhostUserLink } from '../usernet/link/vhost-user/link.js';
import type { GuestLink } from '../usernet/link/types.js';
import { PasstDaemon, type Clock } from '../usernet/passt.js';
import { impairLink, parseImpairSpec } from '../usernet/link/impair.js';
import { nativeHost } from '../usernet/host/index.js';
import { flowTranslators, type FlowTranslators, type FwdOptions } from './translators.js';
import { shardedLink, type ShardedLink } from '../usernet/shard/link.js';
import { newInboundPorts, type InboundPorts } from '../usernet/shard/route.js';
import { markInboundPorts } from '../usernet/fwd/forwards.js';
import type { ShardSet } from './shards.js';
import { parseEphemeralRange } from '../usernet/fwd/portspec.js';
import { parseMarker } from '../usernet/fwd/redirect.js';
import { readOwnMarker } from './fwd-rules.js';
import { openDaemonLog, passtLogLevel, type DaemonLog } from './log.js';
import { serveReporting, startDetached } from './detach.js';
import { ControlServer } from './control.js';
import { registerControlOps } from './control-ops.js';
import { CaptureManager } from './capture.js';
import { flowLogObserver, guestErrorReporter } from './observe-log.js';
import { statsLine } from './stats.js';
import type { MetricsServer } from './metrics.js';

export { READY_FD_ENV } from './detach.js';
export {
  flowTranslators,
  FD_RESERVE,
  type FlowTranslators,
  type FwdOptions,
} from './translators.js';
/** Environment variable that impairs the guest link like netem (link/impair.ts), for tests. */
export const IMPAIR_ENV = 'BINDERY_IMPAIR';
/** How often the counters are logged at debug level. */
export const COUNTERS_INTERVAL_MS = 60_000;
/** How often the summaries of suppressed guest warnings are due (runner/observe-log.ts). */
export const WARN_SUMMARY_INTERVAL_MS = 15_000;

/** Where the daemon prints (stdout and stderr of the command). */
export interface PasstIo {
  out(text: string): void;
  err(text: string): void;
}

/** What the daemon takes from the process (the CLI builds it; tests may replace parts). */
export interface PasstEdge {
  readonly io: PasstIo;
  /** The command line that runs this same command again, plus `extra` arguments. */
  selfArgv(extra: readonly string[]): readonly string[];
  /** The fd to report readiness on when this process is a detached child. */
  readonly readyFd: number | undefined;
  readonly pid: number;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly clock: Clock;
  /** Calls `fn` once on SIGTERM or SIGINT; returns a function that unregisters it. */
  onShutdownSignal(fn: () => void): () => void;
  /** Calls `fn` on every SIGUSR1 (log the counters now); returns a function that unregisters it. */
  onCountersSignal(fn: () => void): () => void;
}

/** QEMU's options for a stream socket at `path` (passt's hint, qemu ≥ 7.2), or vhost-user's. */
export function qemuHint(path: string, vhostUser = false): string {
  if (vhostUser)
    return `-chardev socket,id=c,path=${path},reconnect-ms=1000 -netdev vhost-user,id=v,chardev=c -device virtio-net-pci,netdev=v -object memory-backend-memfd,id=m,share=on,size=… -numa node,memdev=m`;
  return `-device virtio-net-pci,netdev=s -netdev stream,id=s,server=off,addr.type=unix,addr.path=${path}`;
}

function accepts(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createConnection({ path });
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

/**
 * The first socket path `pathOf(n)`, n = 1…max, where nothing accepts connections and nothing
 * but a (stale) socket exists (passt's `/tmp/passt_%i.socket` probing, `sock_unix()`).
 *
 * @param pathOf - The path for index n; default `/tmp/passt_n.socket`.
 * @param max - Highest index tried (passt: 99).
 * @returns The path.
 * @throws BinderyError (Link) when every path is taken.
 */
export async function firstFreeSocketPath(
  pathOf: (n: number) => string = (n) => `/tmp/passt_${n}.socket`,
  max = 99,
): Promise<string> {
  for (let n = 1; n <= max; n++) {
    const p = pathOf(n);
    try {
      const st = await lstat(p);
      if (!st.isSocket()) continue;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return p;
      continue;
    }
    if (!(await accepts(p))) return p;
  }
  throw new BinderyError(ErrorCode.Link, `no free socket path from ${pathOf(1)} to ${pathOf(max)}`);
}

/** The all-ports marker of this namespace (a warning when it is unreadable) and the fd raiser. */
async function fwdOptions(
  env: Readonly<Record<string, string | undefined>>,
  warn: (msg: string) => void,
): Promise<FwdOptions> {
  const { raiseNofile } = await import('../native/fwd.js');
  const text = await readOwnMarker(env);
  if (text === undefined) return { raiseNofile };
  const marker = parseMarker(text);
  if (typeof marker === 'string') {
    warn(`ignoring the all-ports marker of this namespace: ${marker}`);
    return { raiseNofile };
  }
  return { marker, raiseNofile };
}

function announce(io: PasstIo, path: string, vhostUser = false): void {
  io.out(
    `UNIX domain socket bound at ${path}\n\nYou can now start qemu (>= ${vhostUser ? '9.2' : '7.2'}):\n    kvm ... ${qemuHint(path, vhostUser)}\n`,
  );
}

/** The daemon's log as the options ask for it. */
function daemonLog(opts: PasstOptions, edge: PasstEdge): DaemonLog {
  return openDaemonLog({
    level: passtLogLevel(opts),
    ...(opts.logFile !== undefined
      ? {
          file: opts.logFile,
          header: `bindery passt ${binderyVersion()} (${edge.pid})`,
          ...(opts.logSize !== undefined ? { maxBytes: opts.logSize } : {}),
        }
      : {}),
    ...(opts.debug ? { stderr: (t: string) => edge.io.err(t) } : {}),
  });
}

/** Logs every counter set on one line each, at `level`. */
function logCounters(
  logger: Logger,
  level: 'debug' | 'info',
  daemon: PasstDaemon,
  translators: FlowTranslators | undefined,
): void {
  if (!logger.isLevelEnabled(level)) return;
  logger[level](`counters now: daemon ${JSON.stringify(daemon.counters)}`);
  if (translators)
    logger[level](`counters now: tcp ${JSON.stringify(translators.tcpTranslator.counters)}`);
  logger[level](
    `counters now: flows ${JSON.stringify({ active: daemon.table.size, ...daemon.table.counters })}`,
  );
}

/** Serves in this process until a signal or (one-off) the guest leaves. Returns the exit status. */
async function serve(opts: PasstOptions, edge: PasstEdge): Promise<number> {
  const dlog = daemonLog(opts, edge);
  const logger = dlog.logger;
  try {
    return await serveWith(opts, edge, logger, dlog);
  } finally {
    await dlog.close();
  }
}

async function serveWith(
  opts: PasstOptions,
  edge: PasstEdge,
  logger: Logger,
  dlog: DaemonLog,
): Promise<number> {
  const io = edge.io;
  const warn = (msg: string): void => logger.warn(msg);
  const host = readHostInfo();
  const cfg = resolveConfig(opts, host);
  const ephemeral = parseEphemeralRange(
    await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').catch(() => ''),
  );
  const fwd = await fwdOptions(edge.env, warn);
  let translators: FlowTranslators | undefined;
  let link: GuestLink;
  let stream: StreamLink | undefined;
  let vhost: VhostUserLink | undefined;
  let where: string;
  let tapSwitch: SwitchableLink | undefined;
  const threads = opts.tap ? (opts.threads ?? 1) : 1;
  let shards: ShardSet | undefined;
  let shard0: ShardedLink | undefined;
  let inbound: InboundPorts | undefined;
  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  if (opts.tap) {
    const { openTap } = await import('../native/index.js');
    const tap = opts.tap;
    // Switchable: a hand-over detaches the tap (migrate.export) or attaches it late
    // (--migrate-target, migrate.import); runner/migrate-ops.ts.
    tapSwitch = switchableLink(
      () =>
        tapLink(
          openTap({
            netns: tap.netns,
            name: tap.name,
            up: true,
            offload: opts.tapOffload,
            reuseRx: true,
            multiQueue: threads > 1,
            ...(cfg.mtu >= 68 ? { mtu: cfg.mtu } : {}),
          }),
          cfg.mtu >= 68 ? { mtu: cfg.mtu } : {},
        ),
      {
        kind: 'tap',
        ...tapLinkProps(opts.tapOffload),
        consumesOnSend: true,
        framesTransient: true,
      },
    );
    if (opts.migrateTarget !== true) tapSwitch.attach();
    link = tapSwitch;
    where = `tap ${tap.name} in ${tap.netns}${tapSwitch.attached ? '' : ' (attached at migrate.import)'}`;
    if (threads > 1) {
      inbound = newInboundPorts(true);
      markInboundPorts(opts.tcpPorts, opts.udpPorts, ephemeral, inbound);
      const { startShards } = await import('./shards.js');
      try {
        shards = await startShards(
          threads,
          inbound,
          {
            cfg,
            tap,
            offload: opts.tapOffload,
            ...(cfg.mtu >= 68 ? { mtu: cfg.mtu } : {}),
            hostResolvers: host.nameservers,
            ephemeral,
            noDhcp: opts.noDhcp,
            noDhcpv6: opts.noDhcpv6,
            noNdp: opts.noNdp,
            ...(opts.hostname !== undefined ? { hostname: opts.hostname } : {}),
          },
          {
            warn,
            onFailure: (msg) => {
              logger.error(`${msg}; stopping`);
              stop();
            },
          },
        );
      } catch (e) {
        await link.close();
        throw new BinderyError(
          ErrorCode.Link,
          `cannot start the translator threads: ${(e as Error).message}`,
          { cause: e },
        );
      }
      shard0 = shardedLink(tapSwitch, shards.mesh);
      shards.listen((packed) => shard0!.inject(packed));
      link = shard0;
      where += ` (${threads} threads)`;
    }
  } else if (opts.fd !== undefined) {
    stream = StreamLink.adopt(opts.fd);
    link = stream;
    where = stream.path;
  } else if (opts.vhostUser) {
    const path = opts.socketPath ?? (await firstFreeSocketPath());
    // BINDERY_VHOST_NO_TSO=1 (bench only): offer no TCP segmentation offload.
    const tso = edge.env['BINDERY_VHOST_NO_TSO'] !== '1';
    vhost = await VhostUserLink.listen({ path, oneOff: opts.oneOff, mtu: cfg.mtu, tso });
    link = vhost;
    where = path;
  } else {
    const path = opts.socketPath ?? (await firstFreeSocketPath());
    stream = await StreamLink.listen({ path, oneOff: opts.oneOff });
    link = stream;
    where = path;
  }
  const impair = edge.env[IMPAIR_ENV];
  if (impair !== undefined && impair !== '') {
    const spec = parseImpairSpec(impair);
    if (typeof spec === 'string') {
      await link.close();
      await shards?.close();
      throw new UsageError(spec);
    }
    link = impairLink(link, spec, edge.clock);
    warn(`${IMPAIR_ENV} is set: the guest link loses, delays and reorders frames (${impair})`);
  }
  const guestErrors = guestErrorReporter(logger, () => edge.clock.now());
  const daemon = new PasstDaemon(cfg, link, {
    onGuestError: (kind, frame) => guestErrors.report(kind, frame),
    noDhcp: opts.noDhcp,
    noDhcpv6: opts.noDhcpv6,
    noRa: opts.noRa,
    noNdp: opts.noNdp,
    ...(opts.hostname !== undefined ? { hostname: opts.hostname } : {}),
    hostResolvers: host.nameservers,
    clock: edge.clock,
    l4: (deps) => {
      const t = flowTranslators(
        deps,
        warn,
        opts.udpPorts,
        ephemeral,
        opts.tcpPorts,
        nativeHost(),
        fwd,
      );
      // With shards, the guest ports of the forwards (shard 0's flows) follow every change.
      const map = inbound;
      translators = map
        ? {
            ...t,
            setForwards: async (tcp, udp) => {
              await t.setForwards(tcp, udp);
              markInboundPorts(tcp, udp, ephemeral, map);
            },
          }
        : t;
      return translators;
    },
  });
  if (logger.isLevelEnabled('debug'))
    daemon.table.observer = flowLogObserver(logger, () => edge.clock.now());
  const capture = new CaptureManager((tap) => daemon.setFrameTap(tap), {
    wallUs: () => (performance.timeOrigin + performance.now()) * 1000,
    warn,
  });
  // Keeps the event loop alive while serving (a tap's reader alone may not).
  const keepAlive = setInterval(() => {}, 1 << 30);
  let wrotePid = false;
  const unregister = edge.onShutdownSignal(() => {
    logger.info('signal received, shutting down');
    stop();
  });
  const unregisterCounters = edge.onCountersSignal(() =>
    logCounters(logger, 'info', daemon, translators),
  );
  let countersTimer: unknown;
  let control: ControlServer | undefined;
  let metrics: MetricsServer | undefined;
  let statsTimer: unknown;
  let lastStats: string | undefined;
  const printStats = (): void => {
    const line = statsLine(daemon.counters, daemon.table.size, lastStats);
    if (line !== undefined) io.err(`${line}\n`);
    lastStats = line ?? lastStats;
    statsTimer = edge.clock.setTimer(printStats, (opts.stats ?? 1) * 1000);
  };
  let warnTimer: unknown;
  const summariseWarnings = (): void => {
    guestErrors.due();
    warnTimer = edge.clock.setTimer(summariseWarnings, WARN_SUMMARY_INTERVAL_MS);
  };
  const periodic = (): void => {
    logCounters(logger, 'debug', daemon, translators);
    countersTimer = edge.clock.setTimer(periodic, COUNTERS_INTERVAL_MS);
  };
  try {
    if (opts.pcap !== undefined) {
      await capture.start({ path: opts.pcap });
      logger.info(`capturing guest frames to ${opts.pcap}`);
    }
    daemon.start();
    if (stream) {
      const s = stream;
      s.on('connect', () => {
        logger.info('guest connected');
        daemon.linkUp();
      });
      s.on('disconnect', (reason) => {
        logger.info(`guest disconnected (${reason})`);
        daemon.linkDown();
      });
      s.on('close', () => stop());
      // An adopted --fd link is connected before these listeners exist.
      if (s.state === 'connected') daemon.linkUp();
    } else if (vhost) {
      vhostEvents(vhost, daemon, logger, stop);
    } else if (tapSwitch?.attached !== false) {
      daemon.linkUp();
    }
    try {
      await translators?.listening;
    } catch (e) {
      if (e instanceof BinderyError && e.code === ErrorCode.Link) throw e; // the fd budget's own
      throw new BinderyError(
        ErrorCode.Link,
        `cannot bind a -t/--tcp-ports or -u/--udp-ports socket: ${(e as Error).message}`,
        { cause: e },
      );
    }
    if (opts.controlPath !== undefined) {
      control = await ControlServer.listen(opts.controlPath, warn, (ctl) =>
        registerControlOps(ctl, {
          opts,
          daemon,
          translators: () => translators,
          logger,
          pid: edge.pid,
          ...(tapSwitch ? { guestLink: tapSwitch } : {}),
          ...(vhost ? { linkCounters: () => vhost?.counters } : {}),
          ...(shards
            ? {
                shards: async () => ({
                  shard0: shard0?.shardCounters,
                  workers: await shards!.reports(),
                }),
              }
            : {}),
          capture,
        }),
      );
    }
    if (opts.metrics !== undefined) {
      const m = await import('./metrics.js');
      const reg = m.translatorRegistry({
        daemon,
        tcp: () => translators?.tcpTranslator.counters,
        udp: () => translators?.udpTranslator.counters,
        ping: () => translators?.pingTranslator.counters,
        capture: () => capture.status(),
      });
      metrics = await m.serveMetrics(opts.metrics, reg);
      logger.info(`metrics at ${metrics.where}`);
    }
    if (opts.stats !== undefined) statsTimer = edge.clock.setTimer(printStats, opts.stats * 1000);
    warnTimer = edge.clock.setTimer(summariseWarnings, WARN_SUMMARY_INTERVAL_MS);
    if (opts.pidFile !== undefined) {
      await writeFile(opts.pidFile, `${edge.pid}\n`);
      wrotePid = true;
    }
    if (logger.isLevelEnabled('debug'))
      countersTimer = edge.clock.setTimer(periodic, COUNTERS_INTERVAL_MS);
    logger.info(`serving ${where}`);
    // Whoever sees the daemon ready finds what it logged so far in the file.
    await dlog.flush();
    if (edge.readyFd !== undefined) {
      try {
        writeSync(edge.readyFd, `ready ${where}\n`);
        closeSync(edge.readyFd);
      } catch {
        // the parent went away: keep serving
      }
    } else if (!opts.quiet) {
      if (vhost) announce(io, where, true);
      else if (stream && opts.fd === undefined) announce(io, where);
      else io.out(`serving ${where}\n`);
    }
    await stopped;
  } finally {
    unregister();
    unregisterCounters();
    if (countersTimer !== undefined) edge.clock.clearTimer(countersTimer);
    if (statsTimer !== undefined) edge.clock.clearTimer(statsTimer);
    if (warnTimer !== undefined) edge.clock.clearTimer(warnTimer);
    clearInterval(keepAlive);
    await control?.close();
    await metrics?.close();
    await capture.stop('shutdown');
    if (shards) {
      const reports = await shards.close();
      logger.info(
        `shards stopped; shard 0 ${JSON.stringify(shard0?.shardCounters)}; workers ${JSON.stringify(reports.map((r) => ({ shard: r.shard, flows: r.flows, link: r.link, rxFrames: r.daemon.rxFrames, txFrames: r.daemon.txFrames, tcp: r.daemon.tcp, udp: r.daemon.udp, ping: r.daemon.ping })))}`,
      );
    }
    await daemon.close();
    if (wrotePid && opts.pidFile !== undefined) await unlink(opts.pidFile).catch(() => {});
    logger.info(`stopped; counters ${JSON.stringify(daemon.counters)}`);
    if (translators)
      logger.info(`tcp counters ${JSON.stringify(translators.tcpTranslator.counters)}`);
  }
  return 0;
}

/** The vhost-user link's life in the log and the daemon (link up while both rings run). */
function vhostEvents(v: VhostUserLink, daemon: PasstDaemon, logger: Logger, stop: () => void) {
  v.on('connect', () => {
    logger.info('guest connected (vhost-user rings running)');
    daemon.linkUp();
  });
  v.on('disconnect', (reason) => {
    logger.info(`guest disconnected (${reason}); counters ${JSON.stringify(v.counters)}`);
    daemon.linkDown();
  });
  v.on('fault', (what) => logger.warn(`vhost-user: ${what}`));
  v.on('close', () => stop());
}

/** Starts this command again detached with -f and waits for it to serve. */
async function detach(opts: PasstOptions, edge: PasstEdge): Promise<number> {
  const out = opts.logFile !== undefined ? openSync(opts.logFile, 'a') : 'ignore';
  const started = startDetached(edge, out);
  if (typeof out === 'number') closeSync(out);
  const { line } = await started;
  if (line.startsWith('ready ')) {
    const where = line.slice('ready '.length);
    if (!opts.quiet) {
      if (opts.tap) edge.io.out(`serving ${where}\n`);
      else announce(edge.io, where, opts.vhostUser);
    }
    return 0;
  }
  const why = line.startsWith('error ') ? line.slice('error '.length) : 'did not start';
  edge.io.err(`bindery: passt: ${why}\n`);
  return 1;
}

/**
 * Runs the daemon with parsed options: detaches (without -f), or serves in this process.
 *
 * @param opts - The parsed options (cli/passt-args.ts).
 * @param edge - The process edge.
 * @returns The exit status: 0 after a clean stop or a successful detach, 1 on failure.
 * @throws UsageError on a bad BINDERY_IMPAIR spec; BinderyError on operational failures in the
 *   foreground (a detached child reports them to its parent instead).
 */
export async function runPasstDaemon(opts: PasstOptions, edge: PasstEdge): Promise<number> {
  // With --fd the connected descriptor belongs to this process: serve it here (a detached
  // child would not inherit it).
  if (!opts.foreground && opts.fd === undefined && edge.readyFd === undefined)
    return detach(opts, edge);
  // A detached child reports its start-up failure to the waiting parent.
  return serveReporting(edge.readyFd, () => serve(opts, edge));
}
