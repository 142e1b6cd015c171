// ICMP/ICMPv6 echo translation between the guest and unprivileged host "ping" sockets.
//
// Theory of operation (after passt's icmp.c, facts-passt §1.5):
// - Flows: one per (family, guest address, echo identifier, destination), kept in the shared
//   FlowTable as 'ping4' / 'ping6', each owning a ping socket from deps.host.ping (optionally
//   in another network namespace, `pingNetns`). The destination goes through nat.ts guestToHost, so
//   pinging the gateway pings the host's loopback.
// - Identifiers: the socket is bound to the guest's identifier when free; otherwise the kernel
//   picks one, and replies get the guest's identifier back. Sequence numbers and data pass as is.
// - Timers: 60 s of no activity (ICMP_ECHO_TIMEOUT); expire(now) closes sockets of expired flows.
// - Replies in the same turn: once the guest's batch is handled (a promise reaction), every socket
//   sent on is read at once (PingSocket.readNow). A reply from a local address is queued by
//   then, so it reaches the guest without another wake-up of the loop; others come as usual.
// - Limits and failures: the table's size bounds flows (full → counted drop). A socket that
//   cannot be opened is a counted drop; EACCES (our group outside net.ipv4.ping_group_range) is
//   also logged once. Nothing from the guest throws.
import type { Flow, FlowSide, FlowType } from './table.js';
import { expireOwned } from './table.js';
import type { FlowDeps } from './deps.js';
import type { PingMessage, PingSocket } from '../host/ping.js';
import { guestToHost } from './nat.js';
import { emitIcmpv4, icmpv4BufferLen, type Icmpv4Echo } from '../../wire/icmpv4.js';
import { emitIcmpv6, icmpv6BufferLen, type Icmpv6EchoRepr } from '../../wire/icmpv6.js';
import { IpProtocol } from '../../wire/ipv4.js';
import { buildIpv4Frame, buildIpv6Frame } from '../../wire/build.js';
import { formatIpv4, formatIpv6, getU16 } from '../../wire/common.js';

/** Idle timeout of a ping flow (passt's ICMP_ECHO_TIMEOUT). */
export const PING_TIMEOUT_MS = 60_000;

/** Ping translator counters. */
export interface PingCounters {
  /** Echo requests sent to a host ping socket. */
  requests: number;
  /** Echo replies delivered to the guest. */
  replies: number;
  flowsOpened: number;
  flowsExpired: number;
  dropNotForwardable: number;
  dropTableFull: number;
  dropNoGuestMac: number;
  /** Opening a ping socket failed with EACCES (ping_group_range). */
  dropNoPermission: number;
  /** Opening a ping socket failed otherwise. */
  dropSocket: number;
  /** Send failed (buffer full or an error such as ENETUNREACH). */
  dropSend: number;
  /** Malformed arguments, or a message from the socket that is not an echo reply. */
  dropMalformed: number;
  socketErrors: number;
}

interface PingState {
  readonly family: 4 | 6;
  readonly sock: PingSocket;
  readonly guestAddr: Uint8Array;
  readonly guestIdent: number;
  readonly remoteAddr: Uint8Array;
  readonly hostAddr: string;
}

/** Dependencies of the ping translator: the flow deps plus where ping sockets are opened. */
export type PingDeps = FlowDeps & {
  /** Network namespace (name or path) to open ping sockets in; default: ours. */
  readonly pingNetns?: string;
};

const RESOLVED = Promise.resolve();

const addrText = (family: 4 | 6, b: Uint8Array) => (family === 4 ? formatIpv4(b) : formatIpv6(b));

/** Translates guest echo requests to host ping sockets and replies back. */
export class PingTranslator {
  /** Counters by outcome. */
  readonly counters: PingCounters = {
    requests: 0,
    replies: 0,
    flowsOpened: 0,
    flowsExpired: 0,
    dropNotForwardable: 0,
    dropTableFull: 0,
    dropNoGuestMac: 0,
    dropNoPermission: 0,
    dropSocket: 0,
    dropSend: 0,
    dropMalformed: 0,
    socketErrors: 0,
  };
  private readonly flows = new Set<Flow<PingState>>();
  private warnedAccess = false;
  private closed = false;
  /** Memory of the echo request being sent (PingSocket.send reads it during the call only). */
  private scratch = new Uint8Array(1500);
  /** Sockets sent on this turn, read once the turn's guest frames are handled. */
  private readonly sent = new Set<PingSocket>();
  private readonly readSentNow = (): void => this.readSent();

