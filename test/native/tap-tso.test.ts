// Integration (root): the kernel takes the TCP segmentation-offload frames the tap link builds at the MTU's edges, and refuses a bad gso header.
//
// Each frame is a TCP ACK segment from a peer to a closed port of the namespace, its checksum
// left partial, written with the virtio_net_hdr gsoPlaces computes. A segment the kernel takes
// into its stack draws a RST whose sequence number is the segment's ACK (RFC 9293 §3.10.7.1),
// so every frame carries its own ACK number and the test waits for each one's RST.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Lab, labSkipReason, uniqueIfName } from '../lab/lab.js';
import { waitFor } from '../lab/wait.js';
import { openTap, type TapDevice } from '../../src/native/index.js';
import { buildIpv4Frame, buildIpv6Frame } from '../../src/wire/build.js';
import { IpProtocol } from '../../src/wire/ipv4.js';
import { l4PseudoSum } from '../../src/wire/udp.js';
import { fold16 } from '../../src/wire/checksum.js';
import { emitTcp, TcpFlag } from '../../src/wire/tcp.js';
import { parseIpv4, parseIpv6, parseMac, type Mac } from '../../src/wire/common.js';
import { checksumPlaces } from '../../src/usernet/link/tap.js';
import { gsoPlaces, GsoType, TAP_TSO_MAX } from '../../src/usernet/link/gso.js';

const skip = labSkipReason();
const MTU = 1500;
const PEER_MAC = parseMac('02:00:00:00:bd:17')!;
const NS4 = parseIpv4('10.201.17.1')!;
const PEER4 = parseIpv4('10.201.17.2')!;
const NS6 = parseIpv6('fd00:201:17::1')!;
const PEER6 = parseIpv6('fd00:201:17::2')!;
/** A port nothing listens on in the fresh namespace. */
const CLOSED_PORT = 9;
/** Timestamps: the 32-byte TCP header of an established connection. */
const HEADER = 32;

/** An ACK segment with `payload` bytes to the closed port, its TCP checksum partial. */
function segment(family: 4 | 6, nsMac: Mac, payload: number, ack: number): Uint8Array {
  const [src, dst] = family === 4 ? [PEER4, NS4] : [PEER6, NS6];
  const fill = (l4: Uint8Array): void => {
    emitTcp(
      {
        srcPort: 40000,
        dstPort: CLOSED_PORT,
        seq: 1000,
        ack,
        flags: TcpFlag.ACK,
        window: 1000,
        urgent: 0,
        options: { timestamps: { value: 1, echo: 2 } },
        payloadLen: payload,
      },
      l4,
      src,
      dst,
    );
    const partial = fold16(l4PseudoSum(src, dst, IpProtocol.Tcp, l4.length));
    l4[16] = partial >>> 8;
    l4[17] = partial & 0xff;
  };
  const len = HEADER + payload;
  return family === 4
    ? buildIpv4Frame(PEER_MAC, nsMac, { src, dst, protocol: IpProtocol.Tcp }, len, fill)
    : buildIpv6Frame(PEER_MAC, nsMac, { src, dst, nextHeader: IpProtocol.Tcp }, len, fill);
}

/** The sequence number of a RST from the closed port in a frame, or undefined. */
function rstSeq(f: Uint8Array): number | undefined {
  const type = (f[12]! << 8) | f[13]!;
  const l4 = type === 0x0800 ? 14 + (f[14]! & 15) * 4 : type === 0x86dd ? 54 : 0;
  const proto = type === 0x0800 ? f[23] : f[20];
  if (l4 === 0 || proto !== IpProtocol.Tcp || f.length < l4 + 20) return undefined;
  if (((f[l4]! << 8) | f[l4 + 1]!) !== CLOSED_PORT || !(f[l4 + 13]! & TcpFlag.RST))
    return undefined;
  return ((f[l4 + 4]! << 24) | (f[l4 + 5]! << 16) | (f[l4 + 6]! << 8) | f[l4 + 7]!) >>> 0;
}

