// The vhost-user back-end without QEMU: split virtqueues and virtio-net framing over a Uint8Array "guest memory", the message codec, the device state machine, and fuzzing of both.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MAX_QUEUE_PAIRS, QUEUE_COUNT, VhostUserDevice, type VhostSys } from './device.js';
import { drainTx, newNetCounters, putRx } from './net.js';
import {
  Feature,
  Flag,
  OFFERED_FEATURES,
  OFFERED_PROTOCOL_FEATURES,
  ProtocolFeature,
  Req,
  TSO_FEATURES,
  bit,
  decodeHeader,
  decodeMemTable,
  encodeMessage,
  type Header,
} from './protocol.js';
import { flowHash, pickRxQueue } from './steer.js';
import { RegionMemory, SplitQueue, needEvent } from './virtqueue.js';

/** Guest-physical 0x100000 is user address 0x7f0000000000 + the same offset. */
const GPA = 0x100000;
const UVA = 0x7f0000000000;
const MEM = 1 << 20;
const DESC = 0x1000;
const AVAIL = 0x3000;
const USED = 0x4000;
const DATA = 0x10000;

/** The driver's side of one split queue, over one region. */
class Driver {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  readonly mem: RegionMemory;
  private availIdx = 0;
  private next = DATA;

  constructor(
    readonly num = 8,
    bytes = new Uint8Array(MEM),
  ) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.mem = new RegionMemory([{ guestAddr: GPA, userAddr: UVA, bytes }]);
  }

  queue(eventIdx = false, indirect = true): SplitQueue {
    const q = new SplitQueue(this.num, eventIdx, indirect);
    assert.ok(q.attach(this.mem, { desc: UVA + DESC, avail: UVA + AVAIL, used: UVA + USED }, 0));
    return q;
  }

  /** Guest memory for `len` bytes (offset in the region). */
  alloc(len: number): number {
    const at = this.next;
    this.next += (len + 15) & ~15;
    return at;
  }

  desc(table: number, i: number, addr: number, len: number, flags: number, next: number): void {
    const at = table + 16 * i;
    this.view.setBigUint64(at, BigInt(addr), true);
    this.view.setUint32(at + 8, len, true);
    this.view.setUint16(at + 12, flags, true);
    this.view.setUint16(at + 14, next, true);
  }

  /** Makes head `head` available. */
  publish(head: number): void {
    this.view.setUint16(AVAIL + 4 + 2 * (this.availIdx % this.num), head, true);
    this.availIdx = (this.availIdx + 1) & 0xffff;
    this.view.setUint16(AVAIL + 2, this.availIdx, true);
  }

  /** Posts a TX chain of the given buffers (each copied into guest memory), from descriptor `first`. */
  postOut(first: number, bufs: Uint8Array[]): void {
    bufs.forEach((b, i) => {
      const at = this.alloc(b.length);
      this.bytes.set(b, at);
      const last = i === bufs.length - 1;
      this.desc(DESC, first + i, GPA + at, b.length, last ? 0 : 1, first + i + 1);
    });
    this.publish(first);
  }

  /** Posts one writable buffer of `len` bytes as descriptor `i`; returns its offset. */
  postIn(i: number, len: number): number {
    const at = this.alloc(len);
    this.desc(DESC, i, GPA + at, len, 2, 0);
    this.publish(i);
    return at;
  }

  usedIdx(): number {
    return this.view.getUint16(USED + 2, true);
  }

  used(k: number): { id: number; len: number } {
    const at = USED + 4 + 8 * (k % this.num);
    return { id: this.view.getUint32(at, true), len: this.view.getUint32(at + 4, true) };
  }

  setUsedEvent(v: number): void {
    this.view.setUint16(AVAIL + 4 + 2 * this.num, v, true);
  }

  availEvent(): number {
    return this.view.getUint16(USED + 4 + 8 * this.num, true);
  }
}

const ethFrame = (n: number, fill = 0xab): Uint8Array => {
  const f = new Uint8Array(n).fill(fill);
  f[12] = 0x08;
  f[13] = 0x00;
  return f;
};

