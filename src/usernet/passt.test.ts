// Tests of the translator daemon's dispatch: synthetic guest frames on a fake link, replies and counters checked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PasstDaemon, type Clock, type L4Deps } from './passt.js';
import type { GuestLink } from './link/types.js';
import { buildArpFrame, buildIpv4Frame, buildIpv6Frame } from '../wire/build.js';
import { EthernetView, EtherType } from '../wire/ethernet.js';
import { ArpOp, ArpView, parseArp } from '../wire/arp.js';
import { Ipv4View, IpProtocol, parseIpv4 as parseIpv4Packet } from '../wire/ipv4.js';
import { Ipv6View, walkIpv6 } from '../wire/ipv6.js';
import { UdpView, emitUdp, UDP_HEADER_LEN } from '../wire/udp.js';
import { emitTcp, tcpHeaderLen } from '../wire/tcp.js';
import { emitIcmpv4, icmpv4BufferLen, type Icmpv4Repr } from '../wire/icmpv4.js';
import { Icmpv6View, emitIcmpv6, icmpv6BufferLen, type Icmpv6Repr } from '../wire/icmpv6.js';
import { DhcpMessageType, dhcpBufferLen, emitDhcp, parseDhcp } from '../wire/dhcp.js';
import { parseGuestFrame, type GuestFrameParser } from './iface/packet.js';
import { discoverRepr, guestFrames, synRepr } from '../../test/lab/frames.js';
import {
  formatIpv4,
  formatMac,
  isWireError,
  parseIpv4,
  parseIpv6,
  parseMac,
} from '../wire/common.js';
import { DAEMON_CONFIG, DAEMON_GUEST_MAC, DAEMON_OUR_MAC } from '../../test/lab/daemon-config.js';

const OUR = DAEMON_OUR_MAC;
const GUEST = DAEMON_GUEST_MAC;
const BCAST = parseMac('ff:ff:ff:ff:ff:ff')!;
const GUEST_LL = parseIpv6('fe80::5054:ff:fe12:3456')!;

const cfg = DAEMON_CONFIG;

class FakeLink implements GuestLink {
  readonly kind = 'stream' as const;
  readonly sent: Uint8Array[] = [];
  private listener: ((f: Uint8Array[]) => void) | undefined;
  closed = false;
  send(frames: readonly Uint8Array[]): boolean {
    this.sent.push(...frames);
    return true;
  }
  onFrames(l: (f: Uint8Array[]) => void): void {
    this.listener = l;
  }
  onDrain(): void {}
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
  /** Delivers frames as the link would. */
  deliver(...frames: Uint8Array[]): void {
    this.listener?.(frames);
  }
}

class FakeClock implements Clock {
  timers: Array<{ fn: () => void; ms: number; live: boolean }> = [];
  now(): number {
    return 1000;
  }
  random(): number {
    return 0.5;
  }
  setTimer(fn: () => void, ms: number): unknown {
    const t = { fn, ms, live: true };
    this.timers.push(t);
    return t;
  }
  clearTimer(h: unknown): void {
    (h as { live: boolean }).live = false;
  }
  /** Fires the live timers armed so far. */
  fire(): void {
    for (const t of this.timers.splice(0)) if (t.live) t.fn();
  }
}

function setup(opts: { l4?: (d: L4Deps) => object; noRa?: boolean } = {}) {
  const link = new FakeLink();
  const clock = new FakeClock();
  const d = new PasstDaemon(cfg, link, {
    clock,
    ...(opts.noRa ? { noRa: true } : {}),
    ...(opts.l4 ? { l4: opts.l4 } : {}),
  });
  d.start();
  return { link, clock, d };
}

function arpRequest(target: string): Uint8Array {
  return buildArpFrame(GUEST, BCAST, {
    operation: ArpOp.Request,
    senderMac: GUEST,
    senderIp: parseIpv4('10.88.0.15')!,
    targetMac: new Uint8Array(6),
    targetIp: parseIpv4(target)!,
  });
}