test(
  'offloading tap: TSO frames at the MTU edges reach the stack; a bad gso header is EINVAL',
  { skip },
  async (t) => {
    const lab = await Lab.create(t);
    const ns = await lab.namespace('tso');
    const name = uniqueIfName('ts');
    const tap: TapDevice = openTap({ netns: ns, name, mtu: MTU, up: true, offload: true });
    t.after(() => tap.close());
    for (const k of ['all', 'default']) await lab.sysctl(ns, `net.ipv6.conf.${k}.accept_dad`, 0);
    await lab.ip(ns, ['addr', 'add', '10.201.17.1/24', 'dev', name]);
    await lab.ip(ns, ['addr', 'add', 'fd00:201:17::1/64', 'dev', name, 'nodad']);
    for (const peer of ['10.201.17.2', 'fd00:201:17::2'])
      await lab.ip(ns, ['neigh', 'replace', peer, 'lladdr', '02:00:00:00:bd:17', 'dev', name]);
    const link = JSON.parse(await lab.ip(ns, ['-j', 'link', 'show', name])) as [
      { address: string },
    ];
    const nsMac = parseMac(link[0].address)!;
    const rsts = new Set<number>();
    tap.onFrames((frames) => {
      for (const f of frames) {
        const seq = rstSeq(f);
        if (seq !== undefined) rsts.add(seq);
      }
    });

    const v4Fit = MTU - 20 - HEADER; // payload of a frame exactly MTU + Ethernet long
    const v6Fit = MTU - 40 - HEADER;
    const cases: { what: string; family: 4 | 6; payload: number; gso: number }[] = [
      { what: 'IPv4, payload fills the MTU', family: 4, payload: v4Fit, gso: GsoType.NONE },
      { what: 'IPv4, one byte past the MTU', family: 4, payload: v4Fit + 1, gso: GsoType.TCPV4 },
      { what: 'IPv4, 64 KiB', family: 4, payload: 65535 - 20 - HEADER, gso: GsoType.TCPV4 },
      { what: 'IPv6, payload fills the MTU', family: 6, payload: v6Fit, gso: GsoType.NONE },
      { what: 'IPv6, one byte past the MTU', family: 6, payload: v6Fit + 1, gso: GsoType.TCPV6 },
      // The engine's frames stop at TAP_TSO_MAX in both families (IPv4's total length).
      {
        what: 'IPv6, 64 KiB',
        family: 6,
        payload: TAP_TSO_MAX - 14 - 40 - HEADER,
        gso: GsoType.TCPV6,
      },
    ];
    for (const [i, c] of cases.entries()) {
      const ack = 0x5000 + i;
      const frame = segment(c.family, nsMac, c.payload, ack);
      assert.ok(frame.length <= TAP_TSO_MAX, c.what);
      const csum = checksumPlaces([frame]);
      const gso = new Uint16Array(3);
      gsoPlaces([frame], csum, MTU, gso);
      assert.equal(gso[0], c.gso, c.what);
      assert.equal(tap.send([frame], csum, gso), 1, c.what);
      await waitFor(() => rsts.has(ack), 5000, `the RST to "${c.what}"`);
    }

    // The kernel does check: TCPV4 with the UDP checksum's place, or gso_size 0, is refused.
    const frame = segment(4, nsMac, v4Fit + 1, 0x6000);
    const places = checksumPlaces([frame]);
    for (const [csum, gso] of [
      [
        [34, 6],
        [GsoType.TCPV4, 1448, 66],
      ],
      [
        [34, 16],
        [GsoType.TCPV4, 0, 66],
      ],
    ]) {
      assert.throws(
        () => tap.send([frame], Uint16Array.from(csum!), Uint16Array.from(gso!)),
        (e: { errno?: string; sent?: number }) => e.errno === 'EINVAL' && e.sent === 0,
      );
    }
    assert.equal(tap.send([frame], places), 1, 'the same frame without gso is taken');
  },
);
