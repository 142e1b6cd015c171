// Shared harness of the flow translators' tests, on real sockets (test/usernet) and on the in-memory kernel (src/usernet/flow): deps on the fixture, a fake clock, frame decoders with checksums verified, a scripted guest TCP.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { TcpTranslator } from '../../src/usernet/flow/tcp/index.js';
import type { FlowDeps } from '../../src/usernet/flow/deps.js';
import type { FlowTable } from '../../src/usernet/flow/table.js';
import type { HostSockets } from '../../src/usernet/host/index.js';
import {
  acceptPacket,
  parseGuestFrame,
  type ServiceCounters,
} from '../../src/usernet/iface/packet.js';
import { EthernetView, EtherType } from '../../src/wire/ethernet.js';
import { Ipv4View, parseIpv4 as parseIpv4Header, IpProtocol } from '../../src/wire/ipv4.js';
import { Ipv6View, parseIpv6 as parseIpv6Header, ipv6Upper } from '../../src/wire/ipv6.js';
import { UdpView, parseUdp } from '../../src/wire/udp.js';
import { Icmpv4View, parseIcmpv4 } from '../../src/wire/icmpv4.js';
import { Icmpv6View, parseIcmpv6 } from '../../src/wire/icmpv6.js';
import {
  TcpView,
  parseTcp,
  emitTcp,
  tcpHeaderLen,
  TcpFlag,
  TCP_NO_OPTIONS,
  type TcpRepr,
  type TcpOptions,
} from '../../src/wire/tcp.js';
import { formatIpv4, formatIpv6, formatMac, getU16, isWireError } from '../../src/wire/common.js';
import { seqAdd } from '../../src/wire/seq.js';
import { FLOW_CFG, OUR_MAC, GUEST_MAC, G4, GW4, G6, GW6 } from './flow-fixtures.js';

export const text = (s: string): Uint8Array => new TextEncoder().encode(s);

/** A fake clock: timers run when the test advances time. */
export class FakeTime {
  t = 1_000_000;
  private timers = new Map<number, { at: number; fn: () => void }>();
  private next = 1;
  now = (): number => this.t;
  setTimer = (fn: () => void, ms: number): unknown => {
    const id = this.next++;
    this.timers.set(id, { at: this.t + ms, fn });
    return id;
  };
  clearTimer = (h: unknown): void => {
    this.timers.delete(h as number);
  };
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let best: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.timers) if (e[1].at <= end && (!best || e[1].at < best[1].at)) best = e;
      if (!best) break;
      this.timers.delete(best[0]);
      this.t = best[1].at;
      best[1].fn();
    }
    this.t = end;
  }
}

/** Deps on the fixture (FLOW_CFG, OUR_MAC, no host resolvers) around a host, a table, a frame sink and a clock. */
export function fixtureDeps(
  host: HostSockets,
  table: FlowTable,
  toGuest: (frames: Uint8Array[]) => void,
  now: () => number,
  guestMac: () => Uint8Array | undefined = () => GUEST_MAC,
): FlowDeps {
  return { host, table, cfg: FLOW_CFG, hostResolvers: [], ourMac: OUR_MAC, guestMac, toGuest, now };
}

/**
 * The UDP and ping harnesses' common part: fixture deps whose frames to the guest collect in
 * `frames`, a settable clock and a settable guest MAC.
 */
export function flowHarness(host: HostSockets, table: FlowTable) {
  const frames: Uint8Array[] = [];
  const clock = { now: 0 };
  let mac: Uint8Array | undefined = GUEST_MAC;
  const deps = fixtureDeps(
    host,
    table,
    (f) => frames.push(...f),
    () => clock.now,
    () => mac,
  );
  return { deps, table, clock, frames, setMac: (m?: Uint8Array) => (mac = m) };
}

/** A UDP datagram to the guest, decoded. */
export interface UdpDecoded {
  ethSrc: string;
  ethDst: string;
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  payload: string;
}

