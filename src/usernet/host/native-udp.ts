// The real UdpHost: flow sockets through the shim's batched calls, listening sockets through node:dgram.
//
// Theory of operation (flow sockets, `connect`; after passt's udp_flow.c, facts-passt §1.4):
// - One epoll set (the shim's TcpPoller) watches every flow socket of the host, level-triggered;
//   it is opened with the first socket and closed with the last, so an idle host holds no
//   handle that keeps the event loop alive.
// - Reading: on readiness a socket is drained with recvmmsg (udpRecvMany) into one buffer of
//   RECV_SLOTS slots of RECV_SLOT bytes that every socket shares (JS is single-threaded and the
//   handlers copy what they keep), up to RECV_ROUNDS calls per event; then `batchEnd` lets the
//   translator hand the whole batch to the guest at once. A datagram cut to its slot (MSG_TRUNC;
//   a slot holds the largest UDP payload, so only an IPv6 jumbogram could be) is reported as an
//   EMSGSIZE error and dropped. Errors of a connected socket (ECONNREFUSED after an ICMP port
//   unreachable) are read like datagrams and go to `error`.
// - Writing: `send` only queues the datagram on its socket; one microtask per turn sends every
//   socket's queue with one sendmmsg (udpSendMany). What the kernel did not take (EAGAIN: its
//   buffer is full) is dropped and reported through `dropped`, as passt drops it.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import type { AllPortsHandlers, AllPortsSocket, UdpHandlers, UdpHost, UdpSocket } from './udp.js';
import { fwdUdpOpen, fwdUdpRecv, fwdUdpSend } from '../../native/fwd.js';
import {
  Errno,
  errnoName,
  openTcpPoller,
  tcpClose,
  TcpWatch,
  type TcpHandle,
  type TcpPoller,
} from '../../native/tcp.js';
import {
  UDP_FLAG_TRUNC,
  UDP_META_WORDS,
  udpRecvMany,
  udpSendMany,
  udpSocket,
} from '../../native/udp.js';

/**
 * Settled once: `.then` on it queues a plain microtask (queueMicrotask makes an AsyncResource
 * and a bound function per call: per request on the UDP round-trip path).
 */
const RESOLVED = Promise.resolve();
/** Bytes per receive slot: the largest UDP payload (IPv6: 65535 − 8) fits. */
const RECV_SLOT = 65536;
/** Datagrams per recvmmsg. */
const RECV_SLOTS = 32;
/** recvmmsg calls per readiness event before the other sockets get their turn. */
const RECV_ROUNDS = 4;

/** One flow socket of the host. */
interface FlowSock {
  readonly id: number;
  readonly sock: TcpHandle;
  readonly family: 4 | 6;
  readonly from: { readonly address: string; readonly port: number; readonly family: 4 | 6 };
  readonly h: UdpHandlers;
  /** Datagrams waiting for this turn's sendmmsg. */
  readonly queue: Uint8Array[];
  queued: boolean;
  closed: boolean;
}

/** The connected flow sockets of one host: one epoll set, one receive buffer, batched sends. */
class FlowSockets {
  private poller: TcpPoller | undefined;
  private readonly socks = new Map<number, FlowSock>();
  private nextId = 1;
  private readonly buf = new Uint8Array(RECV_SLOT * RECV_SLOTS);
  private readonly meta = new Uint32Array(UDP_META_WORDS * RECV_SLOTS);
  private readonly dirty: FlowSock[] = [];
  private flushing = false;
  private readonly flushAll = () => this.flush();

  connect(
    family: 4 | 6,
    addr: string,
    port: number,
    h: UdpHandlers,
    connected: () => void,
  ): UdpSocket {
    let sock: TcpHandle;
    try {
      [sock] = udpSocket(family, undefined, { addr, port });
    } catch (e) {
      const err = e as { errno?: string; message: string };
      queueMicrotask(() =>
        h.error({ message: err.message, ...(err.errno !== undefined ? { code: err.errno } : {}) }),
      );
      return {
        send() {
          throw new Error(`udp socket to ${addr} port ${port} failed: ${err.message}`);
        },
        close() {},
      };
    }
    const f: FlowSock = {
      id: this.nextId++,
      sock,
      family,
      from: { address: addr, port, family },
      h,
      queue: [],
      queued: false,
      closed: false,
    };
    if (this.nextId > 0x7fffffff) this.nextId = 1;
    this.socks.set(f.id, f);
    let failed: string | undefined;
    try {
      const e = this.open().watch(sock, f.id, TcpWatch.In);
      if (e !== 0) failed = `epoll_ctl: ${errnoName(e)}`;
    } catch (e) {
      failed = (e as Error).message; // the epoll set itself could not be made (EMFILE, …)
    }
    if (failed !== undefined) {
      // Never read: fail like a socket that could not be made (sends throw, nothing arrives).
      this.close(f);
      const message = failed;
      queueMicrotask(() => h.error({ message }));
    } else {
      // The connect finished in the call; it is reported after, as the seam promises.
      queueMicrotask(() => {
        if (!f.closed) connected();
      });
    }
    return {
      sendsWithinTurn: true,
      send: (data) => {
        if (f.closed) throw new Error('udp socket closed');
        f.queue.push(data);
        if (f.queued) return;
        f.queued = true;
        this.dirty.push(f);
        if (!this.flushing) {
          this.flushing = true;
          void RESOLVED.then(this.flushAll);
        }
      },
      close: () => this.close(f),
    };
  }

