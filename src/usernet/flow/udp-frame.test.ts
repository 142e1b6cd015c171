// Tests of the per-flow UDP frame template: the frames equal the wire codecs' own, full or partial checksum.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { udpFrameLen, udpTemplate, writeUdpFrame } from './udp-frame.js';
import { buildIpv4Frame, buildIpv6Frame } from '../../wire/build.js';
import { IpProtocol } from '../../wire/ipv4.js';
import { emitUdp } from '../../wire/udp.js';
import { completePartialChecksum } from '../../wire/checksum.js';

const OUR = new Uint8Array([0x9a, 0x55, 0x9a, 0x55, 0x9a, 0x55]);
const GUEST = new Uint8Array([0x52, 0x54, 0, 0x12, 0x34, 0x56]);

/** The same datagram through buildIpv4Frame/buildIpv6Frame and emitUdp. */
function reference(
  family: 4 | 6,
  src: Uint8Array,
  dst: Uint8Array,
  sp: number,
  dp: number,
  p: Uint8Array,
) {
  const fill = (l4: Uint8Array) => {
    l4.set(p, 8);
    emitUdp({ srcPort: sp, dstPort: dp, payloadLen: p.length }, l4, src, dst);
  };
  return family === 4
    ? buildIpv4Frame(OUR, GUEST, { src, dst, protocol: IpProtocol.Udp }, 8 + p.length, fill)
    : buildIpv6Frame(OUR, GUEST, { src, dst, nextHeader: IpProtocol.Udp }, 8 + p.length, fill);
}

test('template frames are byte for byte the codecs’ frames; partial ones complete to them', () => {
  fc.assert(
    fc.property(
      fc.constantFrom(4 as const, 6 as const),
      fc.uint8Array({ minLength: 16, maxLength: 16 }),
      fc.uint8Array({ minLength: 16, maxLength: 16 }),
      fc.integer({ min: 1, max: 65535 }),
      fc.integer({ min: 1, max: 65535 }),
      fc.uint8Array({ maxLength: 3000 }),
      (family, s16, d16, sp, dp, payload) => {
        const [src, dst] = family === 4 ? [s16.subarray(0, 4), d16.subarray(0, 4)] : [s16, d16];
        const want = reference(family, src, dst, sp, dp, payload);
        const t = udpTemplate(family, OUR, GUEST, src, dst, sp, dp);
        const len = udpFrameLen(t, payload.length);
        assert.equal(len, want.length);
        // Memory reused from an earlier, longer frame: every byte is written.
        const full = writeUdpFrame(t, new Uint8Array(len).fill(0xee), payload, false);
        assert.deepEqual(full, want);
        const partial = writeUdpFrame(t, new Uint8Array(len).fill(0xee), payload, true);
        assert.ok(completePartialChecksum(partial, t.l4, 6));
        assert.deepEqual(partial, want);
      },
    ),
    { numRuns: 300 },
  );
});