function discover(): Uint8Array {
  const repr = discoverRepr(GUEST);
  const src = parseIpv4('0.0.0.0')!;
  const dst = parseIpv4('255.255.255.255')!;
  const payloadLen = dhcpBufferLen(repr);
  return buildIpv4Frame(
    GUEST,
    BCAST,
    { src, dst, protocol: IpProtocol.Udp },
    UDP_HEADER_LEN + payloadLen,
    (l4) => {
      emitDhcp(repr, l4.subarray(UDP_HEADER_LEN));
      emitUdp({ srcPort: 68, dstPort: 67, payloadLen }, l4, src, dst);
    },
  );
}

function routerSolicit(): Uint8Array {
  const allRouters = parseIpv6('ff02::2')!;
  const r: Icmpv6Repr = { type: 133, options: [{ type: 1, mac: GUEST }] };
  return buildIpv6Frame(
    GUEST,
    parseMac('33:33:00:00:00:02')!,
    { src: GUEST_LL, dst: allRouters, nextHeader: IpProtocol.Icmpv6, hopLimit: 255 },
    icmpv6BufferLen(r),
    (b) => emitIcmpv6(r, b, GUEST_LL, allRouters),
  );
}

function udp4(dst: string, dstPort: number, payload: Uint8Array): Uint8Array {
  const s = parseIpv4('10.88.0.15')!;
  const d = parseIpv4(dst)!;
  return buildIpv4Frame(
    GUEST,
    OUR,
    { src: s, dst: d, protocol: IpProtocol.Udp },
    UDP_HEADER_LEN + payload.length,
    (l4) => {
      l4.set(payload, UDP_HEADER_LEN);
      emitUdp({ srcPort: 40000, dstPort, payloadLen: payload.length }, l4, s, d);
    },
  );
}

function tcpSyn(): Uint8Array {
  const s = parseIpv4('10.88.0.15')!;
  const d = parseIpv4('192.0.2.80')!;
  const repr = synRepr(40000, 80, 1);
  return buildIpv4Frame(
    GUEST,
    OUR,
    { src: s, dst: d, protocol: IpProtocol.Tcp },
    tcpHeaderLen(repr),
    (b) => emitTcp(repr, b, s, d),
  );
}

function echo4(dst: string): Uint8Array {
  const s = parseIpv4('10.88.0.15')!;
  const d = parseIpv4(dst)!;
  const r: Icmpv4Repr = { type: 8, ident: 7, seqNo: 1, data: new Uint8Array([1, 2, 3]) };
  return buildIpv4Frame(
    GUEST,
    OUR,
    { src: s, dst: d, protocol: IpProtocol.Icmp },
    icmpv4BufferLen(r),
    (b) => emitIcmpv4(r, b),
  );
}

test('an ARP request for the gateway is answered with our MAC, and the guest MAC is learnt', () => {
  const { link, d } = setup();
  assert.equal(formatMac(d.guestMac), 'ff:ff:ff:ff:ff:ff');
  link.deliver(arpRequest('10.88.0.1'));
  assert.equal(link.sent.length, 1);
  const eth = EthernetView.checked(link.sent[0]!);
  assert.ok(!isWireError(eth));
  assert.equal(eth.ethertype, EtherType.Arp);
  assert.equal(formatMac(eth.dst), formatMac(GUEST));
  const av = ArpView.checked(eth.payload());
  assert.ok(!isWireError(av));
  const arp = parseArp(av);
  assert.ok(!isWireError(arp));
  assert.equal(arp.operation, ArpOp.Reply);
  assert.equal(formatMac(arp.senderMac), formatMac(OUR));
  assert.equal(formatIpv4(arp.senderIp), '10.88.0.1');
  assert.equal(formatMac(d.guestMac), formatMac(GUEST));
  assert.equal(d.counters.arp, 1);
  assert.equal(d.counters.guestMacUpdates, 1);
  assert.equal(d.counters.txFrames, 1);
});

