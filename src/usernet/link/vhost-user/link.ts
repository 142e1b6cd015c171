// The vhost-user guest link: bindery as the vhost-user server on a unix socket, QEMU the client; frames through the guest's own virtqueues.
//
// Life: `listen` binds the socket; QEMU connects (and reconnects after it restarts, with
// `reconnect-ms`); each connection gets a fresh VhostUserDevice. Messages are read header
// first (12 bytes, with the fds riding on it), then the payload; a malformed header ends the
// connection (the stream can no longer be framed), a malformed payload is refused and counted.
// When both rings run, 'connect' is emitted; when the connection ends, every fd and mapping of
// it is released and 'disconnect' emitted; with `oneOff` the server closes then ('close').
// Frames to the guest go straight into its RX buffers; when there are none, up to
// MAX_PENDING frames wait for the guest's next kick on the RX queue (send returns false and
// 'drain' follows), beyond that they are dropped and counted.
//
// Multiqueue (docs/vhost-user.md): every usable TX ring is drained on its own kicks, and every
// frame to the guest takes the RX ring its flow hashes to (steer.ts), with a pending list per
// RX ring so one flow stays in order. All of it runs on the one JS thread: the queues buy the
// guest parallelism (one vCPU per pair takes its interrupts), not bindery.
//
// TSO (gso.ts): with `tso` the link offers HOST_TSO4/6 and GUEST_TSO4/6 and says `tsoMax`
// (MAX_FRAME) once, for every front-end to come; a TCP frame past the MTU then goes to the guest
// with GSO fields when its driver negotiated GUEST_TSO for that family (and GUEST_CSUM), else it
// is cut into MTU-sized segments here: no driver ever gets a frame past its MTU without GSO.
import { EventEmitter } from 'node:events';
import { unlink } from 'node:fs/promises';
import { BinderyError, ErrorCode } from '../../../errors.js';
import { vhostShim, type VhostFd, type VhostMap } from '../../../native/vhost.js';
import { completePartialChecksum } from '../../../wire/checksum.js';
import { clearStaleSocket } from '../stream.js';
import { checksumPlaces, offloadedChecksums } from '../tap.js';
import type { GuestLink } from '../types.js';
import { MAX_QUEUE_PAIRS, RX_QUEUE, TX_QUEUE, VhostUserDevice, type VhostSys } from './device.js';
import {
  GsoType,
  gsoBit,
  guestGsoFor,
  makePartial,
  oversizeTcp,
  rxGso,
  segmentTcp,
  type RxGso,
} from './gso.js';
import { MAX_FRAME, drainTx, newNetCounters, putRx, type NetCounters } from './net.js';
import {
  Feature,
  OFFERED_FEATURES,
  TSO_FEATURES,
  VHOST_USER_HDR_LEN,
  decodeHeader,
  requestName,
  type Header,
} from './protocol.js';
import { pickRxQueue } from './steer.js';
import type { SplitQueue } from './virtqueue.js';

/** Frames waiting for RX buffers before further ones are dropped. */
export const MAX_PENDING = 1024;

/** Events of a VhostUserLink. */
export interface VhostUserLinkEvents {
  /** Both rings of a front-end run: frames flow. */
  connect: [];
  /** The front-end's connection ended (or its rings stopped). */
  disconnect: [reason: string];
  frames: [frames: Uint8Array[], trusted: Uint8Array | undefined];
  drain: [];
  close: [];
  /** A refused message or ring (for the log). */
  fault: [what: string];
}

/** Counters of a VhostUserLink; monotonic. */
export interface VhostUserCounters extends NetCounters {
  clients: number;
  messages: number;
  badMessages: number;
  badHeaders: number;
  txDropped: number;
  pendingDropped: number;
  /** Frames taken from each pair's TX ring and put into each pair's RX ring (index: pair). */
  txQueueFrames: number[];
  rxQueueFrames: number[];
}

/** Options of `VhostUserLink.listen`. */
export interface VhostUserLinkOptions {
  readonly path: string;
  readonly oneOff?: boolean;
  /** The guest's MTU (the translator's `-m`); 0 or unset: 1500, virtio-net's default. */
  readonly mtu?: number;
  /** Offer TCP segmentation offload (default true; bench: BINDERY_VHOST_NO_TSO=1). */
  readonly tso?: boolean;
}

/** The MTU assumed when the translator advertises none (`-m 0`): virtio-net's default. */
export const DEFAULT_GUEST_MTU = 1500;