  constructor(private readonly deps: PingDeps) {}

  /**
   * An echo request from the guest (already parsed): finds or opens its flow and sends it.
   *
   * @param family - 4 (ICMP) or 6 (ICMPv6)
   * @param src - guest source address (4 or 16 bytes)
   * @param dst - destination address as the guest used it
   * @param ident - the guest's echo identifier
   * @param seqNo - echo sequence number
   * @param data - echo data
   */
  fromGuest(
    family: 4 | 6,
    src: Uint8Array,
    dst: Uint8Array,
    ident: number,
    seqNo: number,
    data: Uint8Array,
  ): void {
    const alen = family === 4 ? 4 : 16;
    if (this.closed || src.length !== alen || dst.length !== alen) {
      this.counters.dropMalformed++;
      return;
    }
    const type: FlowType = family === 4 ? 'ping4' : 'ping6';
    const now = this.deps.now();
    let flow = this.deps.table.lookupBytes<PingState>(type, 'guest', src, ident & 0xffff, dst, 0);
    if (!flow) {
      const guestSide: FlowSide = {
        endpointAddr: addrText(family, src),
        endpointPort: ident & 0xffff,
        ourAddr: addrText(family, dst),
        ourPort: 0,
      };
      flow = this.open(family, type, guestSide, src, dst, ident & 0xffff, now);
      if (!flow) return;
    }
    flow.lastActivityMs = now;
    flow.packetsIn++;
    flow.bytesIn += data.length;
    const st = flow.state;
    // The kernel fills in identifier and checksum; we write the type, sequence and data, in
    // memory reused request after request (the send is one synchronous sendto).
    if (this.scratch.length < 8 + data.length) this.scratch = new Uint8Array(8 + data.length);
    const msg = this.scratch.subarray(0, 8 + data.length);
    msg.fill(0, 0, 8);
    msg[0] = family === 4 ? 8 : 128;
    msg[6] = (seqNo >> 8) & 0xff;
    msg[7] = seqNo & 0xff;
    msg.set(data, 8);
    try {
      if (st.sock.send(st.hostAddr, msg)) {
        this.counters.requests++;
        if (this.sent.size === 0) void RESOLVED.then(this.readSentNow);
        this.sent.add(st.sock);
      } else this.counters.dropSend++;
    } catch {
      this.counters.dropSend++;
    }
  }

  /** Reads every socket sent on this turn: their replies from local addresses are queued. */
  private readSent(): void {
    for (const sock of this.sent) sock.readNow();
    this.sent.clear();
  }

  /**
   * Removes this translator's flows idle past 60 s and closes their sockets.
   *
   * @param nowMs - current time (the daemon's clock)
   */
  expire(nowMs: number): void {
    this.counters.flowsExpired += expireOwned(this.deps.table, this.flows, nowMs, (f) =>
      this.drop(f),
    );
  }

  /** Closes every ping flow (guest link gone, or shutdown). */
  close(): void {
    this.closed = true;
    for (const f of [...this.flows]) {
      this.deps.table.remove(f, 'closed', 'shutdown');
      this.drop(f);
    }
  }

  /** Number of live ping flows of this translator. */
  get size(): number {
    return this.flows.size;
  }