test('TX: a frame over two buffers comes out whole, its chain is used with len 0', () => {
  const d = new Driver();
  const q = d.queue();
  const frame = ethFrame(100);
  d.postOut(0, [new Uint8Array(12), frame.subarray(0, 40), frame.subarray(40)]);
  const c = newNetCounters();
  const { frames } = drainTx(q, d.mem, 12, c);
  assert.equal(frames.length, 1);
  assert.deepEqual(frames[0]!.frame, frame);
  assert.equal(frames[0]!.csumStart, -1);
  assert.equal(d.usedIdx(), 1);
  assert.deepEqual(d.used(0), { id: 0, len: 0 });
  assert.equal(c.txFrames, 1);
});

test('TX: an indirect table is followed; NEEDS_CSUM is reported', () => {
  const d = new Driver();
  const q = d.queue();
  const hdr = new Uint8Array(12);
  hdr[0] = 1;
  hdr[6] = 34;
  hdr[8] = 16;
  const frame = ethFrame(80);
  const table = d.alloc(32);
  const h = d.alloc(12);
  const f = d.alloc(80);
  d.bytes.set(hdr, h);
  d.bytes.set(frame, f);
  d.desc(table, 0, GPA + h, 12, 1, 1);
  d.desc(table, 1, GPA + f, 80, 0, 0);
  d.desc(DESC, 3, GPA + table, 32, 4, 0);
  d.publish(3);
  const { frames } = drainTx(q, d.mem, 12, newNetCounters());
  assert.equal(frames.length, 1);
  assert.deepEqual(frames[0]!.frame, frame);
  assert.equal(frames[0]!.csumStart, 34);
  assert.equal(frames[0]!.csumOffset, 16);
  assert.deepEqual(d.used(0), { id: 3, len: 0 });
});

test('TX: a descriptor loop, a buffer outside memory, a nested indirect: dropped, counted, returned', () => {
  const d = new Driver();
  const q = d.queue();
  const a = d.alloc(64);
  d.desc(DESC, 0, GPA + a, 32, 1, 1);
  d.desc(DESC, 1, GPA + a, 32, 1, 0); // loops back to 0
  d.publish(0);
  d.desc(DESC, 2, GPA + MEM - 8, 64, 0, 0); // runs past the region
  d.publish(2);
  const t = d.alloc(16);
  d.desc(t, 0, GPA + t, 16, 4, 0); // an indirect inside an indirect
  d.desc(DESC, 3, GPA + t, 16, 4, 0);
  d.publish(3);
  d.desc(DESC, 4, GPA + a, 20, 0, 9); // a good chain, but shorter than header + Ethernet
  d.publish(4);
  const c = newNetCounters();
  const { frames } = drainTx(q, d.mem, 12, c);
  assert.equal(frames.length, 0);
  assert.equal(c.txBadChain, 3);
  assert.equal(c.txBadFrame, 1);
  assert.equal(d.usedIdx(), 4);
  assert.deepEqual(
    [0, 1, 2, 3].map((k) => d.used(k).id),
    [0, 2, 3, 4],
  );
});

test('TX: an avail index jumping past the queue size breaks the queue instead of looping', () => {
  const d = new Driver();
  const q = d.queue();
  d.view.setUint16(0x3000 + 2, 100, true);
  const c = newNetCounters();
  drainTx(q, d.mem, 12, c);
  assert.ok(q.broken);
  assert.equal(c.txBadChain, 1);
});

test('RX mergeable: a 3000-byte frame over three 1500-byte buffers, num_buffers 3', () => {
  const d = new Driver();
  const q = d.queue();
  const at = [0, 1, 2, 3].map((i) => d.postIn(i, 1500));
  const frame = ethFrame(3000, 0x5a);
  const c = newNetCounters();
  assert.equal(putRx(q, d.mem, frame, 12, true, undefined, c), 'ok');
  assert.ok(q.flush());
  assert.equal(d.usedIdx(), 3);
  assert.deepEqual(
    [0, 1, 2].map((k) => d.used(k)),
    [
      { id: 0, len: 1500 },
      { id: 1, len: 1500 },
      { id: 2, len: 12 },
    ],
  );
  assert.equal(d.view.getUint16(at[0]! + 10, true), 3);
  const got = new Uint8Array(3000);
  got.set(d.bytes.subarray(at[0]! + 12, at[0]! + 1500), 0);
  got.set(d.bytes.subarray(at[1]!, at[1]! + 1500), 1488);
  got.set(d.bytes.subarray(at[2]!, at[2]! + 12), 2988);
  assert.deepEqual(got, frame);
  assert.equal(q.available(), 1);
});