/** The real syscalls, over the shim. */
function nativeSys(): VhostSys<VhostFd, VhostMap> {
  const s = vhostShim();
  return {
    mmap(fd, size, offset) {
      const [map, ab] = s.vhostMmap(fd, size, offset);
      return { map, bytes: new Uint8Array(ab) };
    },
    unmap: (m) => s.vhostUnmap(m),
    close: (fd) => s.vhostClose(fd),
    watch: (fd, cb) => void s.vhostWatch(fd, cb),
    eventRead: (fd) => void s.vhostEventRead(fd),
    eventWrite: (fd) => void s.vhostEventWrite(fd),
  };
}

/** The vhost-user server end (what passt offers with `--vhost-user --socket`). */
export class VhostUserLink extends EventEmitter<VhostUserLinkEvents> implements GuestLink {
  readonly kind = 'vhost-user' as const;
  readonly checksumOffload = true;
  readonly consumesOnSend = false;
  readonly tsoMax: number | undefined;
  /** The guest's MTU: frames to it past this (plus Ethernet) need GSO or are segmented. */
  readonly mtu: number;
  private readonly offered: bigint;
  readonly counters: VhostUserCounters = {
    ...newNetCounters(),
    clients: 0,
    messages: 0,
    badMessages: 0,
    badHeaders: 0,
    txDropped: 0,
    pendingDropped: 0,
    txQueueFrames: new Array<number>(MAX_QUEUE_PAIRS).fill(0),
    rxQueueFrames: new Array<number>(MAX_QUEUE_PAIRS).fill(0),
  };
  private conn: VhostFd | undefined;
  private device: VhostUserDevice<VhostFd, VhostMap> | undefined;
  private ready = false;
  private closed = false;
  private readonly shim = vhostShim();
  private readonly sys = nativeSys();
  // Message assembly: the header, then `want` payload bytes.
  private readonly hdrBuf = new Uint8Array(VHOST_USER_HDR_LEN);
  private hdrHave = 0;
  private header: Header | undefined;
  private payload = new Uint8Array(0);
  private payloadHave = 0;
  private fds: VhostFd[] = [];
  /** Frames waiting for buffers, per pair's RX ring; `pendingCount` in all. */
  private pending: { frame: Uint8Array; partial: boolean }[][] = freshPending();
  private pendingCount = 0;
  /** Ring indices of the usable RX rings, ascending. */
  private rxRings: number[] = [];
  private blocked = false;
  /** RX rings with a look queued (waitRx). */
  private readonly recheck = new Set<number>();
  /** Bad-ring counters when last looked at; the first increase per connection is logged. */
  private badSeen = 0;
  private badLogged = false;

  private constructor(
    private readonly listener: VhostFd,
    readonly path: string,
    private readonly oneOff: boolean,
    opts: VhostUserLinkOptions,
  ) {
    super();
    const tso = opts.tso !== false;
    this.tsoMax = tso ? MAX_FRAME : undefined;
    this.offered = tso ? OFFERED_FEATURES : OFFERED_FEATURES & ~TSO_FEATURES;
    this.mtu = opts.mtu !== undefined && opts.mtu >= 68 ? opts.mtu : DEFAULT_GUEST_MTU;
    this.shim.vhostWatch(listener, () => this.onAcceptable());
  }

  /**
   * Listens on a unix socket for the guest's QEMU.
   *
   * @throws BinderyError (Link) when the path is in use, is not a socket, or cannot be bound.
   */
  static async listen(opts: VhostUserLinkOptions): Promise<VhostUserLink> {
    await clearStaleSocket(opts.path);
    let l: VhostFd;
    try {
      l = vhostShim().vhostListen(opts.path);
    } catch (e) {
      throw new BinderyError(
        ErrorCode.Link,
        `cannot listen on ${opts.path}: ${(e as Error).message}`,
        {
          cause: e,
        },
      );
    }
    return new VhostUserLink(l, opts.path, opts.oneOff ?? false, opts);
  }

  /** Whether a front-end is connected. */
  get connected(): boolean {
    return this.conn !== undefined;
  }

