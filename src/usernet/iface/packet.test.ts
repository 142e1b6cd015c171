// Tests of the in-place guest frame parser: it agrees with the wire codecs' views and reprs on any bytes, at any offset, refilled.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { newGuestPacket, parseGuestFrame, type GuestPacket } from './packet.js';
import { guestFrames, frame4, frame6 } from '../../../test/lab/frames.js';
import { EthernetView } from '../../wire/ethernet.js';
import { Ipv4View, IpProtocol, parseIpv4 } from '../../wire/ipv4.js';
import { Ipv6View, walkIpv6 } from '../../wire/ipv6.js';
import { UdpView, parseUdp } from '../../wire/udp.js';
import {
  TcpView,
  parseTcp,
  emitTcp,
  tcpHeaderLen,
  TcpFlag,
  TcpReprBuffer,
  parseTcpInto,
  type TcpRepr,
  type TcpOptions,
} from '../../wire/tcp.js';
import { isWireError } from '../../wire/common.js';
import { finish, sum16, sum16Range } from '../../wire/checksum.js';

/** What the codecs say about a frame's TCP or UDP layers (the pre-in-place parser's chain). */
function reference(f: Uint8Array, trusted: boolean): string {
  const eth = EthernetView.checked(f);
  if (isWireError(eth)) return `eth:${eth.kind}`;
  let src: Uint8Array;
  let dst: Uint8Array;
  let l4: Uint8Array;
  let protocol: number;
  if (eth.ethertype === 0x0800) {
    const v = Ipv4View.checked(eth.payload());
    if (isWireError(v)) return `net:${v.kind}`;
    const ip = parseIpv4(v);
    if (isWireError(ip)) return `net:${ip.kind}`;
    if (ip.fragment) return 'fragment';
    ({ src, dst, protocol } = ip);
    l4 = v.payload();
  } else if (eth.ethertype === 0x86dd) {
    const v = Ipv6View.checked(eth.payload());
    if (isWireError(v)) return `net:${v.kind}`;
    const up = walkIpv6(v);
    if (isWireError(up)) return `net:${up.kind}`;
    if (up.fragment) return 'fragment';
    ({ protocol } = up);
    src = v.src;
    dst = v.dst;
    l4 = v.buf.subarray(up.offset, up.offset + up.length);
  } else return 'other';
  const addrs = `${[...src].join('.')}>${[...dst].join('.')}`;
  if (protocol === IpProtocol.Udp) {
    const u = UdpView.checked(l4);
    if (isWireError(u)) return `l4:${u.kind}`;
    const h = parseUdp(u, src, dst, !trusted);
    if (isWireError(h)) return `msg:${h.kind}`;
    return `udp ${addrs} ${JSON.stringify(h)} ${[...u.payload()].join(',')}`;
  }
  if (protocol === IpProtocol.Tcp) {
    const t = TcpView.checked(l4);
    if (isWireError(t)) return `l4:${t.kind}`;
    const s = parseTcp(t, src, dst, !trusted);
    if (isWireError(s)) return `msg:${s.kind}`;
    return `tcp ${addrs} ${JSON.stringify(s)} ${[...t.payload()].join(',')}`;
  }
  return `proto ${protocol}`;
}

function inPlace(p: GuestPacket): string {
  if (p.errorAt === 'eth') return `eth:${p.error}`;
  if (p.ethertype !== 0x0800 && p.ethertype !== 0x86dd) return 'other';
  if (p.errorAt === 'net') return `net:${p.error}`;
  if (p.fragment) return 'fragment';
  if (p.protocol !== IpProtocol.Udp && p.protocol !== IpProtocol.Tcp) return `proto ${p.protocol}`;
  if (p.errorAt) return `${p.errorAt}:${p.error}`;
  const addrs = `${[...p.src].join('.')}>${[...p.dst].join('.')}`;
  if (p.protocol === IpProtocol.Udp) {
    assert.equal(p.udp?.srcPort, p.srcPort);
    assert.equal(p.udp?.dstPort, p.dstPort);
    return `udp ${addrs} ${JSON.stringify(p.udpHeader)} ${[...p.payload].join(',')}`;
  }
  if (p.protocol === IpProtocol.Tcp) {
    assert.equal(p.tcp?.srcPort, p.srcPort);
    assert.equal(p.tcp?.seq, p.seg?.seq);
    return `tcp ${addrs} ${JSON.stringify(p.seg)} ${[...p.payload].join(',')}`;
  }
  return `proto ${p.protocol}`;
}

