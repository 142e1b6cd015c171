// A lab namespace pings and sends UDP to the host-loopback address through a tap; the daemon's dispatch hands it to bindery's UDP and ping translators, which carry it to host loopback.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { Lab, labSkipReason } from '../lab/lab.js';
import { UdpTranslator } from '../../src/usernet/flow/udp.js';
import { nativeHost } from '../../src/usernet/host/index.js';
import { PingTranslator } from '../../src/usernet/flow/icmp.js';
import { PasstDaemon, type Clock } from '../../src/usernet/passt.js';
import { tapLink } from '../../src/usernet/link/tap.js';
import type { PasstConfig } from '../../src/usernet/conf.js';
import { parseMac } from '../../src/wire/common.js';

const clock: Clock = {
  now: () => performance.now(),
  random: () => Math.random(),
  setTimer: (fn, ms) => setTimeout(fn, ms),
  clearTimer: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

const OUR_MAC = parseMac('9a:55:9a:55:9a:55')!;
const cfg: PasstConfig = {
  v4: {
    guestAddr: '10.89.0.15',
    prefixLen: 24,
    gateway: '10.89.0.1',
    // Not the gateway: echo requests to the gateway are the responder's (iface/dispatch.ts).
    mapHostLoopback: '10.89.0.2',
    hostIface: undefined,
  },
  v6: {
    guestAddr: 'fd00:89::15',
    prefixLen: 64,
    gateway: 'fd00:89::1',
    mapHostLoopback: 'fd00:89::2',
    hostIface: undefined,
  },
  mtu: 65520,
  ourMac: OUR_MAC,
  nameservers: [],
  search: [],
};

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

    // The real daemon with the real UDP and ping translators as its L4 hooks.
    let udp: UdpTranslator | undefined;
    let ping: PingTranslator | undefined;
    const d = new PasstDaemon(cfg, tapLink(tap), {
      clock,
      l4: (deps) => {
        const fdeps = { ...deps, host: nativeHost() };
        const u = (udp = new UdpTranslator(fdeps));
        const p = (ping = new PingTranslator({ ...fdeps, pingNetns: pns }));
        return {
          udp: (fam, src, dst, sp, dp, payload) => u.fromGuest(fam, src, dst, sp, dp, payload),
          ping: (fam, src, dst, ident, seqNo, data) =>
            p.fromGuest(fam, src, dst, ident, seqNo, data),
          expire: (now) => {
            u.expire(now);
            p.expire(now);
          },
          close: () => {
            u.close();
            p.close();
          },
        };
      },
    });
    lab.defer(() => d.close());
    d.start();
    assert.ok(udp && ping);
    const rc = d.serviceCounters.responder;

    const p4 = await lab.exec(ns, ['ping', '-c', '3', '-i', '0.2', '-W', '2', '10.89.0.2']);
    assert.equal(p4.code, 0, p4.stdout + p4.stderr);
    assert.match(p4.stdout, /3 packets transmitted, 3 received/);
    const p6 = await lab.exec(ns, ['ping', '-6', '-c', '3', '-i', '0.2', '-W', '2', 'fd00:89::2']);
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
    assert.equal(d.counters.ping, 6);
    // The gateway itself is answered by the responder, not carried to the host.
    const pg = await lab.exec(ns, ['ping', '-c', '1', '-W', '2', '10.89.0.1']);
    assert.equal(pg.code, 0, pg.stdout + pg.stderr);
    assert.equal(rc.echoReplies4, 1);
    assert.equal(ping.counters.requests, 6);

    const s4 = await echoServer('127.0.0.1');
    const s6 = await echoServer('::1');
    lab.defer(() => {
      s4.sock.close();
      s6.sock.close();
    });
    const u4 = await lab.exec(ns, ['python3', '-c', pyUdp('AF_INET', '10.89.0.2', s4.port)]);
    assert.equal(u4.code, 0, u4.stdout + u4.stderr);
    assert.equal(u4.stdout.trim(), `echo:hello 10.89.0.2 ${s4.port}`);
    const u6 = await lab.exec(ns, ['python3', '-c', pyUdp('AF_INET6', 'fd00:89::2', s6.port)]);
    assert.equal(u6.code, 0, u6.stdout + u6.stderr);
    assert.equal(u6.stdout.trim(), `echo:hello fd00:89::2 ${s6.port}`);
    assert.equal(udp.counters.fromGuest, 2);
    assert.equal(udp.counters.toGuest, 2);
    assert.equal(udp.counters.flowsOpened, 2);
    assert.equal(d.counters.udp, 2);

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
      `s.connect(('10.89.0.2', ${closed}))`,
      "s.send(b'x')",
      'try:',
      '    s.recv(100)',
      'except ConnectionRefusedError:',
      "    print('refused')",
    ].join('\n');
    const ur = await lab.exec(ns, ['python3', '-c', refused]);
    assert.equal(ur.stdout.trim(), 'refused', ur.stdout + ur.stderr);
    assert.equal(udp.counters.unreachableToGuest, 1);
    const m = d.counters.malformed;
    assert.equal(m.malformed + m['bad-checksum'] + m.truncated + m.unsupported, 0);
    assert.equal(d.counters.exceptions, 0);
  },
);