  private open(): TcpPoller {
    if (this.poller !== undefined) return this.poller;
    const p = openTcpPoller();
    p.onError((e) => {
      for (const f of this.socks.values()) f.h.error({ message: e.message });
    });
    p.onEvents((events, count) => {
      for (let i = 0; i < count; i++) {
        const f = this.socks.get(events[2 * i]!);
        if (f !== undefined) this.read(f);
      }
    });
    this.poller = p;
    return p;
  }

  private read(f: FlowSock): void {
    const { buf, meta } = this;
    let got = 0;
    for (let round = 0; round < RECV_ROUNDS && !f.closed; round++) {
      const n = udpRecvMany(f.sock, buf, RECV_SLOT, meta, RECV_SLOTS);
      if (n < 0) {
        if (n === -Errno.EAGAIN) break;
        const code = errnoName(-n);
        f.h.error({ code, message: `recvmmsg: ${code}` });
        continue; // the error was consumed by the read
      }
      for (let i = 0; i < n && !f.closed; i++) {
        const m = i * UDP_META_WORDS;
        if ((meta[m + 1]! & UDP_FLAG_TRUNC) !== 0) {
          f.h.error({ code: 'EMSGSIZE', message: 'datagram longer than the receive slot' });
          continue;
        }
        const off = i * RECV_SLOT;
        f.h.message(buf.subarray(off, off + meta[m]!), f.from);
      }
      got += n;
      if (n < RECV_SLOTS) break;
    }
    if (got > 0 && !f.closed) f.h.batchEnd?.();
  }

  private flush(): void {
    this.flushing = false;
    for (const f of this.dirty.splice(0)) {
      f.queued = false;
      const n = f.queue.length;
      if (f.closed || n === 0) {
        f.queue.length = 0;
        continue;
      }
      const sent = udpSendMany(f.sock, f.queue, n, f.family);
      f.queue.length = 0;
      if (sent < 0) {
        const code = errnoName(-sent);
        f.h.dropped?.(n);
        f.h.error({ code, message: `sendmmsg: ${code}` });
      } else if (sent < n) {
        f.h.dropped?.(n - sent);
      }
    }
  }

  private close(f: FlowSock): void {
    if (f.closed) return;
    f.closed = true;
    f.queue.length = 0;
    this.socks.delete(f.id);
    this.poller?.watch(f.sock, f.id, 0);
    tcpClose(f.sock, false);
    if (this.socks.size === 0 && this.poller !== undefined) {
      this.poller.close();
      this.poller = undefined;
    }
  }
}

/** Datagrams read per readiness event of an all-ports socket before yielding. */
const ALL_PORTS_BATCH = 64;

/** An all-ports socket: the shim's pktinfo UDP socket, watched by its own epoll set. */
function bindAll(family: 4 | 6, port: number, h: AllPortsHandlers): AllPortsSocket {
  const sock = fwdUdpOpen(family, port);
  const poller = openTcpPoller();
  const buf = new Uint8Array(65536);
  let closed = false;
  poller.onError((e) => h.error({ message: e.message }));
  poller.onEvents(() => {
    for (let i = 0; i < ALL_PORTS_BATCH && !closed; i++) {
      const r = fwdUdpRecv(sock, buf);
      if (typeof r === 'number') {
        if (r !== Errno.EAGAIN)
          h.error({ code: errnoName(r), message: `recvmsg: ${errnoName(r)}` });
        return;
      }
      const from = { address: r.srcAddr, port: r.srcPort, family } as const;
      h.message(buf.slice(0, r.len), from, r.dstAddr);
    }
  });
  poller.watch(sock, 1, TcpWatch.In);
  return {
    sendFrom(data, addr, p, src) {
      const e = fwdUdpSend(sock, family, data, addr, p, src);
      if (e !== 0 && e !== Errno.EAGAIN) throw new Error(`sendmsg: ${errnoName(e)}`);
    },
    close() {
      if (closed) return;
      closed = true;
      poller.close();
      tcpClose(sock, false);
    },
  };
}

const fromOf = (r: RemoteInfo) =>
  ({ address: r.address, port: r.port, family: r.family === 'IPv4' ? 4 : 6 }) as const;

function wrap(sock: Socket): UdpSocket {
  return {
    send(data, addr, port) {
      if (addr !== undefined && port !== undefined) sock.send(data, port, addr);
      else sock.send(data);
    },
    close() {
      try {
        sock.close();
      } catch {
        // already closed
      }
    },
  };
}

/** The pod kernel's UDP: flow sockets through the shim, listening sockets through node:dgram. */
export function nativeUdpHost(): UdpHost {
  const flows = new FlowSockets();
  return {
    bindAll,
    connect: (family, addr, port, h, connected) => flows.connect(family, addr, port, h, connected),
    bind(family, addr, port, h: UdpHandlers) {
      const sock = createSocket({ type: family === 4 ? 'udp4' : 'udp6', reuseAddr: false });
      sock.on('message', (msg, r) => h.message(msg, fromOf(r)));
      const bound = new Promise<void>((resolve, reject) => {
        const onErr = (e: Error) => reject(e);
        sock.once('error', onErr);
        sock.bind(port, addr, () => {
          sock.off('error', onErr);
          sock.on('error', (e: NodeJS.ErrnoException) =>
            h.error({ message: e.message, ...(e.code !== undefined ? { code: e.code } : {}) }),
          );
          resolve();
        });
      });
      return { sock: wrap(sock), bound };
    },
  };
}
