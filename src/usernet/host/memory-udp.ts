// The UDP part of the in-memory kernel (memory.ts): a UdpHost whose peers are endpoints the test makes.
//
// Model. One port space per address holds the translator's sockets and the test's endpoints
// (endpoint(), echo()). A datagram sent by either crosses on the next flush: it reaches the socket
// bound to its destination (exact address, else the family's wildcard, else '::' for IPv4, which
// then reports the sender as '::ffff:a.b.c.d'); a connected socket takes datagrams only from its
// peer. When nothing is bound there, a connected sender gets ECONNREFUSED on the following
// flush (the ICMP port unreachable of a real kernel); an unconnected one hears nothing. Connects
// finish on the next flush; binds settle at once (EADDRINUSE when the port is taken).
//
// A sent buffer is read only when its datagram crosses (as node:dgram may), so callers must
// not reuse it before the next flush.
//
// Limits: no buffers (nothing is dropped for space), no MTU, sources of connected sockets are
// the family's loopback.
import type { UdpFrom, UdpHandlers, UdpHost, UdpSocket } from './udp.js';
import {
  addrMatches,
  addrsOverlap,
  errnoError,
  familyOf,
  loopback,
  type MemoryKernel,
} from './memory-kernel.js';

/** A datagram as an endpoint got it. */
export interface UdpDatagram {
  readonly data: Uint8Array;
  readonly from: UdpFrom;
}

/** A UDP socket of the host driven by the test. */
export interface UdpEndpoint {
  readonly addr: string;
  readonly port: number;
  /** Every datagram received, in order. */
  readonly received: UdpDatagram[];
  /** Sends a datagram (it crosses on the next flush). */
  send(data: Uint8Array | string, addr: string, port: number): void;
  /** Closes the endpoint: datagrams to it are refused after. */
  close(): void;
}

interface Bound {
  readonly family: 4 | 6;
  readonly addr: string;
  readonly port: number;
  /** A connected socket's peer (datagrams from elsewhere are not taken). */
  peer: { addr: string; port: number } | undefined;
  closed: boolean;
  take(data: Uint8Array, from: UdpFrom): void;
}

/** A UdpHost in memory, with the test's endpoints and counters. */
export class MemoryUdp implements UdpHost {
  private readonly bound = new Set<Bound>();
  private nextPort = 33_000;
  /** Datagrams that found no socket. */
  unreachable = 0;
  /** Sockets of the translator made and not closed. */
  openSockets = 0;

  constructor(readonly kernel: MemoryKernel) {}

  /** A host endpoint on (addr, port) (0: ephemeral); `onMessage` may answer. */
  endpoint(
    addr: string,
    port = 0,
    onMessage?: (d: UdpDatagram, ep: UdpEndpoint) => void,
  ): UdpEndpoint {
    const p = port === 0 ? this.nextPort++ : port;
    this.checkFree(addr, p);
    const received: UdpDatagram[] = [];
    const b: Bound = {
      family: familyOf(addr),
      addr,
      port: p,
      peer: undefined,
      closed: false,
      take: (data, from) => {
        const d = { data, from };
        received.push(d);
        onMessage?.(d, ep);
      },
    };
    const ep: UdpEndpoint = {
      addr,
      port: p,
      received,
      send: (data, to, toPort) =>
        this.route(b, typeof data === 'string' ? Buffer.from(data) : data.slice(), to, toPort),
      close: () => {
        b.closed = true;
        this.bound.delete(b);
      },
    };
    this.bound.add(b);
    return ep;
  }

  /** An endpoint that sends every datagram back, except those `silent` picks. */
  echo(addr: string, port = 0, silent: (d: Uint8Array) => boolean = () => false): UdpEndpoint {
    return this.endpoint(addr, port, (d, ep) => {
      if (!silent(d.data)) ep.send(d.data, d.from.address, d.from.port);
    });
  }

  connect(
    family: 4 | 6,
    addr: string,
    port: number,
    h: UdpHandlers,
    connected: () => void,
  ): UdpSocket {
    const b = this.socket(family, loopback(family), this.nextPort++, h);
    b.peer = { addr, port };
    this.kernel.post(() => {
      if (!b.closed) connected();
    });
    return this.api(b, h);
  }

  bind(
    family: 4 | 6,
    addr: string,
    port: number,
    h: UdpHandlers,
  ): { sock: UdpSocket; bound: Promise<void> } {
    const p = port === 0 ? this.nextPort++ : port;
    try {
      this.checkFree(addr, p);
    } catch (e) {
      const dead = this.socket(family, addr, p, h);
      dead.closed = true;
      this.bound.delete(dead);
      this.openSockets--;
      return { sock: this.api(dead, h), bound: Promise.reject(e as Error) };
    }
    const b = this.socket(family, addr, p, h);
    return { sock: this.api(b, h), bound: Promise.resolve() };
  }

  private socket(family: 4 | 6, addr: string, port: number, h: UdpHandlers): Bound {
    const b: Bound = {
      family,
      addr,
      port,
      peer: undefined,
      closed: false,
      take: (data, from) => h.message(data, from),
    };
    this.bound.add(b);
    this.openSockets++;
    return b;
  }

  private api(b: Bound, h: UdpHandlers): UdpSocket {
    return {
      send: (data, addr, port) => {
        if (b.closed) throw errnoError('EBADF', 'send', `${b.addr}:${b.port}`);
        const to = addr !== undefined && port !== undefined ? { addr, port } : b.peer;
        if (!to) throw errnoError('EDESTADDRREQ', 'send', `${b.addr}:${b.port}`);
        // Like node:dgram, the buffer is read when the datagram leaves (the next flush).
        this.route(b, data, to.addr, to.port, h);
      },
      close: () => {
        if (b.closed) return;
        b.closed = true;
        this.bound.delete(b);
        this.openSockets--;
      },
    };
  }

  /** Carries a datagram on the next flush; a refused connected sender hears of it one later. */
  private route(src: Bound, data: Uint8Array, addr: string, port: number, h?: UdpHandlers): void {
    // A dual-stack socket reaches IPv4 peers through their IPv4-mapped addresses.
    if (addr.startsWith('::ffff:') && addr.includes('.')) addr = addr.slice(7);
    this.kernel.post(() => {
      data = data.slice();
      const fam = familyOf(addr);
      const cands = [...this.bound].filter(
        (b) =>
          !b.closed &&
          b.port === port &&
          addrMatches(b.addr, addr) &&
          (b.family === fam || b.addr === '::'),
      );
      const exact =
        cands.find((b) => b.addr === addr) ?? cands.find((b) => b.family === fam) ?? cands[0];
      const srcAddr = src.addr === '0.0.0.0' || src.addr === '::' ? loopback(fam) : src.addr;
      if (!exact) {
        this.unreachable++;
        if (src.peer && h) {
          this.kernel.post(() => {
            if (!src.closed)
              h.error({ code: 'ECONNREFUSED', message: `recv ECONNREFUSED ${addr}:${port}` });
          });
        }
        return;
      }
      if (exact.peer && (exact.peer.addr !== srcAddr || exact.peer.port !== src.port)) return;
      const mapped = exact.family === 6 && familyOf(srcAddr) === 4;
      exact.take(data, {
        address: mapped ? `::ffff:${srcAddr}` : srcAddr,
        port: src.port,
        family: mapped ? 6 : familyOf(srcAddr),
      });
    });
  }

  private checkFree(addr: string, port: number): void {
    for (const b of this.bound)
      if (!b.closed && b.port === port && addrsOverlap(b.addr, addr))
        throw errnoError('EADDRINUSE', 'bind', `${addr}:${port}`);
  }
}
