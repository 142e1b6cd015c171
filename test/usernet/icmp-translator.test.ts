// Real-socket tests of the ping translator with ping sockets in a lab namespace (unit tests on the in-memory kernel: src/usernet/flow/icmp.test.ts).
import { nativeHost } from '../../src/usernet/host/index.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PingTranslator, PING_TIMEOUT_MS } from '../../src/usernet/flow/icmp.js';
import { FlowTable } from '../../src/usernet/flow/table.js';
import { Lab, labSkipReason } from '../lab/lab.js';
import { openPingSocket } from '../../src/native/index.js';
import { parseIpv4 } from '../../src/wire/common.js';
import { G4, GW4, G6, GW6 } from '../lab/flow-fixtures.js';
import { decodeEcho, flowHarness, text, type EchoDecoded } from '../lab/flow-harness.js';
import { waitFor } from '../lab/wait.js';

function harness(pingNetns: string, table = new FlowTable()) {
  const logs: string[] = [];
  const f = flowHarness(nativeHost(), table);
  const ping = new PingTranslator({ ...f.deps, log: (m) => logs.push(m), pingNetns });
  const next = async (): Promise<EchoDecoded> => {
    await waitFor(() => f.frames.length > 0, 3000, 'a frame to the guest');
    return decodeEcho(f.frames.shift()!);
  };
  return { ...f, ping, logs, next };
}

const skip = labSkipReason();

test(
  'echo to the gateway is answered by host loopback (IPv4 and IPv6), ids mapped back',
  { skip },
  async (t) => {
    const lab = await Lab.create(t);
    const ns = await lab.namespace('p');
    await lab.sysctl(ns, 'net.ipv4.ping_group_range', '0 2147483647');
    const h = harness(ns);
    t.after(() => h.ping.close());

    h.ping.fromGuest(4, G4, GW4, 0x1234, 1, text('abcdefgh'));
    assert.deepEqual(await h.next(), {
      ethSrc: '9a:55:9a:55:9a:55',
      ethDst: '02:00:00:00:00:05',
      src: '10.0.0.1',
      dst: '10.0.0.5',
      type: 0,
      ident: 0x1234,
      seqNo: 1,
      data: 'abcdefgh',
    });
    h.ping.fromGuest(4, G4, GW4, 0x1234, 2, text('second'));
    const r2 = await h.next();
    assert.equal(r2.seqNo, 2);
    assert.equal(r2.data, 'second');
    assert.equal(h.ping.counters.flowsOpened, 1);

    h.ping.fromGuest(6, G6, GW6, 0x4321, 7, text('six'));
    const r6 = await h.next();
    assert.deepEqual(
      [r6.src, r6.dst, r6.type, r6.ident, r6.seqNo, r6.data],
      ['fe80::1', 'fd00::5', 129, 0x4321, 7, 'six'],
    );

    // The identifier is taken in that namespace: the kernel picks another, replies get ours back.
    const squatter = openPingSocket({ family: 4, ident: 0x5555, netns: ns });
    t.after(() => squatter.close());
    h.ping.fromGuest(4, G4, GW4, 0x5555, 9, text('remapped'));
    const rr = await h.next();
    assert.equal(rr.ident, 0x5555);
    assert.equal(rr.data, 'remapped');
    const flow = [...h.table.all()].find((f) => f.sides[0].endpointPort === 0x5555);
    assert.ok(flow && flow.sides[1].ourPort !== 0x5555);

    assert.equal(h.ping.counters.requests, 4);
    assert.equal(h.ping.counters.replies, 4);
    assert.equal(h.table.size, 3);

    // Expiry after 60 s of no activity.
    h.ping.expire(PING_TIMEOUT_MS - 1);
    assert.equal(h.table.size, 3);
    h.ping.expire(PING_TIMEOUT_MS);
    assert.equal(h.table.size, 0);
    assert.equal(h.ping.counters.flowsExpired, 3);
    assert.equal(h.table.counters.expired, 3);
  },
);

test('ping drops are counted: table full, multicast, bad input', { skip }, async (t) => {
  const lab = await Lab.create(t);
  const ns = await lab.namespace('p');
  await lab.sysctl(ns, 'net.ipv4.ping_group_range', '0 2147483647');
  const h = harness(ns, new FlowTable(1));
  t.after(() => h.ping.close());
  h.ping.fromGuest(4, G4, GW4, 1, 1, text('a'));
  await h.next();
  h.ping.fromGuest(4, G4, GW4, 2, 1, text('b'));
  assert.equal(h.ping.counters.dropTableFull, 1);
  h.ping.fromGuest(4, G4, parseIpv4('224.0.0.1')!, 3, 1, text('m'));
  assert.equal(h.ping.counters.dropNotForwardable, 1);
  h.ping.fromGuest(6, G4, GW6, 3, 1, text('m'));
  assert.equal(h.ping.counters.dropMalformed, 1);
});

test('EACCES (ping_group_range excludes us) is logged once and counted', { skip }, async (t) => {
  const lab = await Lab.create(t);
  const ns = await lab.namespace('p');
  await lab.sysctl(ns, 'net.ipv4.ping_group_range', '1 0');
  const h = harness(ns);
  t.after(() => h.ping.close());
  h.ping.fromGuest(4, G4, GW4, 1, 1, text('a'));
  h.ping.fromGuest(4, G4, GW4, 1, 2, text('a'));
  h.ping.fromGuest(6, G6, GW6, 1, 1, text('a'));
  assert.equal(h.ping.counters.dropNoPermission, 3);
  assert.equal(h.logs.length, 1);
  assert.match(h.logs[0]!, /ping_group_range/);
  assert.equal(h.table.size, 0);
});
