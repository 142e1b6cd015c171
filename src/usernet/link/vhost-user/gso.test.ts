// TSO on the vhost-user link without QEMU: the GSO fields both ways over a ring, the negotiation rule, and cutting big TCP frames to the MTU.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { completePartialChecksum, finish, sum16, verify } from '../../../wire/checksum.js';
import {
  GsoType,
  checkTxGso,
  gsoBit,
  guestGsoFor,
  makePartial,
  oversizeTcp,
  rxGso,
  segmentTcp,
  tcpHeaders,
} from './gso.js';
import { drainTx, newNetCounters, putRx } from './net.js';
import { Feature, bit } from './protocol.js';
import { RegionMemory, SplitQueue } from './virtqueue.js';

const TCP_BOTH = gsoBit(GsoType.TCPV4) | gsoBit(GsoType.TCPV6);

/** A TCP frame (12 bytes of options) with `n` payload bytes and a full checksum. */
function tcpFrame(v6: boolean, n: number, flags = 0x18, seq = 0xfffff000): Uint8Array {
  const ipLen = v6 ? 40 : 20;
  const f = new Uint8Array(14 + ipLen + 32 + n);
  const v = new DataView(f.buffer);
  f.fill(0x02, 0, 12);
  v.setUint16(12, v6 ? 0x86dd : 0x0800);
  const ip = 14;
  if (v6) {
    f[ip] = 0x60;
    v.setUint16(ip + 4, 32 + n);
    f[ip + 6] = 6;
    f[ip + 7] = 64;
    f.fill(0xfd, ip + 8, ip + 24);
    f.fill(0xfe, ip + 24, ip + 40);
  } else {
    f[ip] = 0x45;
    v.setUint16(ip + 2, 20 + 32 + n);
    v.setUint16(ip + 4, 0xfffe);
    f[ip + 8] = 64;
    f[ip + 9] = 6;
    f.set([10, 0, 0, 1, 10, 0, 0, 2], ip + 12);
    v.setUint16(ip + 10, finish(sum16(f.subarray(ip, ip + 20))));
  }
  const t = ip + ipLen;
  v.setUint16(t, 80);
  v.setUint16(t + 2, 40000);
  v.setUint32(t + 4, seq);
  f[t + 12] = 8 << 4;
  f[t + 13] = flags;
  for (let i = 0; i < n; i++) f[t + 32 + i] = (i * 7) & 0xff;
  makePartial(f, tcpHeaders(f)!);
  completePartialChecksum(f, t, 16);
  return f;
}

/** The TCP checksum of a frame verifies (pseudo-header included). */
function tcpOk(f: Uint8Array): boolean {
  const h = tcpHeaders(f)!;
  const copy = f.slice();
  // The pseudo-header sum, then the L4 bytes with the field as sent.
  const got = new DataView(copy.buffer).getUint16(14 + h.ipLen + 16);
  makePartial(copy, h);
  completePartialChecksum(copy, 14 + h.ipLen, 16);
  return new DataView(copy.buffer).getUint16(14 + h.ipLen + 16) === got;
}

test('tcpHeaders: IPv4 and IPv6 TCP found; UDP, ARP, short and lying headers not', () => {
  assert.deepEqual(tcpHeaders(tcpFrame(false, 10)), {
    v6: false,
    ipLen: 20,
    tcpLen: 32,
    hdrLen: 66,
  });
  assert.deepEqual(tcpHeaders(tcpFrame(true, 10)), { v6: true, ipLen: 40, tcpLen: 32, hdrLen: 86 });
  const udp = tcpFrame(false, 10);
  udp[14 + 9] = 17;
  assert.equal(tcpHeaders(udp), undefined);
  const arp = tcpFrame(false, 10);
  arp[13] = 0x06;
  assert.equal(tcpHeaders(arp), undefined);
  assert.equal(tcpHeaders(tcpFrame(false, 10).subarray(0, 60)), undefined);
  const doff = tcpFrame(false, 0);
  doff[14 + 20 + 12] = 15 << 4; // 60-byte TCP header in a 66-byte frame
  assert.equal(tcpHeaders(doff), undefined);
});

