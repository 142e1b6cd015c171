// The TCP part of the in-memory kernel (memory.ts): a TcpHost whose peers are scripted by the test.
//
// Model. A translator socket is a MemSock: a receive queue (bytes a peer wrote, peeked at an
// offset and consumed from its head exactly as TcpHost documents), a send side that hands bytes
// to the scripted peer at once (while the peer is paused, bounded by sendBuffer less what it has
// not read), a pending socket error, and the pollers that watch it. The other end of every
// connection is a TcpPeer the test drives: write, end (FIN after the written bytes), reset,
// pause/read (to fill the send buffer); it records what it received, whether it saw our FIN or
// our reset.
// Servers (server()) are what the translator's outbound connects reach: a connect finishes on the
// next flush (EINPROGRESS, then Out), or is refused (ECONNREFUSED as SO_ERROR, Err|Hup) when no
// server listens there. dial() is a host client connecting to one of the translator's listening
// sockets (-t forwards); it waits in the accept queue.
//
// Readiness is epoll's: any change to a socket (data, FIN, reset, room, connect) wakes it; on the
// next flush every poller watching it gets its current readiness masked by interest (plus Err and
// Hup) once per wake-up (edge-triggered), or on every flush while ready (level-triggered, as the
// translator watches listeners). Watching a socket wakes it, like EPOLL_CTL_ADD.
//
// Limits: one loopback-like host: peers' addresses are the loopback of the family unless given;
// no timers (no keepalive, no SYN timeouts), no MSS, no urgent data; closing a socket with unread
// data resets the peer (as Linux, RFC 2525 §2.17).
import { constants } from 'node:os';
import {
  Errno,
  TcpEvent,
  TcpWatch,
  type Accepted,
  type TcpHost,
  type TcpPoller,
  type TcpSock,
} from './tcp.js';
import {
  addrMatches,
  addrsOverlap,
  errnoError,
  familyOf,
  loopback,
  type MemoryKernel,
} from './memory-kernel.js';

const ENOTCONN = constants.errno.ENOTCONN;
const EINVAL = constants.errno.EINVAL;
const EISCONN = constants.errno.EISCONN;

/** A growable byte queue. */
class Bytes {
  private buf = new Uint8Array(1024);
  private start = 0;
  private end = 0;

  get length(): number {
    return this.end - this.start;
  }

  append(d: Uint8Array): void {
    if (this.end + d.length > this.buf.length) {
      const len = this.length;
      const next =
        len + d.length > this.buf.length / 2
          ? new Uint8Array(Math.max(this.buf.length * 2, len + d.length))
          : this.buf;
      next.set(this.buf.subarray(this.start, this.end), 0);
      this.buf = next;
      this.start = 0;
      this.end = len;
    }
    this.buf.set(d, this.end);
    this.end += d.length;
  }

  /** The bytes [from, from + n) past the head (a view, valid until the next change). */
  view(from: number, n: number): Uint8Array {
    return this.buf.subarray(this.start + from, this.start + from + n);
  }

  drop(n: number): void {
    this.start += n;
    if (this.start === this.end) this.start = this.end = 0;
  }

  take(n: number): Uint8Array {
    const out = this.view(0, n).slice();
    this.drop(n);
    return out;
  }
}

/** Options of the TCP part. */
export interface MemoryTcpOptions {
  /** Bytes a peer may leave unread before the translator's sends are cut short (default 1 MiB). */
  readonly sendBuffer?: number;
  /** Bytes a translator socket's receive queue holds; peers' writes wait beyond (default 1 MiB). */
  readonly receiveBuffer?: number;
}

type PeerEvent = 'data' | 'end' | 'reset';