/** Decodes an Ethernet/IP/UDP frame with the codecs, checksums verified. */
export function decodeUdp(frame: Uint8Array): UdpDecoded {
  const eth = EthernetView.checked(frame);
  assert.ok(!isWireError(eth));
  let src: Uint8Array, dst: Uint8Array, l4: Uint8Array;
  if (eth.ethertype === EtherType.Ipv4) {
    const v = Ipv4View.checked(eth.payload());
    assert.ok(!isWireError(v));
    const ip = parseIpv4Header(v);
    assert.ok(!isWireError(ip));
    assert.equal(ip.protocol, IpProtocol.Udp);
    [src, dst, l4] = [ip.src, ip.dst, v.payload()];
  } else {
    const v = Ipv6View.checked(eth.payload());
    assert.ok(!isWireError(v));
    const ip = parseIpv6Header(v);
    assert.ok(!isWireError(ip));
    assert.equal(ip.nextHeader, IpProtocol.Udp);
    [src, dst, l4] = [ip.src, ip.dst, ipv6Upper(v, ip)];
  }
  const u = UdpView.checked(l4);
  assert.ok(!isWireError(u));
  const r = parseUdp(u, src, dst);
  assert.ok(!isWireError(r), 'UDP checksum verifies');
  const fmt = (b: Uint8Array) => (b.length === 4 ? formatIpv4(b) : formatIpv6(b));
  return {
    ethSrc: formatMac(eth.src),
    ethDst: formatMac(eth.dst),
    src: fmt(src),
    dst: fmt(dst),
    srcPort: r.srcPort,
    dstPort: r.dstPort,
    payload: Buffer.from(u.payload()).toString(),
  };
}

/**
 * Checks that `frame` is the ICMP (type 3 code 3) or ICMPv6 (type 1 code 4) port unreachable
 * from the gateway for the guest's datagram `sport` → `dport` of `udpLen` bytes: it quotes it.
 */
export function assertPortUnreachable(
  frame: Uint8Array,
  family: 4 | 6,
  sport: number,
  dport: number,
  udpLen: number,
): void {
  const eth = EthernetView.checked(frame);
  if (family === 4) {
    assert.ok(!isWireError(eth) && eth.ethertype === EtherType.Ipv4);
    const v4 = Ipv4View.checked(eth.payload());
    assert.ok(!isWireError(v4));
    const ip4 = parseIpv4Header(v4);
    assert.ok(!isWireError(ip4));
    assert.deepEqual([formatIpv4(ip4.src), formatIpv4(ip4.dst)], ['10.0.0.1', '10.0.0.5']);
    const iv4 = Icmpv4View.checked(v4.payload());
    assert.ok(!isWireError(iv4));
    const m4 = parseIcmpv4(iv4);
    assert.ok(!isWireError(m4) && m4.type === 3 && m4.code === 3);
    const q4 = m4.invoking;
    assert.deepEqual(
      [formatIpv4(q4.subarray(12, 16)), formatIpv4(q4.subarray(16, 20))],
      ['10.0.0.5', '10.0.0.1'],
    );
    assert.deepEqual([getU16(q4, 20), getU16(q4, 22), getU16(q4, 24)], [sport, dport, udpLen]);
    return;
  }
  assert.ok(!isWireError(eth) && eth.ethertype === EtherType.Ipv6);
  const v6 = Ipv6View.checked(eth.payload());
  assert.ok(!isWireError(v6));
  const ip6 = parseIpv6Header(v6);
  assert.ok(!isWireError(ip6));
  const iv6 = Icmpv6View.checked(ipv6Upper(v6, ip6));
  assert.ok(!isWireError(iv6));
  const m6 = parseIcmpv6(iv6, ip6.src, ip6.dst);
  assert.ok(!isWireError(m6) && m6.type === 1 && 'code' in m6 && m6.code === 4);
  assert.ok('invoking' in m6);
  assert.equal(formatIpv6(m6.invoking.subarray(24, 40)), 'fe80::1');
  const q6 = m6.invoking;
  assert.deepEqual([getU16(q6, 40), getU16(q6, 42), getU16(q6, 44)], [sport, dport, udpLen]);
}

/** An echo reply to the guest, decoded. */
export interface EchoDecoded {
  ethSrc: string;
  ethDst: string;
  src: string;
  dst: string;
  type: number;
  ident: number;
  seqNo: number;
  data: string;
}

