// Tests of the flow and guest-misbehaviour log lines: fields, levels, and the rate limit with its summary.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { pino } from 'pino';
import { FlowTable } from '../usernet/flow/table.js';
import { guestFrames } from '../../test/lab/frames.js';
import { flowLogObserver, frameSummary, guestErrorReporter } from './observe-log.js';

function memLogger(level = 'debug') {
  const recs: Array<Record<string, unknown>> = [];
  const logger = pino(
    { level, base: null },
    { write: (s: string) => void recs.push(JSON.parse(s) as Record<string, unknown>) },
  );
  return { logger, recs };
}

test('flow open and close lines carry both sides, bytes, duration and the reason', () => {
  const { logger, recs } = memLogger();
  let now = 100;
  const t = new FlowTable();
  t.observer = flowLogObserver(logger, () => now);
  const f = t.insert(
    'tcp',
    ['guest', 'host'],
    [
      { endpointAddr: '10.0.2.15', endpointPort: 40000, ourAddr: '10.0.2.2', ourPort: 80 },
      { endpointAddr: '127.0.0.1', endpointPort: 80, ourAddr: '127.0.0.1', ourPort: 51000 },
    ],
    {},
    now,
    1000,
  )!;
  f.bytesIn = 10;
  f.bytesOut = 20;
  now = 350;
  t.remove(f, 'closed', 'fin');
  assert.equal(recs.length, 2);
  assert.deepEqual(
    { ...recs[0], time: undefined },
    {
      level: 20,
      time: undefined,
      id: f.id,
      proto: 'tcp',
      dir: 'outbound',
      guest: '10.0.2.15:40000',
      guestPeer: '10.0.2.2:80',
      host: '127.0.0.1:80',
      msg: 'flow open',
    },
  );
  assert.equal(recs[1]!['msg'], 'flow close');
  assert.equal(recs[1]!['bytesFromGuest'], 10);
  assert.equal(recs[1]!['bytesToGuest'], 20);
  assert.equal(recs[1]!['durationMs'], 250);
  assert.equal(recs[1]!['reason'], 'fin');
});

test('guest errors: N warnings per kind per minute, then one summary of the suppressed', () => {
  const { logger, recs } = memLogger('info');
  let now = 0;
  const r = guestErrorReporter(logger, () => now, 2);
  const f = guestFrames().udp4;
  for (let i = 0; i < 5; i++) r.report('bad-checksum', f);
  r.report('truncated', f.subarray(0, 20));
  assert.deepEqual(
    recs.map((x) => x['msg']),
    [
      'guest sent a frame with a bad checksum',
      'guest sent a frame with a bad checksum',
      'guest sent a truncated frame',
    ],
  );
  assert.equal(recs[0]!['level'], 40);
  assert.equal(recs[0]!['ipDst'], '192.0.2.80');
  assert.equal(recs[0]!['proto'], 17);
  now = 60_000;
  r.due();
  assert.equal(recs.length, 4);
  assert.equal(recs[3]!['msg'], 'guest misbehaviour: suppressed 3 more bad-checksum warnings');
  r.due();
  assert.equal(recs.length, 4, 'reported once');
});

test('frameSummary never throws, whatever the bytes', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 80 }), (b) => {
      const s = frameSummary(b);
      assert.equal(s['len'], b.length);
    }),
  );
  assert.equal(frameSummary(guestFrames().tcp6)['ipSrc'], 'fd00:88::15');
});