/** The host end of a connection, driven by the test. */
export interface TcpPeer {
  /** The peer's own address and port. */
  readonly addr: string;
  readonly port: number;
  /** The address and port it is connected to. */
  readonly remoteAddr: string;
  readonly remotePort: number;
  /** Sends bytes to the translator's socket (they wait while its receive queue is full). */
  write(data: Uint8Array | string): void;
  /** Ends the peer's write side: a FIN after the bytes written. */
  end(): void;
  /** Aborts the connection: the translator's socket gets ECONNRESET. */
  reset(): void;
  /** Stops reading: the translator's sends fill the send buffer (sendBuffer) and are cut short. */
  pause(): void;
  /** Reads everything unread (room for the translator again). */
  resume(): void;
  /** Reads up to n unread bytes; returns how many. */
  read(n?: number): number;
  /** Every byte received from the translator so far (read or not). */
  readonly received: Uint8Array;
  /** `received` as UTF-8. */
  text(): string;
  /** Bytes received and not read yet (only grows while paused). */
  readonly unread: number;
  /** Bytes written that still wait for room in the translator's receive queue. */
  readonly heldBack: number;
  /** The translator ended its write side (FIN). */
  readonly ended: boolean;
  /** The translator reset the connection. */
  readonly wasReset: boolean;
  /** The connection is gone (closed by the translator, or reset by either side). */
  readonly closed: boolean;
  /** Calls `cb` on a later flush when data arrives, the translator's FIN, or its reset. */
  on(ev: PeerEvent, cb: (data?: Uint8Array) => void): void;
}

/** A host server the translator's connects reach. */
export interface TcpServer {
  readonly addr: string;
  readonly port: number;
  /** Connections in the order they were made. */
  readonly conns: TcpPeer[];
  /** Stops listening (connects are refused after); connections stay. */
  close(): void;
}

interface Watch {
  id: number;
  mask: number;
}

class MemSock {
  state: 'idle' | 'connecting' | 'open' | 'listening' | 'closed' = 'idle';
  readonly rx = new Bytes();
  rxEof = false;
  peekOff = 0;
  err = 0;
  /** Reset or refused: no more traffic. */
  dead = false;
  shutWr = false;
  peer: Peer | undefined;
  blockedWrite = false;
  readonly acceptQ: Accepted[] = [];
  addr = '';
  port = 0;
  readonly watchers = new Set<MemPoller>();

  constructor(
    readonly family: 4 | 6,
    readonly sendBuffer: number,
    readonly receiveBuffer: number,
  ) {}

  readiness(): number {
    if (this.state === 'listening') return this.acceptQ.length > 0 ? TcpEvent.In : 0;
    if (this.state !== 'open') return 0;
    let m = 0;
    if (this.rx.length > 0 || this.rxEof || this.dead) m |= TcpEvent.In;
    if (this.rxEof || this.dead) m |= TcpEvent.RdHup;
    if (this.err !== 0) m |= TcpEvent.Err;
    if (this.dead || (this.rxEof && this.shutWr)) m |= TcpEvent.Hup;
    if (this.dead || (!this.shutWr && this.room() > 0)) m |= TcpEvent.Out;
    return m;
  }

  /** What a send may hand the peer now: unlimited while it reads as bytes come. */
  room(): number {
    if (!this.peer) return 0;
    return this.peer.paused ? this.sendBuffer - this.peer.unread : Infinity;
  }
}

class Peer implements TcpPeer {
  private readonly outq = new Bytes();
  private finQueued = false;
  private readonly chunks: Uint8Array[] = [];
  private total = 0;
  paused = false;
  unread = 0;
  ended = false;
  wasReset = false;
  closed = false;
  private readonly handlers = new Map<PeerEvent, ((d?: Uint8Array) => void)[]>();

  constructor(
    private readonly tcp: MemoryTcp,
    readonly sock: MemSock,
    readonly addr: string,
    readonly port: number,
    readonly remoteAddr: string,
    readonly remotePort: number,
  ) {}

  get received(): Uint8Array {
    if (this.chunks.length > 1) {
      const all = new Uint8Array(this.total);
      let o = 0;
      for (const c of this.chunks) {
        all.set(c, o);
        o += c.length;
      }
      this.chunks.splice(0, this.chunks.length, all);
    }
    return this.chunks[0] ?? new Uint8Array(0);
  }

  text(): string {
    return Buffer.from(this.received).toString();
  }

  get heldBack(): number {
    return this.outq.length;
  }

  write(data: Uint8Array | string): void {
    if (this.closed) return;
    this.outq.append(typeof data === 'string' ? Buffer.from(data) : data);
    this.push();
  }

  end(): void {
    if (this.closed) return;
    this.finQueued = true;
    this.push();
  }

  reset(): void {
    if (this.closed) return;
    this.closed = true;
    this.outq.drop(this.outq.length);
    const s = this.sock;
    if (s.state === 'closed') return;
    s.dead = true;
    s.err = Errno.ECONNRESET;
    this.tcp.wake(s);
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.read();
  }