/** Decodes an echo reply frame with the codecs, checksums verified. */
export function decodeEcho(frame: Uint8Array): EchoDecoded {
  const eth = EthernetView.checked(frame);
  assert.ok(!isWireError(eth));
  const head = { ethSrc: formatMac(eth.src), ethDst: formatMac(eth.dst) };
  if (eth.ethertype === EtherType.Ipv4) {
    const v = Ipv4View.checked(eth.payload());
    assert.ok(!isWireError(v));
    const ip = parseIpv4Header(v);
    assert.ok(!isWireError(ip));
    assert.equal(ip.protocol, IpProtocol.Icmp);
    const iv = Icmpv4View.checked(v.payload());
    assert.ok(!isWireError(iv));
    const m = parseIcmpv4(iv);
    assert.ok(!isWireError(m) && 'ident' in m);
    return {
      ...head,
      src: formatIpv4(ip.src),
      dst: formatIpv4(ip.dst),
      type: m.type,
      ident: m.ident,
      seqNo: m.seqNo,
      data: Buffer.from(m.data).toString(),
    };
  }
  const v = Ipv6View.checked(eth.payload());
  assert.ok(!isWireError(v));
  const ip = parseIpv6Header(v);
  assert.ok(!isWireError(ip));
  assert.equal(ip.nextHeader, IpProtocol.Icmpv6);
  const iv = Icmpv6View.checked(ipv6Upper(v, ip));
  assert.ok(!isWireError(iv));
  const m = parseIcmpv6(iv, ip.src, ip.dst);
  assert.ok(!isWireError(m) && 'ident' in m && 'seqNo' in m && 'data' in m);
  return {
    ...head,
    src: formatIpv6(ip.src),
    dst: formatIpv6(ip.dst),
    type: m.type,
    ident: m.ident,
    seqNo: m.seqNo,
    data: Buffer.from(m.data).toString(),
  };
}

/** A segment the translator sent, decoded (checksums verified). */
export interface Seg extends TcpRepr {
  readonly src: string;
  readonly dst: string;
  readonly data: Buffer;
  readonly ethDst: Uint8Array;
}

function counters(): ServiceCounters {
  return { ignored: 0, drops: { truncated: 0, malformed: 0, 'bad-checksum': 0, unsupported: 0 } };
}

/** Decodes a TCP segment to the guest, checksums and options verified. */
export function decodeTcp(frame: Uint8Array, family: 4 | 6): Seg {
  const c = counters();
  const p = parseGuestFrame(frame);
  assert.ok(
    acceptPacket(p, family, IpProtocol.Tcp, c),
    `a TCP/IPv${family} frame (${JSON.stringify(c)})`,
  );
  const v = TcpView.checked(p.l4);
  assert.ok(!isWireError(v));
  const r = parseTcp(v, p.src, p.dst);
  assert.ok(!isWireError(r), `TCP checksum and options verify: ${JSON.stringify(r)}`);
  return {
    ...r,
    src: Buffer.from(p.src).toString('hex'),
    dst: Buffer.from(p.dst).toString('hex'),
    data: Buffer.from(v.payload()),
    ethDst: p.eth!.dst.slice(),
  };
}

/** The flags of a segment as letters (SAFRP), for messages. */
export function flagText(f: number): string {
  const n: [number, string][] = [
    [TcpFlag.SYN, 'S'],
    [TcpFlag.ACK, 'A'],
    [TcpFlag.FIN, 'F'],
    [TcpFlag.RST, 'R'],
    [TcpFlag.PSH, 'P'],
  ];
  return n.map(([b, c]) => (f & b ? c : '')).join('');
}

/** The guest's SYN options: MSS 1460, window scale 7, SACK permitted. */
export const SYN_OPTS: TcpOptions = { mss: 1460, windowScale: 7, sackPermitted: true };

/**
 * Checks the SYN-ACK `sa` answering the guest's SYN (seq 5000, SYN_OPTS) from port 40000 to the
 * gateway's `port`: from the gateway to the guest's MAC, MSS of the MTU, our window scale and
 * SACK-permitted, no timestamps, one flow in the table.
 */
export function assertSynAck(g: TcpGuest, sa: Seg, port: number): void {
  assert.equal(sa.flags, TcpFlag.SYN | TcpFlag.ACK);
  assert.equal(sa.ack, 5001);
  assert.equal(sa.srcPort, port);
  assert.equal(sa.dstPort, 40000);
  assert.equal(sa.options.mss, 65520 - (g.family === 4 ? 40 : 60));
  assert.equal(sa.options.windowScale, 7);
  assert.equal(sa.options.sackPermitted, true);
  assert.equal(sa.options.timestamps, undefined);
  assert.deepEqual([...sa.ethDst], [...GUEST_MAC]);
  assert.equal(sa.src, Buffer.from(g.gw).toString('hex'));
  assert.equal(g.table.size, 1);
}

/** What a test sets in a guest segment; the rest has defaults. */
export type TcpHdr = {
  seq: number;
  ack?: number;
  flags: number;
  window?: number;
  options?: TcpOptions;
};

