// `--stats DELAY` (passt's option): the translator's event counts as one line, printed at most every DELAY s. Pure formatting.
//
// passt prints, at most every DELAY seconds and only from its event loop (so only when events
// happened), its cumulative count of epoll events per type (tap, TCP, UDP, ICMP, …) as a table
// with a header every 20 lines (passt.c print_stats()). bindery has no epoll types of its own to
// count, so it prints the equivalent per-route event counts of the daemon, cumulative since the
// start, as one self-describing `key=value` line, and only when one of them changed:
//
//   stats: rx=812 tx=790 rx_bytes=1203391 tx_bytes=48102 arp=2 ndp=3 dhcp=4 dhcpv6=2 rs=1 tcp=790 udp=12 ping=0 flows=3 drops=0
import type { PasstCounters } from '../usernet/passt.js';

/** The counts one stats line shows, in order. */
export function statsFields(c: PasstCounters, flows: number): Array<[string, number]> {
  const m = c.malformed;
  return [
    ['rx', c.rxFrames],
    ['tx', c.txFrames],
    ['rx_bytes', c.rxBytes],
    ['tx_bytes', c.txBytes],
    ['arp', c.arp],
    ['ndp', c.ndp],
    ['dhcp', c.dhcp],
    ['dhcpv6', c.dhcpv6],
    ['rs', c.routerSolicits],
    ['tcp', c.tcp],
    ['udp', c.udp],
    ['ping', c.ping],
    ['flows', flows],
    ['drops', m.truncated + m.malformed + m['bad-checksum'] + m.unsupported + c.unhandled],
  ];
}

/**
 * The stats line for the counters now, or undefined when nothing changed since `last` (the
 * line printed before, or undefined at first).
 */
export function statsLine(
  c: PasstCounters,
  flows: number,
  last: string | undefined,
): string | undefined {
  const line = `stats: ${statsFields(c, flows)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ')}`;
  return line === last ? undefined : line;
}
