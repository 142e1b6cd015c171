// Tests of the DHCPv4 server: every reply type and option parsed back, policy skips, fuzzed input that never throws, tshark decoding.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { handleDhcp, newAddressServiceCounters, INFINITE_LEASE } from './dhcp-server.js';
import { parseGuestFrame } from './packet.js';
import type { PasstConfig } from '../conf.js';
import { buildIpv4Frame } from '../../wire/build.js';
import { EthernetView } from '../../wire/ethernet.js';
import { Ipv4View, IpProtocol, parseIpv4 as parseIpv4Packet } from '../../wire/ipv4.js';
import { UdpView, parseUdp, emitUdp, UDP_HEADER_LEN } from '../../wire/udp.js';
import {
  DhcpMessageType,
  DhcpOp,
  dhcpBufferLen,
  emitDhcp,
  parseDhcp,
  type DhcpRepr,
} from '../../wire/dhcp.js';
import { formatIpv4, formatMac, isWireError, parseIpv4, parseMac } from '../../wire/common.js';
import { tsharkDecode, tsharkProblems } from '../../../test/lab/tshark.js';

const OUR = parseMac('9a:55:9a:55:9a:55')!;
const GUEST = parseMac('52:54:00:12:34:56')!;
const BCAST = parseMac('ff:ff:ff:ff:ff:ff')!;
const ZERO = new Uint8Array(4);

const cfg: PasstConfig = {
  v4: {
    guestAddr: '10.88.0.15',
    prefixLen: 24,
    gateway: '10.88.0.1',
    mapHostLoopback: undefined,
    hostIface: undefined,
  },
  v6: undefined,
  mtu: 65520,
  ourMac: OUR,
  nameservers: ['10.88.0.53', 'fd00::53', '10.88.0.54'],
  search: ['example.test', 'lab.example'],
};

function chaddr(): Uint8Array {
  const c = new Uint8Array(16);
  c.set(GUEST);
  return c;
}

function request(
  fields: Partial<DhcpRepr>,
  ip: { src?: string; dst?: string; dstPort?: number } = {},
): Uint8Array {
  const repr: DhcpRepr = {
    op: DhcpOp.BootRequest,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid: 0x12345678,
    secs: 0,
    broadcast: false,
    ciaddr: ZERO,
    yiaddr: ZERO,
    siaddr: ZERO,
    giaddr: ZERO,
    chaddr: chaddr(),
    sname: new Uint8Array(0),
    file: new Uint8Array(0),
    options: [],
    ...fields,
  };
  const src = parseIpv4(ip.src ?? '0.0.0.0')!;
  const dst = parseIpv4(ip.dst ?? '255.255.255.255')!;
  const payloadLen = dhcpBufferLen(repr);
  const udp = { srcPort: 68, dstPort: ip.dstPort ?? 67, payloadLen };
  return buildIpv4Frame(
    GUEST,
    BCAST,
    { src, dst, protocol: IpProtocol.Udp },
    UDP_HEADER_LEN + payloadLen,
    (l4) => {
      emitDhcp(repr, l4.subarray(UDP_HEADER_LEN));
      emitUdp(udp, l4, src, dst);
    },
  );
}

interface Reply {
  ethDst: string;
  ethSrc: string;
  ipSrc: string;
  ipDst: string;
  srcPort: number;
  dstPort: number;
  dhcp: DhcpRepr;
}

