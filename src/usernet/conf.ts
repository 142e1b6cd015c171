// The translator's options (passt's vocabulary, already parsed) and the configuration resolved from them.
//
// resolveConfig() is pure: options plus HostInfo (read at the edge by hostinfo.ts) give the
// addresses the guest sees, following passt(1) "Default behaviour": the guest gets the address,
// prefix and gateway of the interface with the default route (per family), or -a/-n/-g/-i; with
// no default route, passt's "local mode" addresses (169.254.2.1 guest, 169.254.2.2 gateway,
// fe80::1). The argv grammar that produces PasstOptions lives with the CLI (cli/passt-args.ts).
import { parseIpv4, parseIpv6, type Mac } from '../wire/common.js';
import type { PortSpec } from './fwd/portspec.js';
import type { HostInfo } from './hostinfo.js';
import type { MetricsAddr } from './metrics-addr.js';

/** passt's own MAC as the guest sees it (passt default, -M). */
export const DEFAULT_OUR_MAC = '9a:55:9a:55:9a:55';
/** Default MTU: 65535-byte frame minus Ethernet header, rounded down to a multiple of 4. */
export const DEFAULT_MTU = 65520;

/** The options of `bindery passt` (parsed from argv by cli/passt-args.ts). */
export interface PasstOptions {
  readonly socketPath: string | undefined;
  readonly fd: number | undefined;
  readonly oneOff: boolean;
  readonly foreground: boolean;
  readonly pidFile: string | undefined;
  /** `-c/--conf-path`: the control socket's path (runner/control.ts); undefined: none. */
  readonly controlPath: string | undefined;
  /** `--repair-path`: the repair helper's socket (TCP flow hand-over, runner/migrate-ops.ts). */
  readonly repairPath?: string | undefined;
  /** `--migrate-target`: do not attach the --tap until migrate.import (runner/migrate-ops.ts). */
  readonly migrateTarget?: boolean;
  readonly logFile: string | undefined;
  /** `--log-size`: the log file's size cap in bytes (undefined: the default, 1 MiB). */
  readonly logSize: number | undefined;
  /** `-d/--debug` (also set by `--trace`). */
  readonly debug: boolean;
  /** `--trace`: per-packet messages (implies debug). */
  readonly trace: boolean;
  /** `-q/--quiet`: errors only. */
  readonly quiet: boolean;
  readonly mtu: number;
  readonly addresses: readonly string[];
  readonly netmask: string | undefined;
  readonly gateways: readonly string[];
  readonly iface: string | undefined;
  readonly ourMac: Mac;
  /** Resolvers to advertise; 'none' disables; empty means "from resolv.conf". */
  readonly dns: readonly string[] | 'none';
  readonly search: readonly string[] | 'none';
  readonly hostname: string | undefined;
  readonly fqdn: string | undefined;
  readonly noDhcp: boolean;
  readonly noNdp: boolean;
  readonly noDhcpv6: boolean;
  readonly noRa: boolean;
  readonly ipv4Only: boolean;
  readonly ipv6Only: boolean;
  readonly tcpPorts: readonly PortSpec[];
  readonly udpPorts: readonly PortSpec[];
  /** Guest-side address meaning "host loopback"; 'none' disables; undefined = the gateway. */
  readonly mapHostLoopback: string | 'none' | undefined;
  /** `--tap NAME --netns PATH`: serve a tap device in a namespace instead of a stream socket. */
  readonly tap: { readonly name: string; readonly netns: string } | undefined;
  /** `--no-tap-offload`: open the tap without checksum/TSO offloads (full checksums both ways). */
  readonly tapOffload: boolean;
  /** `--vhost-user`: serve QEMU's vhost-user on the socket instead of a stream (link/vhost-user). */
  readonly vhostUser?: boolean;
  /** `-p/--pcap FILE`: capture every guest frame from the start (runner/capture.ts). */
  readonly pcap?: string | undefined;
  /** `--metrics ADDR`: serve Prometheus metrics there (runner/metrics.ts); off when undefined. */
  readonly metrics?: MetricsAddr | undefined;
  /** `--stats DELAY`: print the event counts at most every DELAY seconds (runner/stats.ts). */
  readonly stats?: number | undefined;
  /**
   * `--threads N` (tap only): translator shards, one per thread, each reading its own queue of a
   * multiqueue tap (runner/shards.ts); 1 (the default) is the single-threaded daemon.
   */
  readonly threads?: number;
}

