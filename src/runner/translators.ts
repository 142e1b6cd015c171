// The real daemon's L4 hooks: the TCP, UDP and ping translators sharing one flow table, with the -t/-u forwards bound.
import { BinderyError, ErrorCode } from '../errors.js';
import type { L4Deps, L4Hooks } from '../usernet/passt.js';
import { TcpTranslator } from '../usernet/flow/tcp/index.js';
import { nativeHost, type HostSockets } from '../usernet/host/index.js';
import { UdpTranslator } from '../usernet/flow/udp.js';
import { PingTranslator } from '../usernet/flow/icmp.js';
import { DEFAULT_EPHEMERAL, type EphemeralRange, type PortSpec } from '../usernet/fwd/portspec.js';
import { planForwards } from '../usernet/fwd/forwards.js';
import { markerCoverage, type FwdMarker } from '../usernet/fwd/redirect.js';

/** The L4 hooks of the real daemon, plus the inbound sockets' bind result. */
export interface FlowTranslators extends L4Hooks {
  /** Settles when every `-t`/`-u` socket is bound; rejects with the first bind error. */
  readonly listening: Promise<void>;
  /** The TCP translator (for counters). */
  readonly tcpTranslator: TcpTranslator;
  /** The UDP and ping translators (for counters and sockets). */
  readonly udpTranslator: UdpTranslator;
  readonly pingTranslator: PingTranslator;
  /**
   * Replaces the -t and -u specs at run time (forwards.* control operations): sockets of
   * forwards that went away close, new ones open, flows already open stay.
   */
  setForwards(tcpPorts: readonly PortSpec[], udpPorts: readonly PortSpec[]): Promise<void>;
}

/** How inbound forwarding is served beyond per-port sockets. */
export interface FwdOptions {
  /** The all-ports rule installed in this namespace (`bindery fwd-rules up`), if any. */
  readonly marker?: FwdMarker;
  /** Raises the soft fd limit to the hard one and returns both (−1: unlimited). */
  readonly raiseNofile?: () => { soft: number; hard: number };
}

/** File descriptors the daemon needs besides its per-port sockets (guest link, flows, log). */
export const FD_RESERVE = 1024;

/**
 * The L4 hooks of the real daemon: flow/tcp/, flow/udp.ts and flow/icmp.ts translators
 * sharing the daemon's flow table, with `-t` and `-u` forwards bound (one socket per port, per
 * bind address).
 *
 * @param deps - What the daemon gives its translators.
 * @param log - Sink for the translators' one-off warnings.
 * @param udpPorts - The `-u` specs (empty: no inbound UDP).
 * @param ephemeral - The host's ephemeral port range ("all" leaves it out).
 * @param tcpPorts - The `-t` specs (empty: no inbound TCP).
 * @param host - The pod's sockets (usernet/host).
 * @returns The hooks.
 */
export function flowTranslators(
  deps: L4Deps,
  log: (msg: string) => void,
  udpPorts: readonly PortSpec[] = [],
  ephemeral: EphemeralRange = DEFAULT_EPHEMERAL,
  tcpPorts: readonly PortSpec[] = [],
  host: HostSockets = nativeHost(),
  fwd: FwdOptions = {},
): FlowTranslators {
  const fdeps = { ...deps, log, host };
  const udp = new UdpTranslator(fdeps);
  const ping = new PingTranslator(fdeps);
  const tcp = new TcpTranslator(fdeps);
  const m = fwd.marker;
  const tcpCovered = m ? markerCoverage(m, 'tcp') : undefined;
  const udpCovered = m ? markerCoverage(m, 'udp') : undefined;
  const apply = async (t: readonly PortSpec[], u: readonly PortSpec[]): Promise<void> => {
    const tp = planForwards(t, ephemeral, tcpCovered);
    const up = planForwards(u, ephemeral, udpCovered);
    const perPort = tp.perPort.size + up.perPort.size;
    if (perPort > 256 && fwd.raiseNofile) {
      const { soft, hard } = fwd.raiseNofile();
      if (soft >= 0 && soft < perPort + FD_RESERVE)
        throw new BinderyError(
          ErrorCode.Link,
          `forwarding ${tp.perPort.size} TCP and ${up.perPort.size} UDP ports needs about ${perPort + FD_RESERVE} file descriptors, but RLIMIT_NOFILE allows ${soft} (hard limit ${hard}): raise the hard limit or install the all-ports rule (bindery fwd-rules up)`,
        );
    }
    tcp.applyForwards(tp, tcpCovered ? m!.tcpPort : undefined);
    await udp.applyForwards(up, udpCovered ? m!.udpPort : undefined);
  };
  const listening = apply(tcpPorts, udpPorts);
  listening.catch(() => {}); // observed by the caller; never an unhandled rejection
  return {
    listening,
    udpTranslator: udp,
    setForwards: apply,
    udp: (family, src, dst, srcPort, dstPort, payload) =>
      udp.fromGuest(family, src, dst, srcPort, dstPort, payload),
    ping: (family, src, dst, ident, seqNo, data) =>
      ping.fromGuest(family, src, dst, ident, seqNo, data),
    tcp: (family, src, dst, seg, payload) => tcp.fromGuest(family, src, dst, seg, payload),
    tcpTranslator: tcp,
    pingTranslator: ping,
    linkDown: () => tcp.linkDown(),
    expire: (now) => {
      udp.expire(now);
      ping.expire(now);
      tcp.expire(now);
    },
    close: async () => {
      udp.close();
      ping.close();
      await tcp.close();
    },
  };
}
