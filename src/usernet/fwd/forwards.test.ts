// Tests of the forward plan: per-port sockets minus what the all-ports rule covers, lookups by destination, target addresses; and the marker.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planForwards, forwardKey } from './forwards.js';
import { parsePortSpec, resolvePortMap, type PortSpec } from './portspec.js';
import { markerCoverage, markerName, parseMarker } from './redirect.js';

const sp = (t: string): PortSpec => {
  const r = parsePortSpec(t);
  if (!r.ok) assert.fail(r.error);
  return r.spec;
};
const EPH = { first: 32768, last: 60999 };

test('per-port sockets: one per (bind address, port), minus the covered ports', () => {
  const specs = [sp('80,443:8443'), sp('127.0.0.1/9000'), sp('5000:192.0.2.5/6000')];
  const plan = planForwards(specs, EPH);
  assert.equal(plan.ports, 4);
  assert.deepEqual(
    [...plan.perPort.keys()].sort(),
    ['*|443', '*|5000', '*|80', '127.0.0.1|9000'].sort(),
  );
  assert.deepEqual(plan.perPort.get('*|443'), { addr: undefined, port: 443, guestPort: 8443 });
  assert.equal(plan.perPort.get('*|5000')?.toAddr, '192.0.2.5');
  const covered = resolvePortMap([sp('all')], EPH);
  const steered = planForwards(specs, EPH, covered);
  assert.equal(steered.perPort.size, 0, 'everything is steered by the rule');
  assert.equal(steered.ports, 4);
  assert.equal(forwardKey({ addr: undefined, port: 1 }), '*|1');
});

test('lookups: exact bind address first, then the wildcard of the family', () => {
  const plan = planForwards([sp('8080:80'), sp('10.0.0.1/8080:81'), sp('0.0.0.0/22')], EPH);
  assert.equal(plan.lookup('10.0.0.1', 8080)?.guestPort, 81);
  assert.equal(plan.lookup('10.0.0.2', 8080)?.guestPort, 80);
  assert.equal(plan.lookup('fd00::1', 8080)?.guestPort, 80);
  assert.equal(plan.lookup('10.0.0.2', 22)?.guestPort, 22);
  assert.equal(plan.lookup('fd00::1', 22), undefined, '0.0.0.0 binds IPv4 only');
  assert.equal(plan.lookup('10.0.0.2', 23), undefined);
  const all = planForwards([sp('~15000')], EPH);
  assert.equal(all.lookup('::', 15000), undefined);
  assert.equal(all.lookup('::', 14999)?.guestPort, 14999);
  assert.equal(all.lookup('::', 40000), undefined, 'ephemeral ports are not in "all"');
});

test('the marker: parsed, checked, and its coverage', () => {
  const m = parseMarker(
    JSON.stringify({
      version: 1,
      tcpPort: 47998,
      udpPort: 0,
      tcp: ['~22'],
      udp: [],
      ephemeral: EPH,
    }),
  );
  assert.ok(typeof m !== 'string', String(m));
  const cov = markerCoverage(m, 'tcp')!;
  assert.equal(cov[22], 0);
  assert.equal(cov[80], 80);
  assert.equal(markerCoverage(m, 'udp'), undefined);
  for (const bad of [
    '{',
    '{"version":2}',
    JSON.stringify({ version: 1, tcpPort: 70000, udpPort: 0, tcp: [], udp: [], ephemeral: EPH }),
    JSON.stringify({ version: 1, tcpPort: 1, udpPort: 0, tcp: ['x'], udp: [], ephemeral: EPH }),
  ])
    assert.equal(typeof parseMarker(bad), 'string', bad);
  assert.equal(markerName(4026531840n), 'netns-4026531840.json');
});