  read(n = this.unread): number {
    const r = Math.min(n, this.unread);
    this.unread -= r;
    if (r > 0 && this.sock.blockedWrite) {
      this.sock.blockedWrite = false;
      this.tcp.wake(this.sock);
    }
    return r;
  }

  on(ev: PeerEvent, cb: (data?: Uint8Array) => void): void {
    const l = this.handlers.get(ev) ?? [];
    l.push(cb);
    this.handlers.set(ev, l);
  }

  private emit(ev: PeerEvent, d?: Uint8Array): void {
    const l = this.handlers.get(ev);
    if (l) this.tcp.kernel.post(() => l.forEach((cb) => cb(d)));
  }

  /** Moves written bytes into the socket's receive queue as far as it has room. */
  push(): void {
    const s = this.sock;
    if (s.state === 'closed' || s.dead) return;
    const n = Math.min(this.outq.length, s.receiveBuffer - s.rx.length);
    if (n > 0) {
      s.rx.append(this.outq.view(0, n));
      this.outq.drop(n);
      this.tcp.wake(s);
    }
    if (this.outq.length === 0 && this.finQueued && !s.rxEof) {
      s.rxEof = true;
      this.tcp.wake(s);
    }
  }

  /** Bytes the translator sent. */
  deliver(d: Uint8Array): void {
    const copy = d.slice();
    this.chunks.push(copy);
    this.total += copy.length;
    if (this.paused) this.unread += copy.length;
    this.emit('data', copy);
  }

  gotFin(): void {
    if (this.ended) return;
    this.ended = true;
    this.emit('end');
  }

  gotReset(): void {
    if (this.closed) return;
    this.wasReset = true;
    this.closed = true;
    this.emit('reset');
  }
}

class MemPoller implements TcpPoller {
  readonly watches = new Map<MemSock, Watch>();
  cb: ((events: Uint32Array, count: number) => void) | undefined;
  open = true;

  constructor(private readonly tcp: MemoryTcp) {}

  watch(sock: TcpSock, id: number, mask: number): number {
    const s = sock as unknown as MemSock;
    if (!this.open || s.state === 'closed') return Errno.EBADF;
    if (mask === 0) {
      this.watches.delete(s);
      s.watchers.delete(this);
      return 0;
    }
    this.watches.set(s, { id, mask });
    s.watchers.add(this);
    this.tcp.wake(s);
    return 0;
  }

  onEvents(cb: (events: Uint32Array, count: number) => void): void {
    this.cb = cb;
  }

  onError(): void {
    // The in-memory set never fails.
  }

  close(): void {
    this.open = false;
    this.cb = undefined;
    for (const s of this.watches.keys()) s.watchers.delete(this);
    this.watches.clear();
  }

  /** What to report now: woken sockets (edge-triggered) and ready level-triggered ones. */
  collect(woken: ReadonlySet<MemSock>): number[] {
    const out: number[] = [];
    for (const [s, w] of this.watches) {
      if (w.mask & TcpWatch.Edge && !woken.has(s)) continue;
      const interest = (w.mask & (TcpWatch.In | TcpWatch.Out | TcpWatch.RdHup)) | TcpEvent.Err;
      const bits = s.readiness() & (interest | TcpEvent.Hup);
      if (bits !== 0) out.push(w.id, bits);
    }
    return out;
  }
}

const asSock = (s: MemSock): TcpSock => s as unknown as TcpSock;
const mem = (s: TcpSock): MemSock => s as unknown as MemSock;

/** A TcpHost in memory, with the test's side: servers, dialling clients and counters. */
export class MemoryTcp implements TcpHost {
  private woken = new Set<MemSock>();
  private readonly pollers = new Set<MemPoller>();
  private readonly servers: (TcpServer & { closed: boolean; onConn?: (p: TcpPeer) => void })[] = [];
  private readonly listening = new Set<MemSock>();
  private nextPort = 40_000;
  private readonly sendBuffer: number;
  private readonly receiveBuffer: number;
  /** Addresses a connect fails for at once (EHOSTUNREACH). */
  readonly unreachable = new Set<string>();
  /** Sockets made and not closed yet. */
  openSockets = 0;

  constructor(
    readonly kernel: MemoryKernel,
    o: MemoryTcpOptions = {},
  ) {
    this.sendBuffer = o.sendBuffer ?? 1 << 20;
    this.receiveBuffer = o.receiveBuffer ?? 1 << 20;
    kernel.addSource({ deliver: () => this.deliver(), pending: () => this.pending() });
  }

