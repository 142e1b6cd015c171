// The kernel of a lab namespace pings and ARPs bindery's tap; the daemon's dispatch hands it to the responder, which answers (IPv4, IPv6 with NDP).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Lab } from '../lab/lab.js';
import { PasstDaemon, type Clock } from '../../src/usernet/passt.js';
import { tapLink } from '../../src/usernet/link/tap.js';
import type { PasstConfig } from '../../src/usernet/conf.js';
import { parseMac } from '../../src/wire/common.js';
import { run } from '../../src/cli/main.js';

const clock: Clock = {
  now: () => performance.now(),
  random: () => Math.random(),
  setTimer: (fn, ms) => setTimeout(fn, ms),
  clearTimer: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

test('ping -c 3 over IPv4 and IPv6 (with neighbour discovery) is answered through the tap', async (t) => {
  const lab = await Lab.create(t);
  const ns = await lab.namespace('resp');
  const tap = await lab.tap(ns, { addrs: ['10.77.0.15/24', 'fd00:77::15/64'] });
  const cfg: PasstConfig = {
    v4: {
      guestAddr: '10.77.0.15',
      prefixLen: 24,
      gateway: '10.77.0.2',
      mapHostLoopback: undefined,
      hostIface: undefined,
    },
    v6: {
      guestAddr: 'fd00:77::15',
      prefixLen: 64,
      gateway: 'fd00:77::2',
      mapHostLoopback: undefined,
      hostIface: undefined,
    },
    mtu: 1500,
    ourMac: parseMac('9a:55:9a:55:9a:55')!,
    nameservers: [],
    search: [],
  };
  // The real daemon on the tap, without L4 hooks: ARP, NDP and echo to the gateway are the
  // responder's (the RS the kernel sends on link-up gets its RA too).
  const d = new PasstDaemon(cfg, tapLink(tap), { clock });
  lab.defer(() => d.close());
  d.start();
  const c = d.serviceCounters.responder;
  const p4 = await lab.exec(ns, ['ping', '-c', '3', '-i', '0.2', '-W', '2', '10.77.0.2']);
  assert.equal(p4.code, 0, p4.stdout + p4.stderr);
  assert.match(p4.stdout, /3 packets transmitted, 3 received/);
  const p6 = await lab.exec(ns, ['ping', '-6', '-c', '3', '-i', '0.2', '-W', '2', 'fd00:77::2']);
  assert.equal(p6.code, 0, p6.stdout + p6.stderr);
  assert.match(p6.stdout, /3 packets transmitted, 3 received/);
  const neigh = await lab.exec(ns, ['ip', 'neigh', 'show']);
  assert.match(neigh.stdout, /10\.77\.0\.2 .*lladdr 9a:55:9a:55:9a:55/);
  assert.match(neigh.stdout, /fd00:77::2 .*lladdr 9a:55:9a:55:9a:55 router/);
  assert.ok(c.arpReplies >= 1 && c.neighborAdverts >= 1);
  assert.equal(c.echoReplies4, 3);
  assert.equal(c.echoReplies6, 3);
  assert.equal(d.counters.echoGateway, 6, 'the echo requests were dispatched to the responder');
  assert.equal(c.drops.malformed + c.drops['bad-checksum'] + c.drops.truncated, 0);
  const m = d.counters.malformed;
  assert.equal(m.malformed + m['bad-checksum'] + m.truncated + m.unsupported, 0);
  assert.equal(d.counters.exceptions, 0);
});

test('bindery demo runs the same exchange end to end and exits 0', async () => {
  let out = '';
  const code = await run(['demo'], { out: (s) => (out += s), err: (s) => (out += s) });
  assert.equal(code, 0, out);
  assert.match(out, /demo: OK/);
  assert.match(out, /3 received/);
});
