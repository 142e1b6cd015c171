// Tests of the guest address tracker: start values, SLAAC addresses taking over, link-local kept apart, junk ignored.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GuestAddrs } from './guest-addrs.js';
import { parseIpv4, parseIpv6 } from '../../wire/common.js';

const v4 = (s: string) => parseIpv4(s)!;
const v6 = (s: string) => parseIpv6(s)!;

test('assigned addresses until the guest speaks, then what it uses', () => {
  const g = new GuestAddrs('10.0.0.5', 'fd00::5');
  assert.equal(g.get(4), '10.0.0.5');
  assert.equal(g.get(6), 'fd00::5');
  g.seen(6, v6('fe80::5054:ff:fe12:3456'));
  assert.equal(g.get(6), 'fd00::5', 'a link-local source does not replace a global address');
  assert.equal(g.linkLocal6, 'fe80::5054:ff:fe12:3456');
  g.seen(6, v6('fd00::5054:ff:fe12:3456'));
  assert.equal(g.get(6), 'fd00::5054:ff:fe12:3456', 'the SLAAC address takes over');
  g.seen(4, v4('10.0.0.9'));
  assert.equal(g.get(4), '10.0.0.9');
  const n = g.changes;
  g.seen(4, v4('10.0.0.9'));
  assert.equal(g.changes, n, 'the same address again changes nothing');
});

test('unusable sources are ignored; link-local is the last resort', () => {
  const g = new GuestAddrs(undefined, undefined);
  for (const s of ['0.0.0.0', '127.0.0.1', '224.0.0.1', '255.255.255.255']) g.seen(4, v4(s));
  for (const s of ['::', '::1', 'ff02::1']) g.seen(6, v6(s));
  assert.equal(g.get(4), undefined);
  assert.equal(g.get(6), undefined);
  g.seen(6, v6('fe80::1'));
  assert.equal(g.get(6), 'fe80::1');
});