/** The addresses of one family as the guest sees them. */
export interface FamilyConfig {
  /** The guest's address (the pod's own, by default). */
  readonly guestAddr: string;
  readonly prefixLen: number;
  /** The gateway the guest routes through; also our own address on the link. */
  readonly gateway: string;
  /** Guest address that means "host loopback" (default: the gateway), or undefined for none. */
  readonly mapHostLoopback: string | undefined;
  /** Host interface the addresses came from, if any. */
  readonly hostIface: string | undefined;
}

/** The translator's resolved configuration. */
export interface PasstConfig {
  readonly v4: FamilyConfig | undefined;
  readonly v6: FamilyConfig | undefined;
  readonly mtu: number;
  readonly ourMac: Mac;
  readonly nameservers: readonly string[];
  readonly search: readonly string[];
}

function prefixFromNetmask(mask: string): number {
  if (/^\d{1,2}$/.test(mask)) return Math.min(32, Number(mask));
  const b = parseIpv4(mask)!;
  let n = 0;
  for (const byte of b) n += byte.toString(2).replace(/0/g, '').length;
  return n;
}

function family(fam: 4 | 6, opts: PasstOptions, host: HostInfo): FamilyConfig | undefined {
  const routes = fam === 4 ? host.routes4 : host.routes6;
  const route = opts.iface ? routes.find((r) => r.iface === opts.iface) : routes[0];
  const hostIface = opts.iface ?? route?.iface;
  const explicit = opts.addresses.find((a) =>
    fam === 4 ? parseIpv4(a.split('/')[0]!) : parseIpv6(a.split('/')[0]!),
  );
  const hostAddr = (host.addrs.get(hostIface ?? '') ?? []).find(
    (a) => a.family === fam && !a.linkLocal,
  );
  const gwExplicit = opts.gateways.find((g) => (fam === 4 ? parseIpv4(g) : parseIpv6(g)));
  let guestAddr: string;
  let prefixLen: number;
  if (explicit) {
    const [ip, pfx] = explicit.split('/');
    guestAddr = ip!;
    prefixLen =
      fam === 6
        ? 64
        : pfx !== undefined
          ? Number(pfx)
          : opts.netmask
            ? prefixFromNetmask(opts.netmask)
            : (hostAddr?.prefixLen ?? 24);
  } else if (hostAddr) {
    guestAddr = hostAddr.address;
    prefixLen =
      fam === 6 ? 64 : opts.netmask ? prefixFromNetmask(opts.netmask) : hostAddr.prefixLen;
  } else if (fam === 4) {
    // passt's local mode for disconnected hosts
    guestAddr = '169.254.2.1';
    prefixLen = 16;
  } else {
    return undefined;
  }
  const gateway = gwExplicit ?? route?.gateway ?? (fam === 4 ? '169.254.2.2' : 'fe80::1');
  const mapHostLoopback =
    opts.mapHostLoopback === 'none'
      ? undefined
      : opts.mapHostLoopback !== undefined
        ? (fam === 4 ? parseIpv4(opts.mapHostLoopback) : parseIpv6(opts.mapHostLoopback))
          ? opts.mapHostLoopback
          : gateway
        : gateway;
  return { guestAddr, prefixLen, gateway, mapHostLoopback, hostIface };
}

/**
 * Derives what the guest sees from the options and the host facts. Loopback resolvers (and
 * resolvers equal to the mapped gateway) are advertised as the host-loopback address, as passt
 * does, so DNS traffic to them can be forwarded to the host resolver.
 */
export function resolveConfig(opts: PasstOptions, host: HostInfo): PasstConfig {
  const v4 = opts.ipv6Only ? undefined : family(4, opts, host);
  const v6 = opts.ipv4Only ? undefined : family(6, opts, host);
  let nameservers: string[] = [];
  if (opts.dns !== 'none') {
    const source = opts.dns.length > 0 ? opts.dns : host.nameservers;
    for (const ns of source) {
      const loop = ns.startsWith('127.') || ns === '::1';
      const mapped = loop ? (parseIpv4(ns) ? v4?.mapHostLoopback : v6?.mapHostLoopback) : ns;
      if (mapped !== undefined && !nameservers.includes(mapped)) nameservers.push(mapped);
    }
    if (opts.ipv4Only) nameservers = nameservers.filter((n) => parseIpv4(n));
    if (opts.ipv6Only) nameservers = nameservers.filter((n) => parseIpv6(n));
  }
  const search = opts.search === 'none' ? [] : opts.search.length > 0 ? opts.search : host.search;
  return { v4, v6, mtu: opts.mtu, ourMac: opts.ourMac, nameservers, search };
}