  // --- the test's side ------------------------------------------------------------------------

  /**
   * A host server on (addr, port) (port 0: an ephemeral one); `onConn` scripts each connection
   * (it runs on the flush that completes the translator's connect).
   */
  server(addr: string, port = 0, onConn?: (p: TcpPeer) => void): TcpServer {
    const p = port === 0 ? this.ephemeral() : port;
    this.checkFree(addr, p);
    const srv = {
      addr,
      port: p,
      conns: [] as TcpPeer[],
      closed: false,
      ...(onConn ? { onConn } : {}),
      close: () => {
        srv.closed = true;
      },
    };
    this.servers.push(srv);
    return srv;
  }

  /**
   * A host client connecting to the translator's listening socket on (addr, port); it waits in
   * the accept queue until the translator accepts it.
   *
   * @param from - the client's address and port (default: the loopback, an ephemeral port)
   * @throws Error ECONNREFUSED when nothing of the translator listens there
   */
  dial(addr: string, port: number, from?: { addr?: string; port?: number }): TcpPeer {
    const l = [...this.listening].find((s) => s.port === port && addrMatches(s.addr, addr));
    if (!l) throw errnoError('ECONNREFUSED', 'connect', `${addr}:${port}`);
    const family = familyOf(addr);
    const s = this.newSock(family);
    s.state = 'open';
    const peerAddr = from?.addr ?? loopback(family);
    const peerPort = from?.port ?? this.ephemeral();
    const peer = new Peer(this, s, peerAddr, peerPort, addr, port);
    s.peer = peer;
    l.acceptQ.push({ sock: asSock(s), peerAddr, peerPort, localAddr: addr, localPort: port });
    this.wake(l);
    return peer;
  }

  /** Wakes `s` for the pollers watching it (on the next flush). */
  wake(s: MemSock): void {
    if (s.watchers.size > 0) this.woken.add(s);
  }

  // --- TcpHost --------------------------------------------------------------------------------

  socket(family: 4 | 6): TcpSock {
    return asSock(this.newSock(family));
  }

  connect(sock: TcpSock, family: 4 | 6, addr: string, port: number): number {
    const s = mem(sock);
    if (s.state === 'closed') return Errno.EBADF;
    if (s.state !== 'idle') return EISCONN;
    if (this.unreachable.has(addr)) return Errno.EHOSTUNREACH;
    s.state = 'connecting';
    this.kernel.post(() => {
      if (s.state !== 'connecting') return;
      const srv = this.servers.find(
        (x) => !x.closed && x.port === port && addrMatches(x.addr, addr),
      );
      s.state = 'open';
      if (!srv) {
        s.dead = true;
        s.err = Errno.ECONNREFUSED;
      } else {
        const peer = new Peer(this, s, addr, port, loopback(family), this.ephemeral());
        s.peer = peer;
        srv.conns.push(peer);
        srv.onConn?.(peer);
      }
      this.wake(s);
    });
    return Errno.EINPROGRESS;
  }

  listen(addr: string, port: number): [TcpSock, number] {
    const p = port === 0 ? this.ephemeral() : port;
    this.checkFree(addr, p);
    const s = this.newSock(familyOf(addr));
    s.state = 'listening';
    s.addr = addr;
    s.port = p;
    this.listening.add(s);
    return [asSock(s), p];
  }

  accept(listener: TcpSock): Accepted | number {
    const l = mem(listener);
    if (l.state === 'closed') return Errno.EBADF;
    if (l.state !== 'listening') return EINVAL;
    return l.acceptQ.shift() ?? Errno.EAGAIN;
  }

  peek(sock: TcpSock, buf: Uint8Array, iov: Uint32Array, count: number, offset: number): number {
    const s = mem(sock);
    if (s.state === 'closed') return -Errno.EBADF;
    if (s.state !== 'open') return -Errno.EAGAIN;
    if (offset >= 0) s.peekOff = offset;
    const avail = s.rx.length - s.peekOff;
    if (avail <= 0) return this.nothing(s);
    let n = 0;
    for (let i = 0; i < count && n < avail; i++) {
      const take = Math.min(iov[2 * i + 1]!, avail - n);
      buf.set(s.rx.view(s.peekOff + n, take), iov[2 * i]!);
      n += take;
    }
    s.peekOff += n;
    return n;
  }

