// Tests of the tshark harness itself: it must catch a bad checksum and pass a good frame.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tsharkDecode, tsharkProblems } from './tshark.js';
import { checksum } from '../../src/wire/checksum.js';

function udpFrame(fixIpChecksum: boolean): Uint8Array {
  const f = new Uint8Array(14 + 20 + 8);
  f.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x00], 0);
  f.set([0x45, 0, 0, 28, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2], 14);
  f.set([0x30, 0x39, 0x30, 0x3a, 0, 8, 0, 0], 34);
  if (fixIpChecksum) {
    const c = checksum(f.subarray(14, 34));
    f[24] = c >>> 8;
    f[25] = c & 0xff;
  }
  return f;
}

test('tshark flags a bad IPv4 header checksum and accepts a good one', async () => {
  const frames = await tsharkDecode([udpFrame(false), udpFrame(true)]);
  assert.equal(frames.length, 2);
  assert.equal(frames[0]!.protocols, 'eth:ethertype:ip:udp');
  const problems = tsharkProblems(frames);
  assert.equal(problems.length, 1, problems.join('\n'));
  assert.match(problems[0]!, /^frame 1 .*[Bb]ad checksum/);
});

test('a truncated frame is reported as malformed or with an expert error', async () => {
  const f = udpFrame(true).subarray(0, 30);
  const problems = tsharkProblems(await tsharkDecode([f]));
  assert.ok(problems.length >= 1);
});