test('RX: no room leaves the ring as it was; a partial checksum sets NEEDS_CSUM', () => {
  const d = new Driver();
  const q = d.queue();
  const at = d.postIn(0, 1000);
  const c = newNetCounters();
  assert.equal(putRx(q, d.mem, ethFrame(2000), 12, true, undefined, c), 'full');
  assert.equal(q.available(), 1);
  assert.equal(c.rxNoRoom, 1);
  assert.equal(putRx(q, d.mem, ethFrame(2000), 12, false, undefined, c), 'full');
  assert.equal(putRx(q, d.mem, ethFrame(500), 12, false, [34, 16], c), 'ok');
  q.flush();
  assert.equal(d.bytes[at], 1);
  assert.equal(d.view.getUint16(at + 6, true), 34);
  assert.equal(d.view.getUint16(at + 8, true), 16);
  assert.equal(d.view.getUint16(at + 10, true), 1);
});

test('EVENT_IDX: interrupts only when used.idx passes used_event; avail_event follows consumption', () => {
  assert.equal(needEvent(0, 1, 0), true);
  assert.equal(needEvent(5, 3, 0), false);
  assert.equal(needEvent(0xffff, 0, 0xfffe), true);
  const d = new Driver();
  const q = d.queue(true);
  d.setUsedEvent(1); // "tell me when the second buffer is used"
  d.postIn(0, 100);
  d.postIn(1, 100);
  const c = newNetCounters();
  assert.equal(putRx(q, d.mem, ethFrame(60), 12, true, undefined, c), 'ok');
  assert.equal(q.flush(), false);
  assert.equal(d.availEvent(), 1);
  assert.equal(putRx(q, d.mem, ethFrame(60), 12, true, undefined, c), 'ok');
  assert.equal(q.flush(), true);
  assert.equal(d.availEvent(), 2);
});

test('EVENT_IDX: armKickNext asks for a kick at the next buffer the driver adds, even with some already there', () => {
  const d = new Driver();
  const q = d.queue(true);
  d.postIn(0, 64);
  d.postIn(1, 64);
  d.postIn(2, 64);
  // One buffer taken; two left that a frame needing more cannot use.
  assert.ok(q.pop(d.mem));
  q.armKick();
  assert.equal(d.availEvent(), 1, 'armKick: any buffer past the consumed ones');
  assert.equal(q.armKickNext(), 3);
  assert.equal(d.availEvent(), 3, 'armKickNext: the driver publishing idx 3 → 4 kicks');
  assert.equal(q.availIdx, 3);
  d.postIn(3, 64);
  assert.equal(q.availIdx, 4, 'a buffer added after arming is seen by the caller’s second look');
});

test('rings whose addresses are outside guest memory are refused', () => {
  const d = new Driver();
  const q = new SplitQueue(8, false, false);
  assert.equal(q.attach(d.mem, { desc: UVA + MEM - 16, avail: UVA, used: UVA }, 0), false);
  assert.equal(q.attach(d.mem, { desc: GPA, avail: UVA, used: UVA }, 0), false);
  assert.equal(
    new SplitQueue(6, false, false).attach(d.mem, { desc: UVA, avail: UVA, used: UVA }, 0),
    false,
  );
});

test('fuzz: rings full of random bytes never throw and never count more than they took (10^4 cases, seed 15)', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 2048, maxLength: 2048 }),
      fc.uint8Array({ minLength: 0, maxLength: 3000 }),
      fc.boolean(),
      fc.boolean(),
      fc.integer({ min: 0, max: 0x1f }),
      fc.option(fc.tuple(fc.nat(0xff), fc.nat(0xffff), fc.nat(0xffff))),
      (junk, frame, eventIdx, mergeable, acceptGso, gso) => {
        // Small memory: the rings and their random descriptors all live in 8 KiB.
        const bytes = new Uint8Array(8192);
        bytes.set(junk, 0);
        const mem = new RegionMemory([{ guestAddr: 0, userAddr: 0, bytes }]);
        const tx = new SplitQueue(16, eventIdx, true);
        assert.ok(tx.attach(mem, { desc: 0, avail: 256, used: 512 }, 0));
        const c = newNetCounters();
        const { frames } = drainTx(tx, mem, 12, c, 256, acceptGso);
        assert.equal(frames.length, c.txFrames);
        assert.ok(c.txFrames + c.txBadChain + c.txBadFrame <= 16);
        assert.ok(c.txGso <= c.txFrames && c.txBadGso <= c.txBadFrame);
        const rx = new SplitQueue(16, eventIdx, true);
        assert.ok(rx.attach(mem, { desc: 1024, avail: 1280, used: 1536 }, 0));
        for (let i = 0; i < 4; i++)
          putRx(rx, mem, frame, 12, mergeable, [14, 6], c, gso ?? undefined);
        rx.flush();
        assert.ok(c.rxFrames <= 4);
        assert.equal(c.rxGso, gso ? c.rxFrames : 0);
      },
    ),
    { seed: 15, numRuns: 10_000 },
  );
});