  private onAcceptable(): void {
    for (;;) {
      const c = this.shim.vhostAccept(this.listener);
      if (typeof c === 'number') return;
      if (this.conn !== undefined || this.closed) {
        // One front-end at a time, as passt.
        this.shim.vhostClose(c);
        continue;
      }
      this.counters.clients++;
      this.conn = c;
      this.badLogged = false;
      this.device = new VhostUserDevice(
        this.sys,
        {
          ringsChanged: (ready) => this.onRings(ready),
          kick: (q) => this.onKick(q),
          queuesChanged: (usable) => this.onQueues(usable),
          fault: (what) => this.emit('fault', what),
        },
        this.offered,
      );
      this.shim.vhostWatch(c, () => this.onReadable());
    }
  }

  private onRings(ready: boolean): void {
    if (ready === this.ready) return;
    this.ready = ready;
    if (ready) this.emit('connect');
    else this.emit('disconnect', 'rings stopped');
  }

  private onReadable(): void {
    const c = this.conn;
    if (c === undefined) return;
    for (let guard = 0; guard < 64 && this.conn === c; guard++) {
      let n: number;
      let fds: VhostFd[];
      if (this.header === undefined) {
        [n, fds] = this.shim.vhostRecv(c, this.hdrBuf.subarray(this.hdrHave));
      } else {
        [n, fds] = this.shim.vhostRecv(c, this.payload.subarray(this.payloadHave));
      }
      this.fds.push(...fds);
      if (n === -11) return; // EAGAIN
      if (n <= 0) {
        this.endConnection(n === 0 ? 'eof' : `error ${-n}`);
        return;
      }
      if (this.header === undefined) {
        this.hdrHave += n;
        if (this.hdrHave < VHOST_USER_HDR_LEN) continue;
        const h = decodeHeader(this.hdrBuf);
        if (typeof h === 'string') {
          this.counters.badHeaders++;
          this.emit('fault', `bad message header: ${h}`);
          this.endConnection('bad header');
          return;
        }
        this.header = h;
        this.payload = new Uint8Array(h.size);
        this.payloadHave = 0;
        if (h.size > 0) continue;
      } else {
        this.payloadHave += n;
        if (this.payloadHave < this.payload.length) continue;
      }
      this.dispatch();
    }
  }

  private dispatch(): void {
    const h = this.header!;
    const d = this.device!;
    const fds = this.fds;
    this.fds = [];
    this.header = undefined;
    this.hdrHave = 0;
    this.counters.messages++;
    const before = d.counters.badMessages;
    const reply = d.handle(h, this.payload, fds);
    if (d.counters.badMessages !== before) this.counters.badMessages++;
    if (reply !== undefined && this.conn !== undefined) {
      const w = this.shim.vhostSend(this.conn, reply);
      if (w !== reply.length) {
        this.emit('fault', `cannot reply to ${requestName(h.request)} (${w})`);
        this.endConnection('reply failed');
      }
    }
  }

  private endConnection(reason: string): void {
    const c = this.conn;
    if (c === undefined) return;
    this.conn = undefined;
    for (const fd of this.fds) this.shim.vhostClose(fd);
    this.fds = [];
    this.header = undefined;
    this.hdrHave = 0;
    this.device?.reset();
    this.device = undefined;
    this.shim.vhostClose(c);
    this.counters.pendingDropped += this.pendingCount;
    this.pending = freshPending();
    this.pendingCount = 0;
    this.rxRings = [];
    if (this.ready) {
      this.ready = false;
    }
    this.emit('disconnect', reason);
    if (this.oneOff) void this.close();
  }

  private onKick(q: number): void {
    const d = this.device;
    if (d === undefined) return;
    if (q % 2 === 1) this.pollTx(d, q);
    else this.flushPending(d, q);
  }

  /** The usable rings changed: RX frames waiting on a ring that stopped take another one. */
  private onQueues(usable: number): void {
    const rx: number[] = [];
    for (let i = RX_QUEUE; i < 2 * MAX_QUEUE_PAIRS; i += 2) if (usable & (1 << i)) rx.push(i);
    this.rxRings = rx;
    const d = this.device;
    if (d === undefined) return;
    const moved: { frame: Uint8Array; partial: boolean }[] = [];
    this.pending.forEach((list, pair) => {
      if (list.length === 0 || usable & (1 << (2 * pair))) return;
      moved.push(...list);
      this.pendingCount -= list.length;
      this.pending[pair] = [];
    });
    if (moved.length === 0) return;
    if (rx.length === 0) {
      this.counters.pendingDropped += moved.length;
      this.checkDrained();
      return;
    }
    const touched = new Set<number>();
    for (const p of moved) this.route(d, p.frame, p.partial, touched);
    this.publish(d, touched);
    this.checkDrained();
  }