test('checkTxGso: TCP GSO of the negotiated family passes; ECN, UDP, size 0, hdr_len past the end, wrong family refused', () => {
  const v4 = tcpFrame(false, 3000);
  const v6 = tcpFrame(true, 3000);
  assert.equal(checkTxGso(v4, GsoType.TCPV4, 1448, 66, TCP_BOTH), undefined);
  assert.equal(checkTxGso(v6, GsoType.TCPV6, 1428, 86, TCP_BOTH), undefined);
  assert.match(checkTxGso(v4, GsoType.TCPV4, 1448, 66, gsoBit(GsoType.TCPV6))!, /not negotiated/);
  assert.match(checkTxGso(v4, GsoType.TCPV4 | GsoType.ECN, 1448, 66, TCP_BOTH)!, /ECN/);
  assert.match(checkTxGso(v4, GsoType.UDP, 1448, 66, TCP_BOTH)!, /gso_type 3/);
  assert.match(checkTxGso(v4, GsoType.UDP_L4, 1448, 66, TCP_BOTH)!, /gso_type 5/);
  assert.match(checkTxGso(v4, GsoType.TCPV4, 0, 66, TCP_BOTH)!, /gso_size 0/);
  assert.match(checkTxGso(v4, GsoType.TCPV4, 1448, v4.length + 1, TCP_BOTH)!, /hdr_len/);
  assert.match(checkTxGso(v4, GsoType.TCPV6, 1448, 66, TCP_BOTH)!, /other IP version/);
  const udp = tcpFrame(false, 3000);
  udp[14 + 9] = 17;
  assert.match(checkTxGso(udp, GsoType.TCPV4, 1448, 66, TCP_BOTH)!, /not TCP/);
});

test('guestGsoFor: GSO to the guest only with GUEST_TSO of the family and GUEST_CSUM', () => {
  const csum = bit(Feature.NET_GUEST_CSUM);
  const t4 = bit(Feature.NET_GUEST_TSO4);
  const t6 = bit(Feature.NET_GUEST_TSO6);
  assert.equal(guestGsoFor(csum | t4 | t6, false), true);
  assert.equal(guestGsoFor(csum | t4 | t6, true), true);
  assert.equal(guestGsoFor(csum | t4, true), false);
  assert.equal(guestGsoFor(csum | t6, false), false);
  assert.equal(guestGsoFor(t4 | t6, false), false, 'GUEST_TSO without GUEST_CSUM');
  assert.equal(guestGsoFor(0n, false), false);
});

test('oversizeTcp and rxGso: gso_size = MTU − IP − TCP header, hdr_len = all headers; frames that fit are left alone', () => {
  const v4 = tcpFrame(false, 60000);
  const big = oversizeTcp(v4, 1500)!;
  assert.deepEqual(rxGso(big.h, big.mss), [GsoType.TCPV4, 66, 1500 - 20 - 32]);
  const v6 = oversizeTcp(tcpFrame(true, 60000), 1450)!;
  assert.deepEqual(rxGso(v6.h, v6.mss), [GsoType.TCPV6, 86, 1450 - 40 - 32]);
  assert.equal(oversizeTcp(tcpFrame(false, 1448), 1500), undefined, 'exactly MTU + 14');
  assert.notEqual(oversizeTcp(tcpFrame(false, 1449), 1500), undefined);
  const udp = tcpFrame(false, 3000);
  udp[14 + 9] = 17;
  assert.equal(oversizeTcp(udp, 1500), undefined, 'not TCP: not ours to cut');
});

