// The translator's Prometheus endpoint (--metrics ADDR): prom-client metrics that read the daemon's plain counters at scrape time, served on loopback or a unix socket.
//
// Theory of operation
// ===================
//
// Nothing on the frame path knows about Prometheus: the daemon, the services, the translators
// and the flow table keep plain numbers, and each metric here has a collect() callback that
// copies them into prom-client when `/metrics` is scraped. The registry is our own (never
// prom-client's global default), so two translators in one process, or tests, never share
// metrics. A scrape walks the flow table once (flows by protocol and state, RTT histograms); its
// cost is paid by the scraper, not by the frames.
//
// RTT: per TCP flow, two smoothed RTTs are known — the translator's own measurement toward the
// guest (RFC 6298 on the guest's ACKs) and the kernel's of the host socket (TCP_INFO tcpi_rtt,
// through the shim's tcpInfo call). A per-flow label set would let a busy translator create
// thousands of series, so the endpoint shows their distribution over the live flows as two
// histograms (`side="guest"` and `side="host"`), rebuilt at each scrape; the per-flow values are
// in `bindery flows` (flows.list). UDP and ICMP flows have no RTT.
//
// Addresses: loopback only — `127.x.y.z:PORT`, `[::1]:PORT` — or `unix:PATH` (mode 0600).
import { createServer, type Server } from 'node:http';
import { chmod, lstat, unlink } from 'node:fs/promises';
import {
  Counter,
  Gauge,
  Histogram,
  Registry,
  collectDefaultMetrics,
  type LabelValues,
} from 'prom-client';
import { BinderyError, ErrorCode } from '../errors.js';
import { metricsWhere, type MetricsAddr } from '../usernet/metrics-addr.js';
import type { PasstDaemon } from '../usernet/passt.js';
import type { Flow, FlowDetail } from '../usernet/flow/table.js';
import type { TcpCounters } from '../usernet/flow/tcp/index.js';
import type { UdpCounters } from '../usernet/flow/udp.js';
import type { PingCounters } from '../usernet/flow/icmp.js';
import type { CaptureStatus } from './capture.js';

export { parseMetricsAddr, metricsWhere, type MetricsAddr } from '../usernet/metrics-addr.js';

/** What the metrics read. */
export interface MetricsSources {
  readonly daemon: PasstDaemon;
  /** The translators' counters, once started. */
  tcp(): TcpCounters | undefined;
  udp(): UdpCounters | undefined;
  ping(): PingCounters | undefined;
  /** The capture's status (undefined: none ever ran). */
  capture(): CaptureStatus | undefined;
}

/** RTT histogram buckets, seconds: 50 µs … 5 s. */
const RTT_BUCKETS = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
  5,
];

/** One pass over the flow table, shared by the collect() callbacks of one scrape. */
interface FlowSnapshot {
  byProtoState: Map<string, { protocol: string; state: string; n: number }>;
  rttGuest: number[];
  rttHost: number[];
}

function protocolOf(f: Flow): string {
  return f.type === 'ping4' ? 'icmp' : f.type === 'ping6' ? 'icmpv6' : f.type;
}

function snapshot(d: PasstDaemon): FlowSnapshot {
  const s: FlowSnapshot = { byProtoState: new Map(), rttGuest: [], rttHost: [] };
  for (const f of d.table.all()) {
    const det: FlowDetail = d.table.describe(f);
    const protocol = protocolOf(f);
    const k = `${protocol}|${det.state}`;
    const e = s.byProtoState.get(k);
    if (e) e.n++;
    else s.byProtoState.set(k, { protocol, state: det.state, n: 1 });
    if (det.rttGuestUs !== undefined) s.rttGuest.push(det.rttGuestUs / 1e6);
    if (det.rttHostUs !== undefined) s.rttHost.push(det.rttHostUs / 1e6);
  }
  return s;
}

type Rows = ReadonlyArray<readonly [LabelValues<string>, number]>;

/** One row per (value of `label`, number) pair. */
function labelled(label: string, pairs: ReadonlyArray<readonly [string, number]>): Rows {
  return pairs.map(([value, n]) => [{ [label]: value }, n] as const);
}