/** A fake fd: a region (guest memory) or an eventfd. */
interface FakeFd {
  readonly id: number;
  readonly region?: Uint8Array;
}

/** Fake syscalls that record what is open, mapped and signalled. */
class FakeSys implements VhostSys<FakeFd, number> {
  nextId = 1;
  readonly open = new Set<number>();
  readonly maps = new Set<number>();
  calls = 0;
  /** Misuse seen (double close or unmap): the device catches throws, so these are collected. */
  readonly misuse: string[] = [];
  watched = new Map<number, () => void>();

  fd(region?: Uint8Array): FakeFd {
    const f = { id: this.nextId++, ...(region ? { region } : {}) };
    this.open.add(f.id);
    return f;
  }
  mmap(fd: FakeFd, size: number, offset: number): { map: number; bytes: Uint8Array } {
    if (!this.open.has(fd.id)) throw new Error('EBADF');
    if (!fd.region || offset + size > fd.region.length) throw new Error('EINVAL');
    const id = this.nextId++;
    this.maps.add(id);
    return { map: id, bytes: fd.region.subarray(offset, offset + size) };
  }
  unmap(m: number): void {
    if (!this.maps.delete(m)) this.misuse.push(`map ${m} unmapped twice`);
  }
  close(fd: FakeFd): void {
    if (!this.open.delete(fd.id)) this.misuse.push(`fd ${fd.id} closed twice`);
    this.watched.delete(fd.id);
  }
  watch(fd: FakeFd, cb: () => void): void {
    this.watched.set(fd.id, cb);
  }
  eventRead(): void {}
  /** Ids of the eventfds signalled, in order. */
  readonly signalled: number[] = [];
  eventWrite(fd: FakeFd): void {
    this.calls++;
    this.signalled.push(fd.id);
  }
}

const u64p = (v: bigint): Uint8Array => {
  const p = new Uint8Array(8);
  new DataView(p.buffer).setBigUint64(0, v, true);
  return p;
};
const state = (index: number, num: number): Uint8Array => {
  const p = new Uint8Array(8);
  const v = new DataView(p.buffer);
  v.setUint32(0, index, true);
  v.setUint32(4, num, true);
  return p;
};
const vringAddr = (index: number, desc: number, used: number, avail: number): Uint8Array => {
  const p = new Uint8Array(40);
  const v = new DataView(p.buffer);
  v.setUint32(0, index, true);
  v.setBigUint64(8, BigInt(desc), true);
  v.setBigUint64(16, BigInt(used), true);
  v.setBigUint64(24, BigInt(avail), true);
  return p;
};
const memTable = (regions: [number, number, number, number][]): Uint8Array => {
  const p = new Uint8Array(8 + 32 * regions.length);
  const v = new DataView(p.buffer);
  v.setUint32(0, regions.length, true);
  regions.forEach((r, i) =>
    r.forEach((x, k) => v.setBigUint64(8 + 32 * i + 8 * k, BigInt(x), true)),
  );
  return p;
};
const hdr = (request: number, size: number, needReply = false): Header => ({
  request,
  flags: Flag.VERSION | (needReply ? Flag.NEED_REPLY : 0),
  size,
});

