// passt's command-line grammar for `bindery passt`: argv in, PasstOptions or a one-line usage error out.
//
// Pure (no process state): the spellings are passt(1)'s and libvirt's/KubeVirt's (long and short
// options, repeats for -a/-g/-D/-S/-t/-u); bindery's own additions are --tap/--netns and
// --no-tap-offload and --threads. Values are checked here so bad usage stops before anything starts (exit 2).
import { Command, CommanderError, Option } from 'commander';
import { UsageError } from '../errors.js';
import { parseMac, parseIpv4, parseIpv6 } from '../wire/common.js';
import { parsePortSpec } from '../usernet/fwd/portspec.js';
import { parseMetricsAddr } from '../usernet/metrics-addr.js';
import { DEFAULT_MTU, DEFAULT_OUR_MAC, type PasstOptions } from '../usernet/conf.js';

/** Most `--threads` accepted (the kernel's tap takes up to 256 queues; more than cores is waste). */
export const MAX_THREADS = 64;

/** Smallest `--log-size` accepted (passt refuses sizes too small to rotate in). */
export const MIN_LOG_SIZE = 4096;

const collect = (v: string, prev: string[] | undefined) => [...(prev ?? []), v];

function program(): Command {
  const p = new Command('passt')
    .exitOverride()
    .configureOutput({ writeOut: () => {}, writeErr: () => {} })
    .helpOption(false)
    .allowExcessArguments(false)
    .option('-s, --socket <path>', 'UNIX domain socket path')
    .addOption(new Option('--socket-path <path>').hideHelp())
    .option('--vhost-user', 'be a vhost-user back-end on --socket (QEMU -netdev vhost-user)')
    .option('--print-capabilities', 'print the vhost-user back-end capabilities (JSON) and exit')
    .option('-F, --fd <fd>', 'use a pre-opened connected socket (implies --one-off)')
    .option('-1, --one-off', 'quit after the first guest disconnects')
    .option('-f, --foreground', 'do not run in the background')
    .option('-P, --pid <file>', 'write the PID to FILE')
    .option('-c, --conf-path <path>', 'serve the control socket (bindery forwards/flows) at PATH')
    .option('--repair-path <path>', 'the repair helper socket for TCP flow hand-over')
    .option('--migrate-target', 'attach the --tap only when migrate.import has restored the flows')
    .option('-p, --pcap <file>', 'capture every guest frame both ways to FILE (pcap)')
    .option(
      '--metrics <addr>',
      'serve Prometheus /metrics on 127.0.0.1:PORT, [::1]:PORT or unix:PATH',
    )
    .option('--stats <delay>', 'print event statistics at most every DELAY seconds')
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
    )
    .option(
      '--threads <n>',
      'translator threads, each with its own queue of the --tap (default 1)',
    );
  return p;
}

/** `bindery passt --help`: the options, one a line. */
export function passtHelp(): string {
  return program().helpOption('-h, --help', 'show this help').helpInformation();
}

/** What `--print-capabilities` prints: the vhost-user back-end convention's JSON (as passt). */
export const VHOST_USER_CAPABILITIES = '{\n  "type": "net"\n}\n';

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
  const logSize = int(raw, 'logSize', '--log-size', MIN_LOG_SIZE, Number.MAX_SAFE_INTEGER);
  if (raw['trace'] === true && raw['quiet'] === true)
    throw new UsageError('--trace and --quiet cannot be combined');
  const mapLo = raw['mapGw'] === false ? 'none' : str(raw, 'mapHostLoopback');
  if (mapLo !== undefined && mapLo !== 'none' && !isIp(mapLo))
    throw new UsageError(`invalid --map-host-loopback '${mapLo}'`);
  const tapName = str(raw, 'tap');
  const netns = str(raw, 'netns');
  if ((tapName === undefined) !== (netns === undefined))
    throw new UsageError('--tap and --netns go together');
  if (tapName !== undefined && str(raw, 'socket') !== undefined)
    throw new UsageError('--tap and --socket cannot be combined');
  const vhostUser = raw['vhostUser'] === true;
  if (vhostUser && (tapName !== undefined || fd !== undefined))
    throw new UsageError('--vhost-user cannot be combined with --tap or --fd');
  if (raw['ipv4Only'] === true && raw['ipv6Only'] === true)
    throw new UsageError('--ipv4-only and --ipv6-only cannot be combined');
  const metricsText = str(raw, 'metrics');
  const metrics = metricsText !== undefined ? parseMetricsAddr(metricsText) : undefined;
  if (typeof metrics === 'string') throw new UsageError(metrics);
  const stats = int(raw, 'stats', '--stats', 1, 86_400);
  const threads = int(raw, 'threads', '--threads', 1, MAX_THREADS) ?? 1;
  if (threads > 1 && tapName === undefined)
    throw new UsageError('--threads above 1 needs --tap (a multiqueue tap: one queue per thread)');
  if (threads > 1 && raw['migrateTarget'] === true)
    throw new UsageError('--threads above 1 cannot be combined with --migrate-target');
  return {
    socketPath: str(raw, 'socket') ?? str(raw, 'socketPath'),
    fd,
    oneOff: raw['oneOff'] === true || fd !== undefined,
    foreground: raw['foreground'] === true,
    pidFile: str(raw, 'pid'),
    controlPath: str(raw, 'confPath'),
    repairPath: str(raw, 'repairPath'),
    migrateTarget: raw['migrateTarget'] === true,
    logFile: str(raw, 'logFile'),
    logSize,
    debug: raw['debug'] === true || raw['trace'] === true,
    trace: raw['trace'] === true,
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
    vhostUser,
    pcap: str(raw, 'pcap'),
    metrics,
    stats,
    threads,
  };
}