  private pollTx(d: VhostUserDevice<VhostFd, VhostMap>, ring = TX_QUEUE): void {
    // Take batches until the ring is empty (the listener runs between batches).
    for (let round = 0; round < 16; round++) {
      const q = d.queue(ring);
      if (q === undefined) return;
      const accept =
        (d.has(Feature.NET_HOST_TSO4) ? gsoBit(GsoType.TCPV4) : 0) |
        (d.has(Feature.NET_HOST_TSO6) ? gsoBit(GsoType.TCPV6) : 0);
      const { frames, notify } = drainTx(q, d.memory, d.hdrLen, this.counters, 256, accept);
      if (notify) d.notify(ring);
      this.noteBadRing();
      if (frames.length === 0) return;
      this.counters.txQueueFrames[ring >> 1]! += frames.length;
      const list = frames.map((f) => f.frame);
      let trusted: Uint8Array | undefined;
      if (frames.some((f) => f.csumStart >= 0)) {
        const vnet = new Uint16Array(3 * frames.length);
        frames.forEach((f, i) => {
          if (f.csumStart < 0) return;
          vnet[3 * i] = 1;
          vnet[3 * i + 1] = f.csumStart;
          vnet[3 * i + 2] = f.csumOffset;
        });
        trusted = offloadedChecksums(list, vnet);
      }
      this.emit('frames', list, trusted);
    }
  }

  send(frames: readonly Uint8Array[], partialChecksum?: boolean): boolean {
    const d = this.device;
    if (d === undefined || !this.ready || this.rxRings.length === 0) {
      this.counters.txDropped += frames.length;
      return false;
    }
    const partial = partialChecksum === true;
    if (this.tsoMax !== undefined) frames = this.fitMtu(d, frames, partial);
    // Frames already waiting go first (the guest may have added buffers without a kick).
    if (this.pendingCount > 0)
      this.pending.forEach((list, pair) => {
        if (list.length > 0) this.flushPending(d, 2 * pair);
      });
    const touched = new Set<number>();
    for (const frame of frames) this.route(d, frame, partial, touched);
    this.publish(d, touched);
    if (this.pendingCount > 0) {
      this.blocked = true;
      return false;
    }
    return true;
  }

  /** Puts one frame on its flow's RX ring, or behind the frames already waiting there. */
  private route(
    d: VhostUserDevice<VhostFd, VhostMap>,
    frame: Uint8Array,
    partial: boolean,
    touched: Set<number>,
  ): void {
    const ring = pickRxQueue(frame, this.rxRings);
    const list = this.pending[ring >> 1]!;
    if (d.queue(ring) === undefined) {
      // A ring the guest broke (a bad avail index): nothing goes there until it is set up again.
      this.counters.txDropped++;
      return;
    }
    touched.add(ring);
    if (list.length > 0 || !this.put(d, ring, frame, partial)) {
      if (this.pendingCount >= MAX_PENDING) this.counters.pendingDropped++;
      else {
        list.push({ frame, partial });
        this.pendingCount++;
      }
    }
  }

  /** Publishes what was put on `rings` and interrupts the guest where it asked for it. */
  private publish(d: VhostUserDevice<VhostFd, VhostMap>, rings: Set<number>): void {
    for (const ring of rings) {
      const q = d.queue(ring);
      if (q === undefined) continue;
      if (q.flush()) d.notify(ring);
      this.waitRx(d, ring, q);
    }
    this.noteBadRing();
  }

  /**
   * With frames waiting for buffers on RX ring `ring`: asks the driver to kick at its next
   * buffer; if it added some while we asked (no kick may come for those), looks again on the
   * next turn.
   */
  private waitRx(d: VhostUserDevice<VhostFd, VhostMap>, ring: number, q: SplitQueue): void {
    if ((this.pending[ring >> 1]?.length ?? 0) === 0 || this.recheck.has(ring)) return;
    const seen = q.armKickNext();
    if (q.availIdx === seen) return;
    this.recheck.add(ring);
    setImmediate(() => {
      this.recheck.delete(ring);
      if (this.device === d) this.flushPending(d, ring);
    });
  }