  consume(sock: TcpSock, n: number): number {
    const s = mem(sock);
    if (s.state === 'closed') return -Errno.EBADF;
    const r = Math.min(n, s.rx.length);
    if (r === 0) return this.nothing(s);
    s.rx.drop(r);
    s.peekOff = Math.max(0, s.peekOff - r);
    s.peer?.push();
    return r;
  }

  send(sock: TcpSock, bufs: readonly Uint8Array[], count = bufs.length): number {
    const s = mem(sock);
    if (s.state === 'closed') return -Errno.EBADF;
    if (s.dead) {
      const e = s.err;
      s.err = 0;
      return -(e || Errno.EPIPE);
    }
    if (s.shutWr) return -Errno.EPIPE;
    if (s.state !== 'open' || !s.peer) return -Errno.EAGAIN;
    let room = s.room();
    let n = 0;
    for (let i = 0; i < count && room > 0; i++) {
      const b = bufs[i]!;
      const take = Math.min(b.length, room);
      s.peer.deliver(b.subarray(0, take));
      room -= take;
      n += take;
    }
    let total = 0;
    for (let i = 0; i < count; i++) total += bufs[i]!.length;
    if (n < total) s.blockedWrite = true;
    return n === 0 && total > 0 ? -Errno.EAGAIN : n;
  }

  shutdown(sock: TcpSock): number {
    const s = mem(sock);
    if (s.state === 'closed') return Errno.EBADF;
    if (s.state !== 'open' || !s.peer) return ENOTCONN;
    if (!s.shutWr && !s.dead) s.peer.gotFin();
    s.shutWr = true;
    this.wake(s);
    return 0;
  }

  close(sock: TcpSock, reset: boolean): void {
    const s = mem(sock);
    if (s.state === 'closed') return;
    for (const p of s.watchers) p.watches.delete(s);
    s.watchers.clear();
    this.woken.delete(s);
    this.listening.delete(s);
    for (const a of s.acceptQ.splice(0)) {
      const c = mem(a.sock);
      c.peer?.gotReset();
      c.state = 'closed';
      this.openSockets--;
    }
    const peer = s.peer;
    if (peer && !s.dead && !peer.closed) {
      if (reset || s.rx.length > 0) peer.gotReset();
      else {
        if (!s.shutWr) peer.gotFin();
        peer.closed = true;
      }
    }
    s.state = 'closed';
    this.openSockets--;
  }

  socketError(sock: TcpSock): number {
    const s = mem(sock);
    const e = s.err;
    s.err = 0;
    return e;
  }

  poller(): TcpPoller {
    const p = new MemPoller(this);
    this.pollers.add(p);
    return p;
  }

  // --- internals ------------------------------------------------------------------------------

  private newSock(family: 4 | 6): MemSock {
    this.openSockets++;
    return new MemSock(family, this.sendBuffer, this.receiveBuffer);
  }

  /** What peek/consume return with nothing to give: the error, 0 at the end, or −EAGAIN. */
  private nothing(s: MemSock): number {
    if (s.err !== 0) {
      const e = s.err;
      s.err = 0;
      return -e;
    }
    return s.rxEof || s.dead ? 0 : -Errno.EAGAIN;
  }

  private ephemeral(): number {
    return this.nextPort++;
  }

  private checkFree(addr: string, port: number): void {
    const taken =
      this.servers.some((x) => !x.closed && x.port === port && addrsOverlap(x.addr, addr)) ||
      [...this.listening].some((x) => x.port === port && addrsOverlap(x.addr, addr));
    if (taken) throw errnoError('EADDRINUSE', 'listen', `${addr}:${port}`);
  }

  private pending(): boolean {
    for (const p of this.pollers) {
      if (!p.cb) continue;
      for (const [s, w] of p.watches) {
        if (w.mask & TcpWatch.Edge ? this.woken.has(s) : s.readiness() !== 0) return true;
      }
    }
    return false;
  }

  private deliver(): boolean {
    const woken = this.woken;
    this.woken = new Set();
    let did = false;
    for (const p of this.pollers) {
      if (!p.open) {
        this.pollers.delete(p);
        continue;
      }
      if (!p.cb) continue;
      const ev = p.collect(woken);
      if (ev.length === 0) continue;
      did = true;
      p.cb(Uint32Array.from(ev), ev.length / 2);
    }
    return did;
  }
}
