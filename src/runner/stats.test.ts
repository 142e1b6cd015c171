// Tests of the --stats line: every count shown once, and nothing printed when nothing changed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PasstCounters } from '../usernet/passt.js';
import { statsLine } from './stats.js';

const counters = (): PasstCounters => ({
  rxFrames: 10,
  rxBytes: 1000,
  txFrames: 8,
  txBytes: 900,
  txBlocked: 0,
  malformed: { truncated: 1, malformed: 0, 'bad-checksum': 2, unsupported: 0 },
  arp: 1,
  ndp: 2,
  echoGateway: 0,
  dhcp: 4,
  dhcpv6: 2,
  routerSolicits: 1,
  unsolicitedRas: 0,
  udp: 3,
  ping: 0,
  tcp: 5,
  unhandled: 1,
  ignored: 0,
  guestMacUpdates: 1,
  exceptions: 0,
});

test('one key=value line, drops summed; undefined when unchanged', () => {
  const c = counters();
  const line = statsLine(c, 2, undefined);
  assert.equal(
    line,
    'stats: rx=10 tx=8 rx_bytes=1000 tx_bytes=900 arp=1 ndp=2 dhcp=4 dhcpv6=2 rs=1 tcp=5 udp=3 ping=0 flows=2 drops=4',
  );
  assert.equal(statsLine(c, 2, line), undefined);
  c.rxFrames++;
  assert.match(statsLine(c, 2, line)!, /^stats: rx=11 /);
  assert.match(statsLine(counters(), 3, line)!, / flows=3 /);
});