test('a DHCP DISCOVER is answered with an OFFER of the pod address', () => {
  const { link, d } = setup();
  link.deliver(discover());
  assert.equal(link.sent.length, 1);
  const eth = EthernetView.checked(link.sent[0]!);
  assert.ok(!isWireError(eth));
  const iv = Ipv4View.checked(eth.payload());
  assert.ok(!isWireError(iv));
  const ip = parseIpv4Packet(iv);
  assert.ok(!isWireError(ip));
  assert.equal(formatIpv4(ip.src), '10.88.0.1');
  const uv = UdpView.checked(iv.payload());
  assert.ok(!isWireError(uv));
  assert.equal(uv.dstPort, 68);
  const dhcp = parseDhcp(uv.payload());
  assert.ok(!isWireError(dhcp));
  assert.equal(dhcp.messageType, DhcpMessageType.Offer);
  assert.equal(formatIpv4(dhcp.yiaddr), '10.88.0.15');
  assert.equal(d.counters.dhcp, 1);
  assert.equal(d.serviceCounters.dhcp.replies, 1);
});

test('--no-dhcp leaves DHCP to the UDP path (unhandled without a hook)', () => {
  const link = new FakeLink();
  const d = new PasstDaemon(cfg, link, { clock: new FakeClock(), noDhcp: true });
  d.start();
  link.deliver(discover());
  assert.equal(link.sent.length, 0);
  assert.equal(d.counters.dhcp, 0);
  assert.equal(d.counters.unhandled, 1);
});

test('a Router Solicitation is answered with an RA; the unsolicited RA timer re-arms', () => {
  const { link, clock, d } = setup();
  link.deliver(routerSolicit());
  assert.equal(link.sent.length, 1);
  const eth = EthernetView.checked(link.sent[0]!);
  assert.ok(!isWireError(eth));
  const v6 = Ipv6View.checked(eth.payload());
  assert.ok(!isWireError(v6));
  const up = walkIpv6(v6);
  assert.ok(!isWireError(up));
  const iv = Icmpv6View.checked(v6.buf.subarray(up.offset, up.offset + up.length));
  assert.ok(!isWireError(iv));
  assert.equal(iv.type, 134);
  assert.equal(d.counters.routerSolicits, 1);

  assert.equal(clock.timers.length, 1);
  assert.equal(clock.timers[0]!.ms, 400_000);
  clock.fire();
  assert.equal(d.counters.unsolicitedRas, 1);
  assert.equal(link.sent.length, 2);
  assert.equal(clock.timers.length, 1, 're-armed');
});

test('--no-ra: RS ignored and no timer', () => {
  const { link, clock, d } = setup({ noRa: true });
  link.deliver(routerSolicit());
  assert.equal(link.sent.length, 0);
  assert.equal(d.counters.ignored, 1);
  assert.equal(clock.timers.length, 0);
});

test('malformed frames are counted and dropped, never thrown', () => {
  const { link, d } = setup();
  const short = new Uint8Array(10);
  const badIp = arpRequest('10.88.0.1').slice();
  badIp[12] = 0x08;
  badIp[13] = 0x00; // claims IPv4, carries ARP bytes
  const badUdp = udp4('192.0.2.9', 53, new Uint8Array([1, 2, 3, 4]));
  badUdp[badUdp.length - 1] = badUdp[badUdp.length - 1]! ^ 0xff; // payload changed: UDP checksum no longer verifies
  const truncArp = arpRequest('10.88.0.1').subarray(0, 20);
  link.deliver(short, badIp, badUdp, truncArp);
  assert.equal(link.sent.length, 0);
  const m = d.counters.malformed;
  assert.equal(m.truncated + m.malformed + m['bad-checksum'] + m.unsupported, 4);
  assert.equal(d.counters.rxFrames, 4);
});

test('L4 traffic without hooks is counted unhandled; with hooks it reaches them', () => {
  const { link, d } = setup();
  link.deliver(udp4('192.0.2.9', 53, new Uint8Array([1])), tcpSyn(), echo4('192.0.2.9'));
  assert.equal(d.counters.unhandled, 3);
  assert.equal(link.sent.length, 0);

  const seen: string[] = [];
  let deps: L4Deps | undefined;
  const h = setup({
    l4: (dd) => {
      deps = dd;
      return {
        udp: (fam: number, _s: Uint8Array, dst: Uint8Array, _sp: number, dp: number) =>
          seen.push(`udp${fam} ${formatIpv4(dst)}:${dp}`),
        ping: (fam: number, _s: Uint8Array, dst: Uint8Array, ident: number) =>
          seen.push(`ping${fam} ${formatIpv4(dst)} ${ident}`),
      };
    },
  });
  h.link.deliver(udp4('192.0.2.9', 53, new Uint8Array([1])), tcpSyn(), echo4('192.0.2.9'));
  assert.deepEqual(seen, ['udp4 192.0.2.9:53', 'ping4 192.0.2.9 7']);
  assert.equal(h.d.counters.unhandled, 1, 'TCP');
  assert.equal(formatMac(deps!.guestMac()), formatMac(GUEST));
  deps!.toGuest([new Uint8Array(60)]);
  assert.equal(h.link.sent.length, 1);
});

