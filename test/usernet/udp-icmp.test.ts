// A lab namespace pings and sends UDP to the gateway through a tap; bindery's UDP and ping translators carry it to host loopback.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { Lab, labSkipReason } from '../lab/lab.js';
import { respond, newCounters } from '../../src/usernet/iface/responder.js';
import { UdpTranslator } from '../../src/usernet/flow/udp.js';
import type { FlowDeps } from '../../src/usernet/flow/deps.js';
import { nativeHost } from '../../src/usernet/host/index.js';
import { PingTranslator } from '../../src/usernet/flow/icmp.js';
import { FlowTable } from '../../src/usernet/flow/table.js';
import type { PasstConfig } from '../../src/usernet/conf.js';
import { EthernetView, EtherType } from '../../src/wire/ethernet.js';
import { Ipv4View, parseIpv4 as parseIpv4Header, IpProtocol } from '../../src/wire/ipv4.js';
import { Ipv6View, parseIpv6 as parseIpv6Header, ipv6Upper } from '../../src/wire/ipv6.js';
import { UdpView, parseUdp } from '../../src/wire/udp.js';
import { Icmpv4View, parseIcmpv4 } from '../../src/wire/icmpv4.js';
import { Icmpv6View, parseIcmpv6 } from '../../src/wire/icmpv6.js';
import { isWireError, parseIpv6, parseMac } from '../../src/wire/common.js';

const OUR_MAC = parseMac('9a:55:9a:55:9a:55')!;
const cfg: PasstConfig = {
  v4: {
    guestAddr: '10.89.0.15',
    prefixLen: 24,
    gateway: '10.89.0.1',
    mapHostLoopback: '10.89.0.1',
    hostIface: undefined,
  },
  v6: {
    guestAddr: 'fd00:89::15',
    prefixLen: 64,
    gateway: 'fd00:89::1',
    mapHostLoopback: 'fd00:89::1',
    hostIface: undefined,
  },
  mtu: 65520,
  ourMac: OUR_MAC,
  nameservers: [],
  search: [],
};

/** Dispatches one guest frame: UDP and echo requests to the translators, the rest to respond(). */
function dispatch(
  frame: Uint8Array,
  udp: UdpTranslator,
  ping: PingTranslator,
  other: (f: Uint8Array) => void,
): void {
  const eth = EthernetView.checked(frame);
  if (isWireError(eth)) return;
  if (eth.ethertype === EtherType.Ipv4) {
    const v = Ipv4View.checked(eth.payload());
    if (isWireError(v)) return;
    const ip = parseIpv4Header(v);
    if (isWireError(ip) || ip.fragment) return;
    if (ip.protocol === IpProtocol.Udp) {
      const u = UdpView.checked(v.payload());
      if (isWireError(u)) return;
      const r = parseUdp(u, ip.src, ip.dst);
      if (isWireError(r)) return;
      return udp.fromGuest(4, ip.src, ip.dst, r.srcPort, r.dstPort, u.payload());
    }
    if (ip.protocol === IpProtocol.Icmp) {
      const iv = Icmpv4View.checked(v.payload());
      if (isWireError(iv)) return;
      const m = parseIcmpv4(iv);
      if (!isWireError(m) && m.type === 8)
        return ping.fromGuest(4, ip.src, ip.dst, m.ident, m.seqNo, m.data);
    }
  } else if (eth.ethertype === EtherType.Ipv6) {
    const v = Ipv6View.checked(eth.payload());
    if (isWireError(v)) return;
    const ip = parseIpv6Header(v);
    if (isWireError(ip) || ip.fragment) return;
    const l4 = ipv6Upper(v, ip);
    if (ip.nextHeader === IpProtocol.Udp) {
      const u = UdpView.checked(l4);
      if (isWireError(u)) return;
      const r = parseUdp(u, ip.src, ip.dst);
      if (isWireError(r)) return;
      return udp.fromGuest(6, ip.src, ip.dst, r.srcPort, r.dstPort, u.payload());
    }
    if (ip.nextHeader === IpProtocol.Icmpv6) {
      const iv = Icmpv6View.checked(l4);
      if (isWireError(iv)) return;
      const m = parseIcmpv6(iv, ip.src, ip.dst);
      if (!isWireError(m) && m.type === 128)
        return ping.fromGuest(6, ip.src, ip.dst, m.ident, m.seqNo, m.data);
    }
  }
  other(frame);
}

async function echoServer(addr: string): Promise<{ sock: Socket; port: number }> {
  const sock = createSocket(addr.includes(':') ? 'udp6' : 'udp4');
  sock.on('message', (m, r) =>
    sock.send(Buffer.concat([Buffer.from('echo:'), m]), r.port, r.address),
  );
  sock.bind(0, addr);
  await once(sock, 'listening');
  return { sock, port: sock.address().port };
}