  private open(
    family: 4 | 6,
    type: FlowType,
    guestSide: FlowSide,
    src: Uint8Array,
    dst: Uint8Array,
    ident: number,
    now: number,
  ): Flow<PingState> | undefined {
    const host = guestToHost(this.deps.cfg, this.deps.hostResolvers, family, guestSide.ourAddr, 0);
    if (!host) {
      this.counters.dropNotForwardable++;
      return undefined;
    }
    if (this.deps.table.size >= this.deps.table.maxFlows) {
      this.deps.table.counters.full++;
      this.counters.dropTableFull++;
      return undefined;
    }
    const sock = this.openSocket(family, ident);
    if (!sock) return undefined;
    const hostSide: FlowSide = {
      endpointAddr: host.addr,
      endpointPort: 0,
      ourAddr: '',
      ourPort: sock.ident,
    };
    const state: PingState = {
      family,
      sock,
      guestAddr: src.slice(),
      guestIdent: ident,
      remoteAddr: dst.slice(),
      hostAddr: host.addr,
    };
    const flow = this.deps.table.insert<PingState>(
      type,
      ['guest', 'host'],
      [guestSide, hostSide],
      state,
      now,
      PING_TIMEOUT_MS,
    );
    if (!flow) {
      sock.close();
      this.counters.dropTableFull++;
      return undefined;
    }
    this.flows.add(flow);
    this.counters.flowsOpened++;
    sock.onError(() => this.counters.socketErrors++);
    sock.onMessages((msgs) => this.fromHost(flow, msgs));
    return flow;
  }

  /** Opens a socket bound to `ident`, or to a kernel-chosen identifier when that is taken. */
  private openSocket(family: 4 | 6, ident: number): PingSocket | undefined {
    const netns = this.deps.pingNetns;
    const tryOpen = (id: number) =>
      this.deps.host.ping.open({ family, ident: id, ...(netns !== undefined ? { netns } : {}) });
    try {
      try {
        return tryOpen(ident);
      } catch (e) {
        if (ident === 0 || errnoOf(e) === 'EACCES') throw e;
        return tryOpen(0);
      }
    } catch (e) {
      if (errnoOf(e) === 'EACCES') {
        this.counters.dropNoPermission++;
        if (!this.warnedAccess) {
          this.warnedAccess = true;
          this.deps.log?.(
            'cannot open ICMP echo sockets: net.ipv4.ping_group_range excludes our group; guest pings are dropped',
          );
        }
      } else {
        this.counters.dropSocket++;
      }
      return undefined;
    }
  }

  private fromHost(flow: Flow<PingState>, msgs: readonly PingMessage[]): void {
    if (!this.flows.has(flow)) return;
    const st = flow.state;
    const out: Uint8Array[] = [];
    const guestMac = this.deps.guestMac();
    for (const m of msgs) {
      const replyType = st.family === 4 ? 0 : 129;
      if (m.data.length < 8 || m.data[0] !== replyType || m.data[1] !== 0) {
        this.counters.dropMalformed++;
        continue;
      }
      flow.lastActivityMs = this.deps.now();
      flow.packetsOut++;
      flow.bytesOut += m.data.length - 8;
      if (!guestMac) {
        this.counters.dropNoGuestMac++;
        continue;
      }
      const seqNo = getU16(m.data, 6);
      const data = m.data.slice(8);
      if (st.family === 4) {
        const repr: Icmpv4Echo = { type: 0, ident: st.guestIdent, seqNo, data };
        out.push(
          buildIpv4Frame(
            this.deps.ourMac,
            guestMac,
            { src: st.remoteAddr, dst: st.guestAddr, protocol: IpProtocol.Icmp },
            icmpv4BufferLen(repr),
            (l4) => emitIcmpv4(repr, l4),
          ),
        );
      } else {
        const repr: Icmpv6EchoRepr = { type: 129, ident: st.guestIdent, seqNo, data };
        out.push(
          buildIpv6Frame(
            this.deps.ourMac,
            guestMac,
            { src: st.remoteAddr, dst: st.guestAddr, nextHeader: IpProtocol.Icmpv6 },
            icmpv6BufferLen(repr),
            (l4) => emitIcmpv6(repr, l4, st.remoteAddr, st.guestAddr),
          ),
        );
      }
      this.counters.replies++;
    }
    if (out.length > 0) this.deps.toGuest(out);
  }

  private drop(f: Flow<PingState>): void {
    this.flows.delete(f);
    try {
      f.state.sock.close();
    } catch {
      // already closed
    }
  }
}

function errnoOf(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'errno' in e && typeof e.errno === 'string'
    ? e.errno
    : undefined;
}