/**
 * The guest side of the TCP translator on a fake clock: builds segments into it and collects
 * (decoded) what comes back in `got`. The test files extend it with their way of waiting.
 */
export class TcpGuest<H extends HostSockets = HostSockets> {
  readonly time = new FakeTime();
  readonly got: Seg[] = [];
  readonly tcp: TcpTranslator;

  constructor(
    readonly family: 4 | 6,
    readonly host: H,
    readonly table: FlowTable,
    link: { readonly tsoMax?: number } = {},
  ) {
    const toGuest = (frames: Uint8Array[]): void => {
      for (const f of frames) this.got.push(decodeTcp(f, this.family));
      this.received();
    };
    this.tcp = new TcpTranslator(
      {
        ...fixtureDeps(host, table, toGuest, this.time.now),
        ...link,
        setTimer: this.time.setTimer,
        clearTimer: this.time.clearTimer,
      },
      new Uint8Array(16).fill(7),
    );
  }

  /** Runs after frames came to the guest (and were decoded into `got`). */
  protected received(): void {}

  get me(): Uint8Array {
    return this.family === 4 ? G4 : G6;
  }
  get gw(): Uint8Array {
    return this.family === 4 ? GW4 : GW6;
  }

  /** Sends a segment from guest port `sport` to the gateway's `dport`. */
  send(sport: number, dport: number, h: TcpHdr, payload: Uint8Array = new Uint8Array(0)): void {
    const repr: TcpRepr = {
      srcPort: sport,
      dstPort: dport,
      seq: h.seq,
      ack: h.ack ?? 0,
      flags: h.flags,
      window: h.window ?? 65535,
      urgent: 0,
      options: h.options ?? TCP_NO_OPTIONS,
      payloadLen: payload.length,
    };
    const hl = tcpHeaderLen(repr);
    const buf = new Uint8Array(hl + payload.length);
    buf.set(payload, hl);
    emitTcp(repr, buf, this.me, this.gw);
    const v = TcpView.checked(buf);
    assert.ok(!isWireError(v));
    const r = parseTcp(v, this.me, this.gw);
    assert.ok(!isWireError(r));
    this.tcp.fromGuest(this.family, this.me.slice(), this.gw.slice(), r, v.payload());
  }

  /** Takes (and forgets) what has arrived so far. */
  take(): Seg[] {
    return this.got.splice(0);
  }
}

/** The flag sets random guest segments carry. */
const RANDOM_FLAGS = [
  TcpFlag.ACK,
  TcpFlag.ACK | TcpFlag.PSH,
  TcpFlag.ACK | TcpFlag.FIN,
  TcpFlag.SYN,
  TcpFlag.SYN | TcpFlag.ACK,
  TcpFlag.RST,
  TcpFlag.RST | TcpFlag.ACK,
  0,
  TcpFlag.FIN,
];

/** A random guest segment: its port, flags, offsets from the live connection's numbers. */
export interface RandomSeg {
  port: number;
  flags: number;
  seqOff: number;
  ackOff: number;
  window: number;
  payload: Uint8Array;
}

/** Random guest segments from port 40020 (the live connection) or 40021/40022 (strangers). */
export const randomSegments: fc.Arbitrary<RandomSeg[]> = fc.array(
  fc.record({
    port: fc.constantFrom(40020, 40021, 40022),
    flags: fc.constantFrom(...RANDOM_FLAGS),
    seqOff: fc.oneof(fc.integer({ min: -70000, max: 70000 }), fc.nat()),
    ackOff: fc.oneof(fc.integer({ min: -70000, max: 70000 }), fc.nat()),
    window: fc.integer({ min: 0, max: 0xffff }),
    payload: fc.uint8Array({ maxLength: 200 }),
  }),
  { maxLength: 40 },
);

/**
 * Sends random segments to `dport`, their numbers offset from the live connection's (`guestSeq`,
 * `hostSeq`). No RST on the live connection (it would end the run when it lands in window).
 */
export function sendRandom(
  g: TcpGuest,
  dport: number,
  guestSeq: number,
  hostSeq: number,
  segs: readonly RandomSeg[],
): void {
  for (const x of segs) {
    const live = x.port === 40020;
    g.send(
      x.port,
      dport,
      {
        seq: seqAdd(guestSeq, x.seqOff),
        ack: seqAdd(hostSeq, x.ackOff),
        flags: live ? x.flags & ~TcpFlag.RST : x.flags,
        window: x.window,
      },
      x.payload,
    );
  }
}