test('device: TSO turned off is neither offered nor accepted', () => {
  const sys = new FakeSys();
  const dev = new VhostUserDevice(
    sys,
    { ringsChanged: () => {}, kick: () => {}, fault: () => {} },
    OFFERED_FEATURES & ~TSO_FEATURES,
  );
  const f = dev.handle(hdr(Req.GET_FEATURES, 0), new Uint8Array(0), [])!;
  const offered = new DataView(f.buffer).getBigUint64(12, true);
  assert.equal(offered & bit(Feature.NET_HOST_TSO4), 0n);
  assert.equal(offered & bit(Feature.NET_GUEST_TSO6), 0n);
  assert.ok(offered & bit(Feature.NET_GUEST_CSUM));
  dev.handle(hdr(Req.SET_FEATURES, 8), u64p(offered | bit(Feature.NET_HOST_TSO4)), []);
  assert.equal(dev.counters.badMessages, 1);
  assert.equal(dev.features, 0n);
  // The default device offers TSO both ways (and no ECN, UFO or USO).
  const all = new VhostUserDevice(sys, { ringsChanged: () => {}, kick: () => {}, fault: () => {} });
  const g = all.handle(hdr(Req.GET_FEATURES, 0), new Uint8Array(0), [])!;
  const dflt = new DataView(g.buffer).getBigUint64(12, true);
  assert.equal(dflt & TSO_FEATURES, TSO_FEATURES);
  for (const no of [
    Feature.NET_HOST_ECN,
    Feature.NET_HOST_UFO,
    Feature.NET_GUEST_ECN,
    Feature.NET_GUEST_UFO,
  ])
    assert.equal(dflt & bit(no), 0n);
});

/**
 * A device taken through QEMU's start sequence for `pairs` RX/TX pairs (per-device requests
 * once, then every ring), over a Driver's memory.
 */
function startedDevice(sys: FakeSys, d: Driver, pairs = 1) {
  const events = {
    ready: [] as boolean[],
    kicks: [] as number[],
    faults: [] as string[],
    usable: [] as number[],
  };
  const dev = new VhostUserDevice(sys, {
    ringsChanged: (r) => events.ready.push(r),
    kick: (q) => events.kicks.push(q),
    fault: (w) => events.faults.push(w),
    queuesChanged: (u) => events.usable.push(u),
  });
  const kickFds: FakeFd[] = [];
  const callFds: FakeFd[] = [];
  const send = (req: number, p: Uint8Array, fds: FakeFd[] = [], needReply = false) =>
    dev.handle(hdr(req, p.length, needReply), p, fds);
  const feats =
    bit(Feature.VERSION_1) |
    bit(Feature.NET_MRG_RXBUF) |
    bit(Feature.RING_EVENT_IDX) |
    bit(Feature.RING_INDIRECT_DESC) |
    bit(Feature.PROTOCOL_FEATURES);
  send(Req.SET_FEATURES, u64p(feats));
  send(Req.SET_PROTOCOL_FEATURES, u64p(bit(ProtocolFeature.REPLY_ACK)));
  send(Req.SET_OWNER, new Uint8Array(0));
  const ack = send(Req.SET_MEM_TABLE, memTable([[GPA, MEM, UVA, 0]]), [sys.fd(d.bytes)], true);
  assert.deepEqual(ack, encodeMessage(Req.SET_MEM_TABLE, Flag.VERSION | Flag.REPLY, u64p(0n)));
  for (let i = 0; i < 2 * pairs; i++) {
    // Every ring on the same memory: fine for the state machine.
    send(Req.SET_VRING_NUM, state(i, d.num));
    send(Req.SET_VRING_BASE, state(i, 0));
    send(Req.SET_VRING_ADDR, vringAddr(i, UVA + DESC, UVA + USED, UVA + AVAIL));
    callFds.push(sys.fd());
    send(Req.SET_VRING_CALL, u64p(BigInt(i)), [callFds[i]!]);
    kickFds.push(sys.fd());
    send(Req.SET_VRING_KICK, u64p(BigInt(i)), [kickFds[i]!]);
    send(Req.SET_VRING_ENABLE, state(i, 1));
  }
  return { dev, events, send, kickFds, callFds };
}

test('codec: headers with a bad version or an oversized payload are refused', () => {
  const m = encodeMessage(Req.GET_FEATURES, Flag.VERSION, new Uint8Array(0));
  assert.deepEqual(decodeHeader(m), { request: 1, flags: 1, size: 0 });
  assert.equal(typeof decodeHeader(encodeMessage(1, 2, new Uint8Array(0))), 'string');
  const big = encodeMessage(1, 1, new Uint8Array(0));
  new DataView(big.buffer).setUint32(8, 1 << 20, true);
  assert.equal(typeof decodeHeader(big), 'string');
  assert.equal(
    typeof decodeMemTable(
      memTable([
        [0, 100, 0, 0],
        [50, 100, 0, 0],
      ]),
    ),
    'string',
  );
  assert.equal(typeof decodeMemTable(memTable([])), 'string');
});