test('segmentTcp: MTU-sized segments, sequence advanced across the wrap, FIN/PSH last, CWR first, lengths and checksums made anew', () => {
  for (const v6 of [false, true]) {
    for (const complete of [false, true]) {
      const f = tcpFrame(v6, 4000, 0x80 | 0x18 | 0x01); // CWR ACK PSH FIN
      const big = oversizeTcp(f, 1500)!;
      const segs = segmentTcp(f, big.h, big.mss, complete);
      const hl = big.h.hdrLen;
      assert.deepEqual(
        segs.map((s) => s.length - hl),
        [big.mss, big.mss, 4000 - 2 * big.mss],
      );
      const payload = Buffer.concat(segs.map((s) => s.subarray(hl)));
      assert.deepEqual(payload, Buffer.from(f.subarray(hl)));
      let off = 0;
      segs.forEach((s, i) => {
        assert.ok(s.length <= 1500 + 14);
        const v = new DataView(s.buffer);
        const t = 14 + big.h.ipLen;
        assert.equal(v.getUint32(t + 4), (0xfffff000 + off) >>> 0);
        off += s.length - hl;
        const flags = s[t + 13]!;
        assert.equal(flags & 0x80, i === 0 ? 0x80 : 0, 'CWR on the first only');
        assert.equal(flags & 0x09, i === segs.length - 1 ? 0x09 : 0, 'FIN, PSH on the last only');
        if (v6) assert.equal(v.getUint16(14 + 4), s.length - 14 - 40);
        else {
          assert.equal(v.getUint16(14 + 2), s.length - 14);
          assert.equal(v.getUint16(14 + 4), (0xfffe + i) & 0xffff);
          assert.ok(verify(sum16(s.subarray(14, 34))), 'IPv4 header checksum');
        }
        if (!complete) completePartialChecksum(s, t, 16);
        assert.ok(tcpOk(s), `segment ${i} TCP checksum (v6 ${v6}, complete ${complete})`);
      });
    }
  }
});

test('segmentTcp: Ethernet padding past the IP length is not payload; a bare ACK stays one frame', () => {
  const f = tcpFrame(false, 0, 0x10);
  const padded = new Uint8Array(f.length + 6);
  padded.set(f);
  const segs = segmentTcp(padded, tcpHeaders(padded)!, 100, true);
  assert.equal(segs.length, 1);
  assert.equal(segs[0]!.length, f.length);
  assert.ok(tcpOk(segs[0]!));
});

/** One region with a TX or RX ring at 0 and data buffers from 0x1000. */
function ring(num = 8): { q: SplitQueue; mem: RegionMemory; bytes: Uint8Array; v: DataView } {
  const bytes = new Uint8Array(1 << 18);
  const mem = new RegionMemory([{ guestAddr: 0, userAddr: 0, bytes }]);
  const q = new SplitQueue(num, false, false);
  assert.ok(q.attach(mem, { desc: 0, avail: 0x400, used: 0x800 }, 0));
  return { q, mem, bytes, v: new DataView(bytes.buffer) };
}

/** Posts one buffer as descriptor `i` at `at` (writable for RX). */
function post(r: ReturnType<typeof ring>, i: number, at: number, len: number, write: boolean) {
  r.v.setBigUint64(16 * i, BigInt(at), true);
  r.v.setUint32(16 * i + 8, len, true);
  r.v.setUint16(16 * i + 12, write ? 2 : 0, true);
  const idx = r.v.getUint16(0x402, true);
  r.v.setUint16(0x404 + 2 * (idx % 8), i, true);
  r.v.setUint16(0x402, idx + 1, true);
}

/** A virtio_net_hdr (12 bytes). */
function vnetHdr(flags: number, type: number, hdrLen: number, size: number, start = 0, off = 0) {
  const h = new Uint8Array(12);
  const v = new DataView(h.buffer);
  h[0] = flags;
  h[1] = type;
  v.setUint16(2, hdrLen, true);
  v.setUint16(4, size, true);
  v.setUint16(6, start, true);
  v.setUint16(8, off, true);
  return h;
}

