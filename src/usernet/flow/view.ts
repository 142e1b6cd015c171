// The flow table as operators see it (`flows.list`, `bindery flows`): one row per flow, and an ss-like text table. Pure.
import type { Flow, FlowDetail, FlowSide } from './table.js';
import { renderTable } from '../../up/table.js';

/** A protocol as operators name it (`--proto`). */
export type FlowProto = 'tcp' | 'udp' | 'icmp';

/** One flow as `flows.list` returns it (stable JSON; documented in docs/operators.md). */
export interface FlowRow {
  readonly id: number;
  /** tcp, udp, icmp or icmpv6. */
  readonly protocol: 'tcp' | 'udp' | 'icmp' | 'icmpv6';
  /** outbound: the guest started it; inbound: a forwarded host port did. */
  readonly direction: 'outbound' | 'inbound';
  readonly state: string;
  /** The guest's address and port (for ICMP the port is the echo identifier). */
  readonly guest: string;
  /** The peer as the guest sees it (the address and port it sends to). */
  readonly guestPeer: string;
  /** The host-side peer: the remote end of the pod's socket. */
  readonly host: string;
  /** Bytes (payload) and packets from the guest and to the guest. */
  readonly bytesFromGuest: number;
  readonly bytesToGuest: number;
  readonly packetsFromGuest: number;
  readonly packetsToGuest: number;
  /** Milliseconds since the flow was created, and since it last saw traffic. */
  readonly ageMs: number;
  readonly idleMs: number;
  /** Smoothed RTTs in µs where known: the translator's own toward the guest (TCP), the kernel's of the host socket (TCP_INFO). */
  readonly rttGuestUs?: number;
  readonly rttHostUs?: number;
}

/** `addr:port`, IPv6 in brackets. */
export function endpoint(addr: string, port: number): string {
  return addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;
}

function protocolOf(f: Flow): FlowRow['protocol'] {
  if (f.type === 'ping4') return 'icmp';
  if (f.type === 'ping6') return 'icmpv6';
  return f.type;
}

/**
 * One flow as a row.
 *
 * @param f - The flow.
 * @param d - What its owner tells about it (FlowTable.describe).
 * @param nowMs - The clock the table's times are on.
 */
export function flowRow(f: Flow, d: FlowDetail, nowMs: number): FlowRow {
  const gi = f.pif[0] === 'guest' ? 0 : 1;
  const g: FlowSide = f.sides[gi];
  const h: FlowSide = f.sides[1 - gi]!;
  return {
    id: f.id,
    protocol: protocolOf(f),
    direction: gi === 0 ? 'outbound' : 'inbound',
    state: d.state,
    guest: endpoint(g.endpointAddr, g.endpointPort),
    guestPeer: endpoint(g.ourAddr, g.ourPort),
    host: endpoint(h.endpointAddr, h.endpointPort),
    bytesFromGuest: f.bytesIn,
    bytesToGuest: f.bytesOut,
    packetsFromGuest: f.packetsIn,
    packetsToGuest: f.packetsOut,
    ageMs: Math.max(0, Math.round(nowMs - f.createdMs)),
    idleMs: Math.max(0, Math.round(nowMs - f.lastActivityMs)),
    ...(d.rttGuestUs !== undefined ? { rttGuestUs: d.rttGuestUs } : {}),
    ...(d.rttHostUs !== undefined ? { rttHostUs: d.rttHostUs } : {}),
  };
}

/** Whether a row is of protocol `p` (icmp matches ICMP and ICMPv6). */
export function rowIsProto(r: FlowRow, p: FlowProto): boolean {
  return p === 'icmp' ? r.protocol === 'icmp' || r.protocol === 'icmpv6' : r.protocol === p;
}

/** Milliseconds as a short duration: 850ms, 12.3s, 4m05s, 2h07m. */
export function shortDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.floor(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** The text table's columns. */
export const FLOWS_HEADER = [
  'PROTO',
  'DIR',
  'STATE',
  'GUEST',
  'GUEST-PEER',
  'HOST',
  'FROM-GUEST',
  'TO-GUEST',
  'AGE',
  'IDLE',
  'RTT',
] as const;

/**
 * The rows as an ss-like table (bytes are payload bytes; RTT is the host socket's, else the
 * translator's toward the guest, else `-`).
 */
export function formatFlows(rows: readonly FlowRow[]): string {
  const rtt = (r: FlowRow): string => {
    const us = r.rttHostUs ?? r.rttGuestUs;
    return us === undefined ? '-' : `${(us / 1000).toFixed(us < 10_000 ? 2 : 1)}ms`;
  };
  return renderTable(
    FLOWS_HEADER,
    rows.map((r) => [
      r.protocol,
      r.direction === 'outbound' ? 'out' : 'in',
      r.state,
      r.guest,
      r.guestPeer,
      r.host,
      String(r.bytesFromGuest),
      String(r.bytesToGuest),
      shortDuration(r.ageMs),
      shortDuration(r.idleMs),
      rtt(r),
    ]),
  );
}