test('device: the start sequence runs both rings; GET_VRING_BASE stops one; reset frees everything', () => {
  const sys = new FakeSys();
  const d = new Driver();
  const { dev, events, send } = startedDevice(sys, d);
  assert.deepEqual(events.faults, []);
  assert.deepEqual(events.ready, [true]);
  assert.ok(dev.queue(0) && dev.queue(1));
  assert.equal(dev.hdrLen, 12);
  const f = send(Req.GET_FEATURES, new Uint8Array(0))!;
  assert.equal(new DataView(f.buffer).getBigUint64(12, true), OFFERED_FEATURES);
  d.postIn(0, 1500);
  const q = dev.queue(0)!;
  assert.equal(putRx(q, dev.memory, ethFrame(100), 12, true, undefined, newNetCounters()), 'ok');
  assert.ok(q.flush());
  dev.notify(0);
  assert.equal(sys.calls, 1);
  const base = send(Req.GET_VRING_BASE, state(0, 0))!;
  assert.equal(new DataView(base.buffer).getUint32(16, true), 1);
  assert.deepEqual(events.ready, [true, false]);
  assert.equal(dev.queue(0), undefined);
  // A ring index past the queues is refused with an ack of 1.
  const nack = send(Req.SET_VRING_ENABLE, state(QUEUE_COUNT, 1), [], true)!;
  assert.equal(new DataView(nack.buffer).getBigUint64(12, true), 1n);
  assert.equal(dev.counters.badMessages, 1);
  assert.equal(dev.counters.unknownQueues, 1);
  dev.reset();
  assert.equal(sys.open.size, 0, 'every fd closed');
  assert.equal(sys.maps.size, 0, 'every region unmapped');
  assert.deepEqual(sys.misuse, []);
});

test('device: a new memory table re-translates running rings and unmaps the old regions', () => {
  const sys = new FakeSys();
  const d = new Driver();
  const { dev, send } = startedDevice(sys, d);
  send(Req.SET_MEM_TABLE, memTable([[GPA, MEM, UVA, 0]]), [sys.fd(d.bytes)]);
  assert.equal(sys.maps.size, 1);
  assert.ok(dev.queue(1));
  // Memory that no longer holds the rings: they stop, the message is still applied.
  send(Req.SET_MEM_TABLE, memTable([[GPA, 4096, UVA + MEM, 0]]), [sys.fd(d.bytes)]);
  assert.equal(dev.queue(1), undefined);
  dev.reset();
  assert.equal(sys.open.size + sys.maps.size, 0);
  assert.deepEqual(sys.misuse, []);
});

test('device: multiqueue — GET_QUEUE_NUM, two pairs, kicks and calls per ring, enable and disable', () => {
  const sys = new FakeSys();
  const d = new Driver();
  const { dev, events, send, kickFds, callFds } = startedDevice(sys, d, 2);
  assert.deepEqual(events.faults, []);
  assert.ok((OFFERED_FEATURES & bit(Feature.NET_MQ)) !== 0n);
  assert.ok((OFFERED_PROTOCOL_FEATURES & bit(ProtocolFeature.MQ)) !== 0n);
  const qn = send(Req.GET_QUEUE_NUM, new Uint8Array(0))!;
  assert.equal(new DataView(qn.buffer).getBigUint64(12, true), BigInt(MAX_QUEUE_PAIRS));
  assert.equal(events.usable.at(-1), 0b1111);
  assert.deepEqual(events.ready, [true]);
  for (let i = 0; i < 4; i++) assert.ok(dev.queue(i), `ring ${i} usable`);
  assert.equal(dev.queue(4), undefined, 'a ring never set up is not usable');
  // Each ring's kick fd reports its own index; each ring's call fd is its own.
  events.kicks.length = 0;
  sys.watched.get(kickFds[3]!.id)!();
  sys.watched.get(kickFds[2]!.id)!();
  assert.deepEqual(events.kicks, [3, 2]);
  dev.notify(3);
  dev.notify(0);
  assert.deepEqual(sys.signalled, [callFds[3]!.id, callFds[0]!.id]);
  // The guest drops to one pair (QEMU: SET_VRING_ENABLE 0 on rings 2 and 3): pair 0 still runs.
  send(Req.SET_VRING_ENABLE, state(2, 0));
  send(Req.SET_VRING_ENABLE, state(3, 0));
  assert.equal(dev.queue(2), undefined);
  assert.equal(dev.queue(3), undefined);
  assert.equal(events.usable.at(-1), 0b0011);
  assert.deepEqual(events.ready, [true], 'pair 0 keeps the link up');
  // A disabled ring's EVENT_IDX and index state stay its own: enabling it again resumes it.
  events.kicks.length = 0;
  send(Req.SET_VRING_ENABLE, state(3, 1));
  assert.deepEqual(events.kicks, [3]);
  assert.ok(dev.queue(3));
  assert.equal(dev.queue(2), undefined);
  assert.equal(events.usable.at(-1), 0b1011);
  // GET_VRING_BASE of ring 3 stops it alone.
  const base = send(Req.GET_VRING_BASE, state(3, 0))!;
  assert.equal(new DataView(base.buffer).getUint32(12, true), 3);
  assert.equal(dev.queue(3), undefined);
  assert.ok(dev.queue(1));
  assert.ok(!sys.open.has(kickFds[3]!.id), "ring 3's kick fd closed");
  assert.deepEqual(events.faults, []);
  // RESET_OWNER releases every ring's fds.
  send(Req.RESET_OWNER, new Uint8Array(0));
  assert.equal(sys.open.size, 0, 'every fd closed');
  assert.equal(sys.maps.size, 0, 'every region unmapped');
  assert.equal(events.usable.at(-1), 0);
  assert.deepEqual(sys.misuse, []);
});