/** Rows of a count of the guest link, by direction. */
function byDirection(fromGuest: number, toGuest: number): Rows {
  return labelled('direction', [
    ['from_guest', fromGuest],
    ['to_guest', toGuest],
  ]);
}

/**
 * The translator's registry: every metric reads its source at scrape time.
 *
 * @param src - The daemon and the translators' counters.
 * @param processMetrics - Also prom-client's default process metrics (fds, memory, event loop).
 */
export function translatorRegistry(src: MetricsSources, processMetrics = true): Registry {
  const reg = new Registry();
  let snap: FlowSnapshot | undefined;
  const flows = (): FlowSnapshot => (snap ??= snapshot(src.daemon));
  const counter = (name: string, help: string, labelNames: string[], rows: () => Rows): void => {
    const m: Counter<string> = new Counter({
      name,
      help,
      labelNames,
      registers: [reg],
      collect: () => {
        m.reset();
        for (const [l, v] of rows()) m.inc(l, v);
      },
    });
  };
  const gauge = (name: string, help: string, labelNames: string[], rows: () => Rows): void => {
    const m: Gauge<string> = new Gauge({
      name,
      help,
      labelNames,
      registers: [reg],
      collect: () => {
        m.reset();
        for (const [l, v] of rows()) m.set(l, v);
      },
    });
  };
  const d = src.daemon;
  const c = d.counters;
  counter(
    'bindery_guest_frames_total',
    'Ethernet frames on the guest link, by direction',
    ['direction'],
    () => byDirection(c.rxFrames, c.txFrames),
  );
  counter(
    'bindery_guest_bytes_total',
    'Bytes of the frames on the guest link (Ethernet headers included), by direction',
    ['direction'],
    () => byDirection(c.rxBytes, c.txBytes),
  );
  counter(
    'bindery_guest_events_total',
    'Guest frames by where the daemon dispatched them',
    ['route'],
    () =>
      labelled('route', [
        ['arp', c.arp],
        ['ndp', c.ndp],
        ['echo_gateway', c.echoGateway],
        ['dhcp', c.dhcp],
        ['dhcpv6', c.dhcpv6],
        ['router_solicit', c.routerSolicits],
        ['udp', c.udp],
        ['ping', c.ping],
        ['tcp', c.tcp],
        ['ignored', c.ignored],
      ]),
  );
  counter(
    'bindery_drops_total',
    'Frames, datagrams and segments dropped, by kind',
    ['kind'],
    () => {
      const u = src.udp();
      const p = src.ping();
      const t = src.tcp();
      const m = c.malformed;
      return labelled('kind', [
        ['truncated', m.truncated],
        ['malformed', m.malformed],
        ['bad_checksum', m['bad-checksum']],
        ['unsupported', m.unsupported],
        ['unhandled_protocol', c.unhandled],
        ['link_blocked', c.txBlocked],
        ['exception', c.exceptions],
        ['not_forwardable', (u?.dropNotForwardable ?? 0) + (p?.dropNotForwardable ?? 0)],
        [
          'flow_table_full',
          (u?.dropTableFull ?? 0) + (p?.dropTableFull ?? 0) + (t?.tableFull ?? 0),
        ],
        ['no_guest_mac', (u?.dropNoGuestMac ?? 0) + (p?.dropNoGuestMac ?? 0)],
        ['queue_full', u?.dropPending ?? 0],
        ['send_failed', (u?.dropSend ?? 0) + (p?.dropSend ?? 0)],
        ['no_ping_permission', p?.dropNoPermission ?? 0],
        ['tcp_out_of_window', t?.dropped ?? 0],
        ['capture', src.capture()?.dropped ?? 0],
      ]);
    },
  );
  gauge('bindery_flows', 'Live flows by protocol and state', ['protocol', 'state'], () =>
    [...flows().byProtoState.values()].map(
      (e) => [{ protocol: e.protocol, state: e.state }, e.n] as const,
    ),
  );
  gauge('bindery_flow_table_flows', 'Flows in the flow table', [], () => [[{}, d.table.size]]);
  gauge('bindery_flow_table_capacity', 'Most flows the flow table holds', [], () => [
    [{}, d.table.maxFlows],
  ]);
  counter(
    'bindery_flow_table_events_total',
    'Flows created, closed, expired, and refused because the table was full',
    ['event'],
    () => {
      const t = d.table.counters;
      return labelled('event', [
        ['created', t.created],
        ['closed', t.closed],
        ['expired', t.expired],
        ['full', t.full],
      ]);
    },
  );
  counter(
    'bindery_dhcp_leases_total',
    'Leases given to the guest (DHCP ACKs with an address, DHCPv6 Replies with IA_NA)',
    ['protocol'],
    () =>
      labelled('protocol', [
        ['dhcp', d.serviceCounters.dhcp.leases],
        ['dhcpv6', d.serviceCounters.dhcpv6.leases],
      ]),
  );
  counter(
    'bindery_tcp_connections_total',
    'TCP connections opened, by direction, and guest SYNs refused',
    ['outcome'],
    () => {
      const t = src.tcp();
      return labelled('outcome', [
        ['outbound', t?.outbound ?? 0],
        ['inbound', t?.inbound ?? 0],
        ['refused', t?.refused ?? 0],
      ]);
    },
  );
  counter(
    'bindery_tcp_retransmits_total',
    'TCP segments resent to the guest, by cause',
    ['cause'],
    () => {
      const t = src.tcp();
      return labelled('cause', [
        ['timeout', t?.retransmits ?? 0],
        ['fast', t?.fastRetransmits ?? 0],
      ]);
    },
  );
  const rtt: Histogram<string> = new Histogram({
    name: 'bindery_tcp_rtt_seconds',
    help: "Smoothed RTT of the live TCP flows at scrape time: the translator's own toward the guest (side=guest), the kernel's of the host socket from TCP_INFO (side=host)",
    labelNames: ['side'],
    buckets: RTT_BUCKETS,
    registers: [reg],
    collect: () => {
      rtt.reset();
      const s = flows();
      for (const v of s.rttGuest) rtt.observe({ side: 'guest' }, v);
      for (const v of s.rttHost) rtt.observe({ side: 'host' }, v);
    },
  });
  gauge('bindery_capture_active', 'Whether a packet capture is running', [], () => [
    [{}, src.capture()?.active === true ? 1 : 0],
  ]);
  counter(
    'bindery_capture_frames_total',
    'Frames written by the current (or last) capture',
    [],
    () => [[{}, src.capture()?.frames ?? 0]],
  );
  if (processMetrics) collectDefaultMetrics({ register: reg });
  // Each scrape takes one fresh flow snapshot, shared by the metrics that need it.
  const metrics = reg.metrics.bind(reg);
  reg.metrics = async () => {
    snap = undefined;
    try {
      return await metrics();
    } finally {
      snap = undefined;
    }
  };
  return reg;
}