test('TX: a 64 KiB TCPV4 GSO frame is taken whole and counted; UDP GSO, ECN and GSO without HOST_TSO dropped and counted', () => {
  const r = ring();
  const big = tcpFrame(false, 65000);
  const put = (i: number, h: Uint8Array, f: Uint8Array, at: number) => {
    r.bytes.set(h, at);
    r.bytes.set(f, at + 12);
    post(r, i, at, 12 + f.length, false);
  };
  put(0, vnetHdr(1, GsoType.TCPV4, 66, 1448, 34, 16), big, 0x1000);
  put(1, vnetHdr(1, GsoType.UDP_L4, 42, 1472, 34, 6), tcpFrame(false, 100), 0x12000);
  put(2, vnetHdr(1, GsoType.TCPV4 | GsoType.ECN, 66, 1448, 34, 16), tcpFrame(false, 100), 0x13000);
  const c = newNetCounters();
  const { frames } = drainTx(r.q, r.mem, 12, c, 256, TCP_BOTH);
  assert.equal(frames.length, 1);
  assert.deepEqual(frames[0]!.frame, big);
  assert.equal(frames[0]!.csumStart, 34);
  assert.deepEqual([c.txGso, c.txBadGso, c.txBadFrame], [1, 2, 2]);
  // Without HOST_TSO negotiated the same frame is refused.
  put(3, vnetHdr(1, GsoType.TCPV4, 66, 1448, 34, 16), big, 0x1000);
  const c2 = newNetCounters();
  assert.equal(drainTx(r.q, r.mem, 12, c2).frames.length, 0);
  assert.deepEqual([c2.txGso, c2.txBadGso], [0, 1]);
});

test('RX: GSO fields and NEEDS_CSUM are written in the header', () => {
  const r = ring();
  post(r, 0, 0x1000, 0x20000, true);
  const f = tcpFrame(true, 60000);
  const big = oversizeTcp(f, 1500)!;
  const c = newNetCounters();
  assert.equal(putRx(r.q, r.mem, f, 12, true, [54, 16], c, rxGso(big.h, big.mss)), 'ok');
  const v = new DataView(r.bytes.buffer, 0x1000);
  assert.deepEqual(
    [v.getUint8(0), v.getUint8(1), v.getUint16(2, true), v.getUint16(4, true)],
    [1, GsoType.TCPV6, 86, 1500 - 40 - 32],
  );
  assert.deepEqual(
    [v.getUint16(6, true), v.getUint16(8, true), v.getUint16(10, true)],
    [54, 16, 1],
  );
  assert.deepEqual(r.bytes.subarray(0x1000 + 12, 0x1000 + 12 + f.length), f);
  assert.deepEqual([c.rxFrames, c.rxGso], [1, 1]);
});

test('fuzz: random GSO headers over TCP, UDP and junk frames never throw; every frame is taken or counted (10^4 cases, seed 15)', () => {
  fc.assert(
    fc.property(
      fc.constantFrom(0, 1, 3, 4, 5, 0x81, 0x84, 0xff),
      fc.integer({ min: 0, max: 0xffff }),
      fc.integer({ min: 0, max: 0xffff }),
      fc.constantFrom(0, gsoBit(GsoType.TCPV4), gsoBit(GsoType.TCPV6), TCP_BOTH),
      fc.integer({ min: 0, max: 4 }),
      fc.uint8Array({ maxLength: 64 }),
      (type, size, hdrLen, accept, kind, junk) => {
        const r = ring();
        const f =
          kind === 0
            ? tcpFrame(false, 3000)
            : kind === 1
              ? tcpFrame(true, 3000)
              : kind === 2
                ? (() => {
                    const u = tcpFrame(false, 3000);
                    u[23] = 17;
                    return u;
                  })()
                : kind === 3
                  ? tcpFrame(false, 3000).subarray(0, 14 + junk.length)
                  : junk;
        r.bytes.set(vnetHdr(1, type, hdrLen, size), 0x1000);
        r.bytes.set(f, 0x100c);
        post(r, 0, 0x1000, 12 + f.length, false);
        const c = newNetCounters();
        const { frames } = drainTx(r.q, r.mem, 12, c, 256, accept);
        assert.equal(frames.length + c.txBadFrame + c.txBadChain, 1);
        assert.ok(c.txBadGso <= c.txBadFrame);
        if (frames.length === 1 && type !== 0) {
          assert.equal(c.txGso, 1);
          assert.ok(type === GsoType.TCPV4 || type === GsoType.TCPV6);
          assert.ok(size > 0 && hdrLen <= f.length);
        }
      },
    ),
    { seed: 15, numRuns: 10_000 },
  );
});