test('steer: one flow always takes one RX ring; non-IP frames the first; flows spread', () => {
  const v4 = (sport: number, dport: number, proto = 6): Uint8Array => {
    const f = new Uint8Array(14 + 20 + 20);
    f[12] = 0x08;
    f[14] = 0x45;
    f[14 + 9] = proto;
    f.set([10, 0, 0, 1, 10, 0, 0, 2], 14 + 12);
    f[34] = sport >> 8;
    f[35] = sport & 0xff;
    f[36] = dport >> 8;
    f[37] = dport & 0xff;
    return f;
  };
  const v6 = (sport: number): Uint8Array => {
    const f = new Uint8Array(14 + 40 + 8);
    f[12] = 0x86;
    f[13] = 0xdd;
    f[14 + 6] = 17;
    f[14 + 8] = 0xfd;
    f[14 + 39] = 1;
    f[54] = sport >> 8;
    f[55] = sport & 0xff;
    return f;
  };
  const rx = [0, 2];
  assert.equal(pickRxQueue(v4(1, 2), [4]), 4, 'one ring: that one');
  const arp = new Uint8Array(60);
  arp[12] = 0x08;
  arp[13] = 0x06;
  assert.equal(flowHash(arp), undefined);
  assert.equal(pickRxQueue(arp, rx), 0);
  assert.equal(pickRxQueue(new Uint8Array(20), rx), 0, 'runt');
  // The same flow, whatever its payload: the same ring; and the hash sees ports.
  const a = v4(40000, 80);
  const a2 = new Uint8Array([...v4(40000, 80), 1, 2, 3]);
  assert.equal(pickRxQueue(a, rx), pickRxQueue(a2, rx));
  assert.notEqual(flowHash(v4(40000, 80)), flowHash(v4(40001, 80)));
  // A later IPv4 fragment hashes its addresses only (no ports to read).
  const frag = v4(40000, 80, 17);
  frag[14 + 7] = 0x10;
  const frag2 = v4(1, 2, 17);
  frag2[14 + 7] = 0x10;
  assert.equal(flowHash(frag), flowHash(frag2));
  // Linux gives connect() even ports: consecutive ones still spread over two rings.
  const even = [0, 0];
  for (let k = 0; k < 64; k++) even[pickRxQueue(v4(8081, 40000 + 2 * k), [0, 2]) >> 1]!++;
  assert.ok(even[0]! >= 16 && even[1]! >= 16, `even ports spread: ${even}`);
  // Many flows use every ring, both families.
  for (const make of [(p: number) => v4(p, 80), v6]) {
    const seen = new Map<number, number>();
    for (let p = 1024; p < 1024 + 64; p++) {
      const q = pickRxQueue(make(p), [0, 2, 4, 6]);
      seen.set(q, (seen.get(q) ?? 0) + 1);
    }
    assert.deepEqual([...seen.keys()].sort(), [0, 2, 4, 6]);
  }
});