test('echo to the gateway is answered; linkUp probes the guest; close is idempotent', async () => {
  const { link, clock, d } = setup();
  link.deliver(echo4('10.88.0.1'));
  assert.equal(d.counters.echoGateway, 1);
  assert.equal(link.sent.length, 1);
  d.linkUp();
  assert.equal(link.sent.length, 3, 'ARP request + NS');
  const arpEth = EthernetView.checked(link.sent[1]!);
  assert.ok(!isWireError(arpEth));
  assert.equal(arpEth.ethertype, EtherType.Arp);
  await Promise.all([d.close(), d.close()]);
  assert.ok(link.closed);
  assert.equal(clock.timers[0]!.live, false);
});

test('the L4 hooks are expired on a timer and closed with the daemon', async () => {
  const calls: string[] = [];
  const { clock, d } = setup({
    noRa: true,
    l4: () => ({
      expire: (now: number) => calls.push(`expire ${now}`),
      close: () => calls.push('close'),
    }),
  });
  assert.equal(clock.timers.length, 1);
  assert.equal(clock.timers[0]!.ms, 5_000);
  clock.fire();
  assert.deepEqual(calls, ['expire 1000']);
  assert.equal(clock.timers.length, 1, 're-armed');
  await d.close();
  assert.deepEqual(calls, ['expire 1000', 'close']);
  assert.equal(clock.timers[0]!.live, false);
});

test('each guest frame is parsed exactly once, whichever service or hook it goes to', () => {
  const frames = guestFrames();
  let parses = 0;
  const parser: GuestFrameParser = (f, trusted, into) => {
    parses++;
    return parseGuestFrame(f, trusted, into);
  };
  const hooks: string[] = [];
  const link = new FakeLink();
  const d = new PasstDaemon(cfg, link, {
    clock: new FakeClock(),
    parser,
    l4: () => ({
      udp: (fam, _s, _d, _sp, dp) => hooks.push(`udp${fam}:${dp}`),
      ping: (fam, _s, _d, ident) => hooks.push(`ping${fam}:${ident}`),
      tcp: (fam, _s, _d, seg) => hooks.push(`tcp${fam}:${seg.dstPort}`),
    }),
  });
  d.start();
  const all = Object.values(frames);
  link.deliver(...all);
  assert.equal(parses, all.length);
  for (const f of all) link.deliver(f);
  assert.equal(parses, 2 * all.length, 'one parse per frame, batched or not');
  const c = d.counters;
  assert.deepEqual(
    [c.arp, c.ndp, c.echoGateway, c.dhcp, c.dhcpv6, c.routerSolicits, c.udp, c.ping, c.tcp],
    [2, 2, 4, 2, 2, 2, 4, 4, 4],
  );
  assert.equal(c.unhandled + c.ignored + c.exceptions, 0);
  assert.equal(
    Object.values(c.malformed).reduce((a, b) => a + b, 0),
    0,
  );
  assert.deepEqual(hooks.slice(0, 6), [
    'udp4:53',
    'udp6:53',
    'ping4:7',
    'ping6:8',
    'tcp4:80',
    'tcp6:80',
  ]);
  const s = d.serviceCounters;
  assert.equal(s.responder.arpReplies + s.responder.neighborAdverts, 4);
  assert.equal(s.responder.echoReplies4 + s.responder.echoReplies6, 4);
  assert.deepEqual([s.dhcp.replies, s.dhcpv6.replies, s.ra.replies], [2, 2, 2]);
  assert.equal(link.sent.length, 14, 'every service frame answered');
});