function decode(frame: Uint8Array | undefined): Reply {
  assert.ok(frame, 'expected a reply');
  const eth = EthernetView.checked(frame);
  assert.ok(!isWireError(eth));
  const iv = Ipv4View.checked(eth.payload());
  assert.ok(!isWireError(iv));
  const ip = parseIpv4Packet(iv);
  assert.ok(!isWireError(ip));
  assert.equal(ip.protocol, IpProtocol.Udp);
  const uv = UdpView.checked(iv.payload());
  assert.ok(!isWireError(uv));
  const udp = parseUdp(uv, ip.src, ip.dst);
  assert.ok(!isWireError(udp), 'UDP checksum');
  const dhcp = parseDhcp(uv.buf.subarray(UDP_HEADER_LEN, UDP_HEADER_LEN + udp.payloadLen));
  assert.ok(!isWireError(dhcp));
  return {
    ethDst: formatMac(eth.dst),
    ethSrc: formatMac(eth.src),
    ipSrc: formatIpv4(ip.src),
    ipDst: formatIpv4(ip.dst),
    srcPort: udp.srcPort,
    dstPort: udp.dstPort,
    dhcp,
  };
}

const ip4 = (a: Uint8Array | undefined): string | undefined => (a ? formatIpv4(a) : undefined);

function assertConfigOptions(d: DhcpRepr): void {
  assert.equal(ip4(d.subnetMask), '255.255.255.0');
  assert.deepEqual(d.routers?.map(formatIpv4), ['10.88.0.1']);
  assert.deepEqual(d.dnsServers?.map(formatIpv4), ['10.88.0.53', '10.88.0.54']);
  assert.equal(d.interfaceMtu, 65520);
  assert.equal(ip4(d.serverId), '10.88.0.1');
  assert.deepEqual(d.domainSearch, ['example.test', 'lab.example']);
  assert.equal(d.classlessRoutes, undefined);
}

test('DISCOVER gets an OFFER of the guest address with every option, broadcast from the gateway', () => {
  const c = newAddressServiceCounters();
  const r = decode(
    handleDhcp(cfg, parseGuestFrame(request({ messageType: DhcpMessageType.Discover })), c, {
      hostname: 'vm1',
    }),
  );
  assert.equal(r.ethDst, 'ff:ff:ff:ff:ff:ff');
  assert.equal(r.ethSrc, formatMac(OUR));
  assert.equal(r.ipSrc, '10.88.0.1');
  assert.equal(r.ipDst, '255.255.255.255');
  assert.equal(r.srcPort, 67);
  assert.equal(r.dstPort, 68);
  const d = r.dhcp;
  assert.equal(d.op, DhcpOp.BootReply);
  assert.equal(d.xid, 0x12345678);
  assert.deepEqual(d.chaddr, chaddr());
  assert.equal(d.messageType, DhcpMessageType.Offer);
  assert.equal(ip4(d.yiaddr), '10.88.0.15');
  assert.equal(ip4(d.ciaddr), '0.0.0.0');
  assert.equal(d.leaseTimeS, INFINITE_LEASE);
  assert.equal(d.hostName, 'vm1');
  assert.equal(d.rapidCommit, undefined);
  assertConfigOptions(d);
  assert.equal(c.replies, 1);
});

test('DISCOVER with Rapid Commit (option 80) gets an ACK carrying option 80 (RFC 4039 §4)', () => {
  const c = newAddressServiceCounters();
  const d = decode(
    handleDhcp(
      cfg,
      parseGuestFrame(request({ messageType: DhcpMessageType.Discover, rapidCommit: true })),
      c,
    ),
  ).dhcp;
  assert.equal(d.messageType, DhcpMessageType.Ack);
  assert.equal(d.rapidCommit, true);
  assert.equal(ip4(d.yiaddr), '10.88.0.15');
  assert.equal(d.hostName, undefined);
  assertConfigOptions(d);
});