/** One arbitrary message: structured ones (to reach deep states) and raw junk. */
const arbMessage = fc.oneof(
  fc.record({
    request: fc.integer({ min: 0, max: 45 }),
    flags: fc.oneof(fc.constant(1), fc.constant(9), fc.integer({ min: 0, max: 15 })),
    payload: fc.uint8Array({ maxLength: 300 }),
    fds: fc.integer({ min: 0, max: 3 }),
  }),
  fc.record({
    request: fc.constantFrom(
      Req.SET_VRING_NUM,
      Req.SET_VRING_BASE,
      Req.SET_VRING_ENABLE,
      Req.GET_VRING_BASE,
      Req.SET_VRING_KICK,
      Req.SET_VRING_CALL,
      Req.SET_VRING_ERR,
    ),
    flags: fc.constant(9),
    payload: fc
      .tuple(fc.integer({ min: 0, max: QUEUE_COUNT + 4 }), fc.integer({ min: 0, max: 70000 }))
      .map(([i, n]) => state(i, n)),
    fds: fc.integer({ min: 0, max: 2 }),
  }),
  fc.record({
    request: fc.constant(Req.SET_VRING_ADDR),
    flags: fc.constant(1),
    payload: fc
      .tuple(fc.integer({ min: 0, max: QUEUE_COUNT + 4 }), fc.nat(MEM), fc.nat(MEM), fc.nat(MEM))
      .map(([i, a, b, c]) => vringAddr(i, UVA + a, UVA + b, UVA + c)),
    fds: fc.constant(0),
  }),
  fc.record({
    request: fc.constant(Req.SET_MEM_TABLE),
    flags: fc.constant(9),
    payload: fc
      .array(fc.tuple(fc.nat(2 * MEM), fc.nat(2 * MEM), fc.nat(MEM)), { maxLength: 9 })
      .map((rs) => memTable(rs.map(([g, n, o]) => [g, n, UVA + g, o]))),
    fds: fc.integer({ min: 0, max: 9 }),
  }),
);

test('fuzz: malformed vhost-user messages never throw, are each counted, and leak no fd or mapping (10^4 cases, seed 15)', () => {
  // Over every case, rings past the served ones were named (and refused).
  let unknownQueues = 0;
  fc.assert(
    fc.property(
      fc.array(arbMessage, { minLength: 1, maxLength: 8 }),
      fc.uint8Array({ minLength: 64, maxLength: 64 }),
      (msgs, junk) => {
        const sys = new FakeSys();
        const d = new Driver(8, new Uint8Array(MEM));
        const { dev, events } = startedDevice(sys, d, 2);
        // Random ring contents too: the guest may write anything.
        d.bytes.set(junk, DESC);
        d.bytes.set(junk.subarray(0, 8), AVAIL);
        const before = dev.counters.badMessages;
        let faults = events.faults.length;
        for (const m of msgs) {
          const fds = Array.from({ length: m.fds }, () => sys.fd(d.bytes));
          const h = { request: m.request, flags: m.flags, size: m.payload.length };
          dev.handle(h, m.payload, fds);
          for (const q of [0, 1, 2, 3]) {
            const vq = dev.queue(q);
            if (vq) {
              drainTx(vq, dev.memory, dev.hdrLen, newNetCounters());
              putRx(vq, dev.memory, ethFrame(64), 12, true, undefined, newNetCounters());
              vq.flush();
            }
          }
          faults = events.faults.length;
        }
        assert.equal(dev.counters.messages, 1 + 1 + 1 + 1 + 6 * 4 + msgs.length);
        assert.ok(dev.counters.unknownQueues <= dev.counters.badMessages, 'unknown rings refused');
        unknownQueues += dev.counters.unknownQueues;
        assert.ok(dev.counters.badMessages - before <= msgs.length);
        assert.ok(faults >= dev.counters.badMessages, 'each refusal reported');
        dev.reset();
        assert.equal(sys.open.size, 0, 'every fd closed');
        assert.equal(sys.maps.size, 0, 'every region unmapped');
        assert.deepEqual(sys.misuse, []);
      },
    ),
    { seed: 15, numRuns: 10_000 },
  );
  assert.ok(unknownQueues > 0, 'the fuzz named rings past the served ones');
});