const G4 = new Uint8Array([10, 88, 0, 15]);
const H4 = new Uint8Array([192, 0, 2, 7]);
const G6 = new Uint8Array(16).fill(0xfd, 0, 1).fill(0x15, 15);
const H6 = new Uint8Array(16).fill(0x20, 0, 1).fill(0x07, 15);

/** A TCP data segment as Linux sends it once timestamps are on (NOP NOP TS). */
function tsSegment(v6: boolean, payload: number): Uint8Array {
  const seg: TcpRepr = {
    srcPort: 40000,
    dstPort: 5201,
    seq: 0x89abcdef,
    ack: 7,
    flags: TcpFlag.ACK,
    window: 502,
    urgent: 0,
    options: { timestamps: { value: 0xfedcba98, echo: 3 } },
    payloadLen: payload,
  };
  const hl = tcpHeaderLen(seg);
  const fill = (l4: Uint8Array): void => {
    for (let i = hl; i < l4.length; i++) l4[i] = i & 0xff;
    emitTcp(seg, l4, v6 ? G6 : G4, v6 ? H6 : H4);
  };
  return v6
    ? frame6(G6, H6, IpProtocol.Tcp, hl + payload, fill)
    : frame4(G4, H4, IpProtocol.Tcp, hl + payload, fill);
}

test('the in-place parse agrees with the codecs on mutated frames at any offset, refilled', () => {
  const seeds = [...Object.values(guestFrames()), tsSegment(false, 300), tsSegment(true, 77)];
  const into = newGuestPacket();
  fc.assert(
    fc.property(
      fc.constantFrom(...seeds),
      fc.nat(),
      fc.integer({ min: 0, max: 255 }),
      fc.nat(),
      fc.integer({ min: 0, max: 7 }),
      fc.boolean(),
      (seed, i, v, cut, at, trusted) => {
        // The frame sits at `at` in a bigger buffer, as frames of a tap batch do.
        const backing = new Uint8Array(seed.length + 16);
        backing.set(seed, at);
        const m = backing.subarray(at, at + seed.length);
        if (i % 3 !== 0) m[i % m.length] = v;
        const f = m.subarray(0, i % 5 === 0 ? cut % (m.length + 1) : m.length);
        assert.equal(inPlace(parseGuestFrame(f, trusted, into)), reference(f, trusted));
      },
    ),
    { numRuns: 4000 },
  );
});

test('parseTcpInto: the Linux data segment layout is refilled in place, others parsed as parseTcp', () => {
  const into = new TcpReprBuffer();
  const f = tsSegment(false, 10);
  const l4 = f.subarray(34);
  assert.equal(parseTcpInto(into, f, 34, f.length, G4, H4), undefined);
  const opts = into.options;
  assert.deepEqual(opts, { timestamps: { value: 0xfedcba98, echo: 3 } });
  assert.deepEqual({ ...into }, parseTcp(TcpView.checked(l4) as TcpView, G4, H4));
  assert.equal(parseTcpInto(into, f, 34, f.length, G4, H4), undefined);
  assert.equal(into.options, opts, 'the same options object');
  const syn = guestFrames().tcp4;
  assert.equal(parseTcpInto(into, syn, 34, syn.length, G4, new Uint8Array(4), false), undefined);
  const synOpts: TcpOptions = into.options;
  assert.equal(synOpts.mss, 1460);
  assert.equal(synOpts.timestamps, undefined);
  f[f.length - 1]! ^= 1;
  assert.equal(parseTcpInto(into, f, 34, f.length, G4, H4)?.kind, 'bad-checksum');
});

test('sum16Range equals sum16 of the subarray at every alignment and length', () => {
  const buf = new Uint8Array(300);
  for (let i = 0; i < buf.length; i++) buf[i] = (i * 7919 + 13) & 0xff;
  const other = new Uint8Array(301).fill(0xff);
  for (let start = 0; start < 9; start++) {
    for (const len of [0, 1, 2, 3, 63, 64, 65, 66, 67, 128, 201, 290]) {
      const end = Math.min(buf.length, start + len);
      assert.equal(finish(sum16Range(buf, start, end, 5)), finish(sum16(buf.slice(start, end), 5)));
      // Alternating buffers: the cached 32-bit view follows the buffer.
      assert.equal(finish(sum16Range(other, start, end)), finish(sum16(other.slice(start, end))));
      const view = buf.subarray(3);
      const e3 = Math.max(start, end - 3);
      assert.equal(finish(sum16Range(view, start, e3)), finish(sum16(view.slice(start, e3))));
    }
  }
});
