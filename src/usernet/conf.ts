// `bindery passt` options in passt's own spelling, and the translator configuration derived from them.
//
// parsePasstArgs() is pure: argv in, options or a one-line usage error out. resolveConfig() is
// pure too: options plus HostInfo (read at the edge by hostinfo.ts) give the addresses the guest
// sees, following passt(1) "Default behaviour": the guest gets the address, prefix and gateway
// of the interface with the default route (per family), or -a/-n/-g/-i; with no default route,
// passt's "local mode" addresses (169.254.2.1 guest, 169.254.2.2 gateway, fe80::1).
import { Command, CommanderError, Option } from 'commander';
import { UsageError } from '../errors.js';
import { parseMac, parseIpv4, parseIpv6, type Mac } from '../wire/common.js';
import { parsePortSpec, type PortSpec } from './fwd/portspec.js';
import type { HostInfo } from './hostinfo.js';

/** passt's own MAC as the guest sees it (passt default, -M). */
export const DEFAULT_OUR_MAC = '9a:55:9a:55:9a:55';
/** Default MTU: 65535-byte frame minus Ethernet header, rounded down to a multiple of 4. */
export const DEFAULT_MTU = 65520;

/** Parsed command line of `bindery passt`. */
export interface PasstOptions {
  readonly socketPath: string | undefined;
  readonly fd: number | undefined;
  readonly oneOff: boolean;
  readonly foreground: boolean;
  readonly pidFile: string | undefined;
  readonly logFile: string | undefined;
  readonly debug: boolean;
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
}

const collect = (v: string, prev: string[] | undefined) => [...(prev ?? []), v];

function program(): Command {
  const p = new Command('passt')
    .exitOverride()
    .configureOutput({ writeOut: () => {}, writeErr: () => {} })
    .helpOption(false)
    .allowExcessArguments(false)
    .option('-s, --socket <path>', 'UNIX domain socket path')
    .addOption(new Option('--socket-path <path>').hideHelp())
    .option('-F, --fd <fd>', 'use a pre-opened connected socket (implies --one-off)')
    .option('-1, --one-off', 'quit after the first guest disconnects')
    .option('-f, --foreground', 'do not run in the background')
    .option('-P, --pid <file>', 'write the PID to FILE')
    .option('-l, --log-file <path>', 'log to a file')
    .option('--log-size <bytes>', 'maximum log file size')
    .option('-d, --debug', 'print debugging messages')
    .option('--trace', 'print per-packet messages')
    .option('-q, --quiet', 'only print errors')
    .option('-e, --stderr', 'deprecated, no effect')
    .option('--runas <user>', 'accepted for compatibility; bindery does not switch users')
    .option('-m, --mtu <mtu>', 'MTU for DHCP and NDP (0: do not send)')
    .option('-a, --address <addr>', 'guest address (one per family)', collect)
    .option('-n, --netmask <mask>', 'IPv4 netmask, dotted or prefix length')
    .option('-g, --gateway <addr>', 'gateway to advertise', collect)
    .option('-i, --interface <name>', 'host interface to copy addresses and routes from')
    .option('-M, --mac-addr <mac>', "bindery's own MAC as the guest sees it")
    .option('-D, --dns <addr>', "resolver to advertise ('none' disables)", collect)
    .option('-S, --search <list>', "search domains ('none' disables)", collect)
    .option('-H, --hostname <name>', 'hostname for DHCP option 12')
    .option('--fqdn <name>', 'FQDN for DHCP option 81 and DHCPv6 option 39')
    .option('--no-dhcp', 'disable the DHCP server')
    .option('--no-ndp', 'disable NDP responses')
    .option('--no-dhcpv6', 'disable the DHCPv6 server')
    .option('--no-ra', 'disable router advertisements')
    .option('-4, --ipv4-only', 'IPv4 only')
    .option('-6, --ipv6-only', 'IPv6 only')
    .option('-t, --tcp-ports <spec>', 'forward TCP ports host to guest', collect)
    .option('-u, --udp-ports <spec>', 'forward UDP ports host to guest', collect)
    .option(
      '--map-host-loopback <addr>',
      "guest address that means host loopback ('none' disables)",
    )
    .option('--no-map-gw', 'do not map the gateway to host loopback')
    .option('--tap <name>', 'serve a tap device (with --netns) instead of a stream socket')
    .option('--netns <path>', 'network namespace (name or path) holding the --tap device')
    .option(
      '--no-tap-offload',
      'open the --tap device without checksum/TSO offloads (e.g. to capture correct checksums)',
    );
  return p;
}

type Raw = Record<string, string | string[] | boolean | undefined>;

function str(raw: Raw, k: string): string | undefined {
  const v = raw[k];
  return typeof v === 'string' ? v : undefined;
}