/** A running metrics endpoint. */
export interface MetricsServer {
  /** Where it listens, for the log. */
  readonly where: string;
  close(): Promise<void>;
}

/**
 * Serves `reg` at `/metrics` on `addr`.
 *
 * @throws BinderyError (Listen) when the address cannot be bound.
 */
export async function serveMetrics(addr: MetricsAddr, reg: Registry): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('see /metrics\n');
      return;
    }
    reg.metrics().then(
      (body) => res.writeHead(200, { 'content-type': reg.contentType }).end(body),
      (e: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${e.message}\n`),
    );
  });
  const where = metricsWhere(addr);
  if (addr.kind === 'unix') {
    try {
      if ((await lstat(addr.path)).isSocket()) await unlink(addr.path);
    } catch {
      // nothing there (a non-socket file makes listen fail below)
    }
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) =>
      reject(new BinderyError(ErrorCode.Listen, `--metrics ${where}: ${e.message}`, { cause: e })),
    );
    if (addr.kind === 'unix') server.listen(addr.path, () => resolve());
    else server.listen(addr.port, addr.host, () => resolve());
  });
  if (addr.kind === 'unix') await chmod(addr.path, 0o600);
  let closing: Promise<void> | undefined;
  return {
    where,
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }).then(async () => {
        if (addr.kind === 'unix') await unlink(addr.path).catch(() => {});
      })),
  };
}