test('REQUEST for the offered address is ACKed; for another address NAKed; for another server ignored', () => {
  const c = newAddressServiceCounters();
  const ack = decode(
    handleDhcp(
      cfg,
      parseGuestFrame(
        request({
          messageType: DhcpMessageType.Request,
          requestedAddr: parseIpv4('10.88.0.15')!,
          serverId: parseIpv4('10.88.0.1')!,
        }),
      ),
      c,
    ),
  );
  assert.equal(ack.dhcp.messageType, DhcpMessageType.Ack);
  assert.equal(ip4(ack.dhcp.yiaddr), '10.88.0.15');
  assert.equal(ack.dhcp.leaseTimeS, INFINITE_LEASE);
  assert.equal(ack.ipDst, '255.255.255.255');
  assertConfigOptions(ack.dhcp);

  const nak = decode(
    handleDhcp(
      cfg,
      parseGuestFrame(
        request({ messageType: DhcpMessageType.Request, requestedAddr: parseIpv4('10.88.0.99')! }),
      ),
      c,
    ),
  );
  assert.equal(nak.dhcp.messageType, DhcpMessageType.Nak);
  assert.equal(ip4(nak.dhcp.yiaddr), '0.0.0.0');
  assert.equal(ip4(nak.dhcp.serverId), '10.88.0.1');
  assert.equal(nak.dhcp.subnetMask, undefined);
  assert.equal(nak.dhcp.leaseTimeS, undefined);
  assert.equal(nak.ethDst, 'ff:ff:ff:ff:ff:ff');
  assert.equal(nak.ipDst, '255.255.255.255');

  const other = handleDhcp(
    cfg,
    parseGuestFrame(
      request({
        messageType: DhcpMessageType.Request,
        requestedAddr: parseIpv4('10.88.0.15')!,
        serverId: parseIpv4('10.88.0.2')!,
      }),
    ),
    c,
  );
  assert.equal(other, undefined);
  assert.equal(c.unhandled, 1);
  assert.equal(c.replies, 2);
});

test('a renewing REQUEST (ciaddr set, no broadcast flag) is ACKed by unicast; broadcast flag forces broadcast', () => {
  const c = newAddressServiceCounters();
  const guest = parseIpv4('10.88.0.15')!;
  const r = decode(
    handleDhcp(
      cfg,
      parseGuestFrame(
        request({ messageType: DhcpMessageType.Request, ciaddr: guest }, { src: '10.88.0.15' }),
      ),
      c,
    ),
  );
  assert.equal(r.dhcp.messageType, DhcpMessageType.Ack);
  assert.equal(ip4(r.dhcp.ciaddr), '10.88.0.15');
  assert.equal(r.ipDst, '10.88.0.15');
  assert.equal(r.ethDst, formatMac(GUEST));
  const b = decode(
    handleDhcp(
      cfg,
      parseGuestFrame(
        request(
          { messageType: DhcpMessageType.Request, ciaddr: guest, broadcast: true },
          { src: '10.88.0.15' },
        ),
      ),
      c,
    ),
  );
  assert.equal(b.ipDst, '255.255.255.255');
  assert.equal(b.ethDst, 'ff:ff:ff:ff:ff:ff');
  assert.equal(b.dhcp.broadcast, true);
  const renewOther = decode(
    handleDhcp(
      cfg,
      parseGuestFrame(
        request({ messageType: DhcpMessageType.Request, ciaddr: parseIpv4('10.88.0.16')! }),
      ),
      c,
    ),
  );
  assert.equal(renewOther.dhcp.messageType, DhcpMessageType.Nak);
});

test('INFORM gets an ACK without yiaddr and without a lease time (RFC 2131 §4.3.5), unicast to ciaddr', () => {
  const c = newAddressServiceCounters();
  const r = decode(
    handleDhcp(
      cfg,
      parseGuestFrame(
        request(
          { messageType: DhcpMessageType.Inform, ciaddr: parseIpv4('10.88.0.15')! },
          { src: '10.88.0.15', dst: '10.88.0.1' },
        ),
      ),
      c,
    ),
  );
  assert.equal(r.dhcp.messageType, DhcpMessageType.Ack);
  assert.equal(ip4(r.dhcp.yiaddr), '0.0.0.0');
  assert.equal(r.dhcp.leaseTimeS, undefined);
  assert.equal(r.ipDst, '10.88.0.15');
  assert.equal(r.ethDst, formatMac(GUEST));
  assertConfigOptions(r.dhcp);
});