  /** Cuts TCP frames past the MTU into segments when the driver cannot take them with GSO. */
  private fitMtu(
    d: VhostUserDevice<VhostFd, VhostMap>,
    frames: readonly Uint8Array[],
    partial: boolean,
  ): readonly Uint8Array[] {
    let out: Uint8Array[] | undefined;
    for (let i = 0; i < frames.length; i++) {
      const f = frames[i]!;
      const big = oversizeTcp(f, this.mtu);
      if (big === undefined || guestGsoFor(d.features, big.h.v6)) {
        out?.push(f);
        continue;
      }
      out ??= frames.slice(0, i);
      const segs = segmentTcp(f, big.h, big.mss, !partial);
      this.counters.rxSegmented += segs.length;
      out.push(...segs);
    }
    return out ?? frames;
  }

  /** Writes one frame on RX ring `ring`; false when the guest has no buffer for it now. */
  private put(
    d: VhostUserDevice<VhostFd, VhostMap>,
    ring: number,
    frame: Uint8Array,
    partial: boolean,
  ): boolean {
    const q = d.queue(ring);
    if (q === undefined) return false;
    let csum: [number, number] | undefined;
    let gso: RxGso | undefined;
    const big = this.tsoMax !== undefined ? oversizeTcp(frame, this.mtu) : undefined;
    if (big !== undefined) {
      // Queued before the driver renegotiated without GUEST_TSO: never past its MTU.
      if (!guestGsoFor(d.features, big.h.v6)) {
        this.counters.txDropped++;
        return true;
      }
      gso = rxGso(big.h, big.mss);
      if (!partial) makePartial(frame, big.h);
      csum = [14 + big.h.ipLen, 16];
    } else if (partial) {
      const places = checksumPlaces([frame]);
      if (places[0] !== 0) {
        if (d.has(Feature.NET_GUEST_CSUM)) csum = [places[0]!, places[1]!];
        else completePartialChecksum(frame, places[0]!, places[1]!);
      }
    }
    for (let tries = 0; tries < 4; tries++) {
      const r = putRx(
        q,
        d.memory,
        frame,
        d.hdrLen,
        d.has(Feature.NET_MRG_RXBUF),
        csum,
        this.counters,
        gso,
      );
      if (r === 'ok') {
        this.counters.rxQueueFrames[ring >> 1]!++;
        return true;
      }
      if (r === 'full') {
        q.armKick();
        // The guest may have added buffers between our look and arming the kick.
        if (q.available() === 0) return false;
      }
    }
    return false;
  }

  private flushPending(d: VhostUserDevice<VhostFd, VhostMap>, ring = RX_QUEUE): void {
    const q = d.queue(ring);
    const list = this.pending[ring >> 1];
    if (q === undefined || list === undefined) return;
    let n = 0;
    while (n < list.length) {
      const p = list[n]!;
      if (!this.put(d, ring, p.frame, p.partial)) break;
      n++;
    }
    if (n > 0) {
      list.splice(0, n);
      this.pendingCount -= n;
    }
    this.noteBadRing();
    if (q.flush()) d.notify(ring);
    this.waitRx(d, ring, q);
    this.checkDrained();
  }

  private checkDrained(): void {
    if (this.pendingCount === 0 && this.blocked) {
      this.blocked = false;
      this.emit('drain');
    }
  }

  /** Logs the first bad chain or frame of a connection; the rest are only counted. */
  private noteBadRing(): void {
    const c = this.counters;
    const bad = c.txBadChain + c.txBadFrame + c.rxBadChain;
    if (bad === this.badSeen) return;
    this.badSeen = bad;
    if (this.badLogged) return;
    this.badLogged = true;
    this.emit(
      'fault',
      `the guest's rings hold a bad descriptor chain or frame (dropped; further ones are only counted): ${JSON.stringify({ txBadChain: c.txBadChain, txBadFrame: c.txBadFrame, rxBadChain: c.rxBadChain })}`,
    );
  }

  onFrames(listener: (frames: Uint8Array[], trusted?: Uint8Array) => void): void {
    this.on('frames', listener);
  }

  onDrain(listener: () => void): void {
    this.on('drain', listener);
  }

  /** Ends the current front-end's connection (it may reconnect). */
  disconnect(): void {
    this.endConnection('local');
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    this.endConnection('local');
    this.shim.vhostClose(this.listener);
    return unlink(this.path)
      .catch(() => {})
      .then(() => {
        this.emit('close');
      });
  }
}

function freshPending(): { frame: Uint8Array; partial: boolean }[][] {
  return Array.from({ length: MAX_QUEUE_PAIRS }, () => []);
}