function list(raw: Raw, k: string): string[] {
  const v = raw[k];
  return Array.isArray(v) ? v : [];
}

function int(raw: Raw, k: string, flag: string, min: number, max: number): number | undefined {
  const v = str(raw, k);
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max)
    throw new UsageError(`invalid ${flag} '${v}': expected an integer from ${min} to ${max}`);
  return Number(v);
}

function isIp(s: string): boolean {
  return parseIpv4(s) !== undefined || parseIpv6(s) !== undefined;
}

/** Parses `bindery passt` argv (after "passt"). Throws UsageError (one line) on bad usage. */
export function parsePasstArgs(argv: readonly string[]): PasstOptions {
  const p = program();
  try {
    p.parse([...argv], { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) throw new UsageError(e.message.replace(/^error: /, ''));
    throw e;
  }
  const raw = p.opts<Raw>();
  const mtu = int(raw, 'mtu', '--mtu', 0, 65535) ?? DEFAULT_MTU;
  if (mtu !== 0 && mtu < 68)
    throw new UsageError(`invalid --mtu '${mtu}': below the IPv4 minimum of 68`);
  const addresses = list(raw, 'address');
  for (const a of addresses) {
    const [ip, pfx] = a.split('/');
    if (!ip || !isIp(ip) || (pfx !== undefined && !/^\d{1,3}$/.test(pfx)))
      throw new UsageError(`invalid --address '${a}'`);
  }
  const gateways = list(raw, 'gateway');
  for (const g of gateways) if (!isIp(g)) throw new UsageError(`invalid --gateway '${g}'`);
  const netmask = str(raw, 'netmask');
  if (netmask !== undefined && !/^\d{1,2}$/.test(netmask) && !parseIpv4(netmask))
    throw new UsageError(`invalid --netmask '${netmask}'`);
  const macText = str(raw, 'macAddr') ?? DEFAULT_OUR_MAC;
  const ourMac = parseMac(macText);
  if (!ourMac) throw new UsageError(`invalid --mac-addr '${macText}'`);
  const dnsList = list(raw, 'dns');
  for (const d of dnsList)
    if (d !== 'none' && !isIp(d)) throw new UsageError(`invalid --dns '${d}'`);
  const searchList = list(raw, 'search').flatMap((s) => s.split(/[\s,]+/).filter(Boolean));
  const ports = (k: string, flag: string) =>
    list(raw, k).map((s) => {
      const r = parsePortSpec(s);
      if (!r.ok) throw new UsageError(`${flag}: ${r.error}`);
      return r.spec;
    });
  const fd = int(raw, 'fd', '--fd', 0, 2 ** 31 - 1);
  const mapLo = raw['mapGw'] === false ? 'none' : str(raw, 'mapHostLoopback');
  if (mapLo !== undefined && mapLo !== 'none' && !isIp(mapLo))
    throw new UsageError(`invalid --map-host-loopback '${mapLo}'`);
  const tapName = str(raw, 'tap');
  const netns = str(raw, 'netns');
  if ((tapName === undefined) !== (netns === undefined))
    throw new UsageError('--tap and --netns go together');
  if (tapName !== undefined && str(raw, 'socket') !== undefined)
    throw new UsageError('--tap and --socket cannot be combined');
  if (raw['ipv4Only'] === true && raw['ipv6Only'] === true)
    throw new UsageError('--ipv4-only and --ipv6-only cannot be combined');
  return {
    socketPath: str(raw, 'socket') ?? str(raw, 'socketPath'),
    fd,
    oneOff: raw['oneOff'] === true || fd !== undefined,
    foreground: raw['foreground'] === true,
    pidFile: str(raw, 'pid'),
    logFile: str(raw, 'logFile'),
    debug: raw['debug'] === true || raw['trace'] === true,
    quiet: raw['quiet'] === true,
    mtu,
    addresses,
    netmask,
    gateways,
    iface: str(raw, 'interface'),
    ourMac,
    dns: dnsList.includes('none') ? 'none' : dnsList,
    search: searchList.includes('none') ? 'none' : searchList,
    hostname: str(raw, 'hostname'),
    fqdn: str(raw, 'fqdn'),
    noDhcp: raw['dhcp'] === false,
    noNdp: raw['ndp'] === false,
    noDhcpv6: raw['dhcpv6'] === false,
    noRa: raw['ra'] === false,
    ipv4Only: raw['ipv4Only'] === true,
    ipv6Only: raw['ipv6Only'] === true,
    tcpPorts: ports('tcpPorts', '--tcp-ports'),
    udpPorts: ports('udpPorts', '--udp-ports'),
    mapHostLoopback: mapLo,
    tap: tapName !== undefined && netns !== undefined ? { name: tapName, netns } : undefined,
    tapOffload: raw['tapOffload'] !== false,
  };
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