const pyUdp = (family: 'AF_INET' | 'AF_INET6', addr: string, port: number) =>
  [
    'import socket',
    `s = socket.socket(socket.${family}, socket.SOCK_DGRAM)`,
    's.settimeout(3)',
    `s.sendto(b'hello', ('${addr}', ${port}))`,
    'd, a = s.recvfrom(2048)',
    'print(d.decode(), a[0], a[1])',
  ].join('\n');

test(
  'ping and UDP from a namespace reach host loopback through the gateway mapping',
  { skip: labSkipReason() },
  async (t) => {
    const lab = await Lab.create(t);
    const ns = await lab.namespace('guest');
    const pns = await lab.namespace('ping');
    await lab.sysctl(pns, 'net.ipv4.ping_group_range', '0 2147483647');
    const tap = await lab.tap(ns, { addrs: ['10.89.0.15/24', 'fd00:89::15/64'] });
    await lab.ip(ns, ['route', 'add', 'default', 'via', '10.89.0.1']);
    await lab.ip(ns, ['-6', 'route', 'add', 'default', 'via', 'fd00:89::1']);

    let guestMac: Uint8Array | undefined;
    const deps: FlowDeps = {
      host: nativeHost(),
      table: new FlowTable(),
      cfg,
      hostResolvers: [],
      ourMac: OUR_MAC,
      guestMac: () => guestMac,
      toGuest: (frames) => tap.send(frames),
      now: () => Date.now(),
    };
    const udp = new UdpTranslator(deps);
    const ping = new PingTranslator({ ...deps, pingNetns: pns });
    lab.defer(() => {
      udp.close();
      ping.close();
    });
    const rcfg = { ourMac: OUR_MAC, gateways6: [parseIpv6('fd00:89::1')!] };
    const rc = newCounters();
    tap.onFrames((frames) => {
      const out: Uint8Array[] = [];
      for (const f of frames) {
        guestMac ??= f.slice(6, 12);
        dispatch(f, udp, ping, (o) => out.push(...respond(rcfg, o, rc)));
      }
      if (out.length > 0) tap.send(out);
    });

    const p4 = await lab.exec(ns, ['ping', '-c', '3', '-i', '0.2', '-W', '2', '10.89.0.1']);
    assert.equal(p4.code, 0, p4.stdout + p4.stderr);
    assert.match(p4.stdout, /3 packets transmitted, 3 received/);
    const p6 = await lab.exec(ns, ['ping', '-6', '-c', '3', '-i', '0.2', '-W', '2', 'fd00:89::1']);
    assert.equal(p6.code, 0, p6.stdout + p6.stderr);
    assert.match(p6.stdout, /3 packets transmitted, 3 received/);
    assert.equal(ping.counters.requests, 6);
    assert.equal(ping.counters.replies, 6);
    assert.equal(ping.counters.flowsOpened, 2);
    assert.equal(
      rc.echoReplies4 + rc.echoReplies6,
      0,
      'answered by the translator, not the responder',
    );

    const s4 = await echoServer('127.0.0.1');
    const s6 = await echoServer('::1');
    lab.defer(() => {
      s4.sock.close();
      s6.sock.close();
    });
    const u4 = await lab.exec(ns, ['python3', '-c', pyUdp('AF_INET', '10.89.0.1', s4.port)]);
    assert.equal(u4.code, 0, u4.stdout + u4.stderr);
    assert.equal(u4.stdout.trim(), `echo:hello 10.89.0.1 ${s4.port}`);
    const u6 = await lab.exec(ns, ['python3', '-c', pyUdp('AF_INET6', 'fd00:89::1', s6.port)]);
    assert.equal(u6.code, 0, u6.stdout + u6.stderr);
    assert.equal(u6.stdout.trim(), `echo:hello fd00:89::1 ${s6.port}`);
    assert.equal(udp.counters.fromGuest, 2);
    assert.equal(udp.counters.toGuest, 2);
    assert.equal(udp.counters.flowsOpened, 2);

    // A closed port on host loopback: the guest's connected socket sees ECONNREFUSED.
    const probe = createSocket('udp4');
    probe.bind(0, '127.0.0.1');
    await once(probe, 'listening');
    const closed = probe.address().port;
    probe.close();
    const refused = [
      'import socket',
      's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
      's.settimeout(3)',
      `s.connect(('10.89.0.1', ${closed}))`,
      "s.send(b'x')",
      'try:',
      '    s.recv(100)',
      'except ConnectionRefusedError:',
      "    print('refused')",
    ].join('\n');
    const ur = await lab.exec(ns, ['python3', '-c', refused]);
    assert.equal(ur.stdout.trim(), 'refused', ur.stdout + ur.stderr);
    assert.equal(udp.counters.unreachableToGuest, 1);
  },
);
