// Unit tests of the resolv.conf parser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseResolvConf } from './resolv.js';

test('nameservers split by family, last search line wins, comments dropped', () => {
  const r = parseResolvConf(
    [
      '# generated',
      'nameserver 10.96.0.10',
      'nameserver fd00::10 ; trailing comment',
      'nameserver fe80::1%eth0',
      'search a.example',
      'search default.svc.cluster.local svc.cluster.local cluster.local.',
      'options ndots:5',
      'nameserver 8.8.8.8',
      '',
    ].join('\n'),
  );
  assert.deepEqual(r, {
    nameservers4: ['10.96.0.10', '8.8.8.8'],
    nameservers6: ['fd00::10'],
    search: ['default.svc.cluster.local', 'svc.cluster.local', 'cluster.local'],
  });
});

test('an empty file gives nothing', () => {
  assert.deepEqual(parseResolvConf(''), { nameservers4: [], nameservers6: [], search: [] });
});