test('a gateway outside the subnet adds option 121 (RFC 3442); mtu 0 omits 26; no resolvers omit 6 and 119', () => {
  const c = newAddressServiceCounters();
  const far: PasstConfig = {
    ...cfg,
    v4: { ...cfg.v4!, prefixLen: 32, gateway: '10.99.0.1' },
    mtu: 0,
    nameservers: [],
    search: [],
  };
  const d = decode(
    handleDhcp(far, parseGuestFrame(request({ messageType: DhcpMessageType.Discover })), c),
  ).dhcp;
  assert.equal(ip4(d.subnetMask), '255.255.255.255');
  assert.deepEqual(
    d.classlessRoutes?.map((r) => [formatIpv4(r.prefix), r.prefixLen, formatIpv4(r.router)]),
    [
      ['10.99.0.1', 32, '0.0.0.0'],
      ['0.0.0.0', 0, '10.99.0.1'],
    ],
  );
  assert.deepEqual(d.routers?.map(formatIpv4), ['10.99.0.1']);
  assert.equal(ip4(d.serverId), '10.99.0.1');
  assert.equal(d.interfaceMtu, undefined);
  assert.equal(d.dnsServers, undefined);
  assert.equal(d.domainSearch, undefined);
});

test('other message types, BOOTP, replies, other ports and other protocols get no reply, counted', () => {
  const c = newAddressServiceCounters();
  for (const t of [
    DhcpMessageType.Decline,
    DhcpMessageType.Release,
    DhcpMessageType.Offer,
    DhcpMessageType.Ack,
    77,
  ])
    assert.equal(handleDhcp(cfg, parseGuestFrame(request({ messageType: t })), c), undefined);
  assert.equal(handleDhcp(cfg, parseGuestFrame(request({})), c), undefined);
  assert.equal(
    handleDhcp(
      cfg,
      parseGuestFrame(request({ messageType: DhcpMessageType.Discover, op: DhcpOp.BootReply })),
      c,
    ),
    undefined,
  );
  assert.equal(c.unhandled, 7);
  assert.equal(
    handleDhcp(
      cfg,
      parseGuestFrame(request({ messageType: DhcpMessageType.Discover }, { dstPort: 68 })),
      c,
    ),
    undefined,
  );
  assert.equal(
    handleDhcp({ ...cfg, v4: undefined }, parseGuestFrame(request({ messageType: 1 })), c),
    undefined,
  );
  assert.equal(c.ignored, 2);
  assert.equal(c.replies, 0);
});

test('random and mutated frames never throw; any reply is a well-formed DHCP reply', () => {
  const seeds = [
    request({ messageType: DhcpMessageType.Discover, rapidCommit: true }),
    request({ messageType: DhcpMessageType.Request, requestedAddr: parseIpv4('10.88.0.15')! }),
    request({ messageType: DhcpMessageType.Inform, ciaddr: parseIpv4('10.88.0.15')! }),
  ];
  const c = newAddressServiceCounters();
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 400 }),
        fc
          .tuple(fc.constantFrom(...seeds), fc.nat(400), fc.integer({ min: 0, max: 255 }))
          .map(([s, i, v]) => {
            const m = s.slice();
            m[i % m.length] = v;
            return m;
          }),
        fc.tuple(fc.constantFrom(...seeds), fc.nat(400)).map(([s, n]) => s.slice(0, n)),
      ),
      (frame) => {
        const out = handleDhcp(cfg, parseGuestFrame(frame), c, { hostname: 'vm1' });
        if (out) assert.equal(decode(out).dhcp.op, DhcpOp.BootReply);
      },
    ),
    { numRuns: 2000 },
  );
  assert.equal(c.rxFrames, c.replies + c.ignored + c.unhandled + sumDrops(c.drops));
});

function sumDrops(d: Record<string, number>): number {
  return Object.values(d).reduce((a, b) => a + b, 0);
}

test('tshark decodes OFFER, rapid ACK, ACK, NAK, INFORM ACK and a 121 reply without problems', async () => {
  const c = newAddressServiceCounters();
  const far: PasstConfig = { ...cfg, v4: { ...cfg.v4!, prefixLen: 32, gateway: '10.99.0.1' } };
  const replies = [
    handleDhcp(cfg, parseGuestFrame(request({ messageType: DhcpMessageType.Discover })), c, {
      hostname: 'vm1',
    }),
    handleDhcp(
      cfg,
      parseGuestFrame(request({ messageType: DhcpMessageType.Discover, rapidCommit: true })),
      c,
    ),
    handleDhcp(
      cfg,
      parseGuestFrame(
        request({ messageType: DhcpMessageType.Request, requestedAddr: parseIpv4('10.88.0.15')! }),
      ),
      c,
    ),
    handleDhcp(
      cfg,
      parseGuestFrame(
        request({ messageType: DhcpMessageType.Request, requestedAddr: parseIpv4('10.88.0.9')! }),
      ),
      c,
    ),
    handleDhcp(
      cfg,
      parseGuestFrame(
        request({ messageType: DhcpMessageType.Inform, ciaddr: parseIpv4('10.88.0.15')! }),
      ),
      c,
    ),
    handleDhcp(far, parseGuestFrame(request({ messageType: DhcpMessageType.Discover })), c),
  ];
  const frames = replies.map((f) => {
    assert.ok(f);
    return f;
  });
  const decoded = await tsharkDecode(frames);
  assert.equal(decoded.length, frames.length);
  for (const f of decoded) assert.match(f.protocols, /udp:dhcp/);
  assert.deepEqual(tsharkProblems(decoded), []);
});

test('the pod-side options: another server id and source, explicit routers and option-121 routes', () => {
  const c = newAddressServiceCounters();
  const opts = {
    serverId: '169.254.75.10',
    routers: ['10.88.0.1'],
    classlessRoutes: [
      { prefix: parseIpv4('10.96.0.0')!, prefixLen: 12, router: parseIpv4('10.88.0.1')! },
      { prefix: ZERO, prefixLen: 0, router: parseIpv4('10.88.0.1')! },
    ],
  };
  const r = decode(
    handleDhcp(cfg, parseGuestFrame(request({ messageType: DhcpMessageType.Discover })), c, opts),
  );
  assert.equal(r.ipSrc, '169.254.75.10');
  assert.equal(ip4(r.dhcp.serverId), '169.254.75.10');
  assert.deepEqual(r.dhcp.routers?.map(formatIpv4), ['10.88.0.1']);
  assert.deepEqual(
    r.dhcp.classlessRoutes?.map((x) => `${formatIpv4(x.prefix)}/${x.prefixLen}>${ip4(x.router)}`),
    ['10.96.0.0/12>10.88.0.1', '0.0.0.0/0>10.88.0.1'],
  );
  // A REQUEST naming that server is ours; one naming the gateway is not.
  const serverId = parseIpv4('169.254.75.10')!;
  const ack = decode(
    handleDhcp(
      cfg,
      parseGuestFrame(
        request({
          messageType: DhcpMessageType.Request,
          serverId,
          requestedAddr: parseIpv4('10.88.0.15')!,
        }),
      ),
      c,
      opts,
    ),
  );
  assert.equal(ack.dhcp.messageType, DhcpMessageType.Ack);
  const other = request({
    messageType: DhcpMessageType.Request,
    serverId: parseIpv4('10.88.0.1')!,
    requestedAddr: parseIpv4('10.88.0.15')!,
  });
  assert.equal(handleDhcp(cfg, parseGuestFrame(other), c, opts), undefined);
  // No routers and no routes: neither option 3 nor 121.
  const bare = decode(
    handleDhcp(cfg, parseGuestFrame(request({ messageType: DhcpMessageType.Discover })), c, {
      routers: [],
      classlessRoutes: [],
    }),
  );
  assert.equal(bare.dhcp.routers, undefined);
  assert.equal(bare.dhcp.classlessRoutes, undefined);
  assert.equal(bare.ipSrc, '10.88.0.1');
});
