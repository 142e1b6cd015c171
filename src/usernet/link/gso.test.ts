// The gso fields of frames past the MTU (gsoPlaces) and how the tap link hands them to the shim.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { gsoPlaces, GsoType, TAP_TSO_MAX } from './gso.js';
import { checksumPlaces, tapLink } from './tap.js';
import type { TapDevice } from '../../native/index.js';
import { buildIpv4Frame, buildIpv6Frame } from '../../wire/build.js';
import { IpProtocol } from '../../wire/ipv4.js';
import { emitTcp, TcpFlag, type TcpOptions } from '../../wire/tcp.js';
import { parseIpv4, parseIpv6, parseMac } from '../../wire/common.js';

const MAC_A = parseMac('02:00:00:00:00:01')!;
const MAC_B = parseMac('02:00:00:00:00:02')!;
const A4 = parseIpv4('10.0.2.2')!;
const B4 = parseIpv4('10.0.2.15')!;
const A6 = parseIpv6('fd00::2')!;
const B6 = parseIpv6('fd00::15')!;
/** Timestamps: a 32-byte TCP header, as the engine sends on an established connection. */
const TS: TcpOptions = { timestamps: { value: 1, echo: 2 } };

function tcpFrame(family: 4 | 6, payloadLen: number, options: TcpOptions = TS): Uint8Array {
  const hl = options.timestamps ? 32 : 20;
  const fill = (src: Uint8Array, dst: Uint8Array) => (l4: Uint8Array) =>
    emitTcp(
      {
        srcPort: 80,
        dstPort: 40000,
        seq: 1,
        ack: 1,
        flags: TcpFlag.ACK,
        window: 1000,
        urgent: 0,
        options,
        payloadLen,
      },
      l4,
      src,
      dst,
    );
  return family === 4
    ? buildIpv4Frame(
        MAC_A,
        MAC_B,
        { src: A4, dst: B4, protocol: IpProtocol.Tcp },
        hl + payloadLen,
        fill(A4, B4),
      )
    : buildIpv6Frame(
        MAC_A,
        MAC_B,
        { src: A6, dst: B6, nextHeader: IpProtocol.Tcp },
        hl + payloadLen,
        fill(A6, B6),
      );
}

function udpFrame(len: number): Uint8Array {
  return buildIpv4Frame(
    MAC_A,
    MAC_B,
    { src: A4, dst: B4, protocol: IpProtocol.Udp },
    len,
    () => {},
  );
}

/** gsoPlaces of frames whose checksums are partial, as the link computes them. */
function places(frames: Uint8Array[], mtu: number): number[][] {
  const csum = checksumPlaces(frames);
  const out = new Uint16Array(3 * frames.length);
  gsoPlaces(frames, csum, mtu, out);
  return frames.map((_, i) => [...out.subarray(3 * i, 3 * i + 3)]);
}

describe('gsoPlaces', () => {
  it('leaves a frame of exactly MTU + Ethernet alone, marks one byte more', () => {
    const fit = tcpFrame(4, 1500 - 20 - 32);
    const over = tcpFrame(4, 1500 - 20 - 32 + 1);
    assert.equal(fit.length, 1514);
    assert.deepEqual(places([fit, over], 1500), [
      [0, 0, 0],
      [GsoType.TCPV4, 1448, 14 + 20 + 32],
    ]);
  });

  it('IPv6: TCPV6, segments sized by the 40-byte header', () => {
    assert.deepEqual(places([tcpFrame(6, 1500 - 40 - 20 + 1, {})], 1500), [
      [GsoType.TCPV6, 1440, 14 + 40 + 20],
    ]);
  });

  it('64 KiB frames, both families', () => {
    const v4 = tcpFrame(4, 65535 - 20 - 32);
    const v6 = tcpFrame(6, 65535 - 32);
    assert.equal(v4.length, TAP_TSO_MAX);
    assert.deepEqual(places([v4, v6], 1500), [
      [GsoType.TCPV4, 1448, 66],
      [GsoType.TCPV6, 1428, 86],
    ]);
    // At the default MTU a 64 KiB frame is just past it: two segments, the second short.
    assert.deepEqual(places([v4], 65520), [[GsoType.TCPV4, 65520 - 52, 66]]);
  });

  it('never marks what the kernel would refuse or need not cut', () => {
    const big = tcpFrame(4, 3000);
    const csum = checksumPlaces([big]);
    const out = new Uint16Array(3).fill(9);
    // A complete checksum: no NEEDS_CSUM, so no TCP GSO (Linux wants csum_offset 16).
    assert.equal(gsoPlaces([big], new Uint16Array(2), 1500, out), false);
    assert.deepEqual([...out], [0, 0, 0]);
    // Headers alone fill the MTU: a segment would carry no byte (gso_size 0 is EINVAL).
    assert.equal(gsoPlaces([big], csum, 52, out), false);
    // A truncated TCP header, a bad data offset.
    assert.equal(gsoPlaces([big.subarray(0, 14 + 20 + 10)], csum, 20, out), false);
    const bad = big.slice();
    bad[14 + 20 + 12] = 4 << 4;
    assert.equal(gsoPlaces([bad], csum, 1500, out), false);
    // UDP past the MTU is not TCP segmentation.
    assert.deepEqual(places([udpFrame(3000)], 1500), [[0, 0, 0]]);
    assert.deepEqual(places([big], 9000), [[0, 0, 0]]);
  });
});

/** A tap device that records what the link hands the shim. */
function fakeTap(offload: boolean) {
  const sent: { lens: number[]; csum?: number[]; gso?: number[] }[] = [];
  const dev = {
    name: 'fake0',
    offload,
    transient: true,
    onFrames() {},
    onError() {},
    close() {},
    send(frames: readonly Uint8Array[], csum?: Uint16Array, gso?: Uint16Array): number {
      sent.push({
        lens: frames.map((f) => f.length),
        ...(csum ? { csum: [...csum.subarray(0, 2 * frames.length)] } : {}),
        ...(gso ? { gso: [...gso.subarray(0, 3 * frames.length)] } : {}),
      });
      return frames.length;
    },
  } as unknown as TapDevice;
  return { dev, sent };
}

describe('tapLink segmentation offload', () => {
  it('an offloading tap takes 64 KiB TCP frames and marks those past its MTU', () => {
    const { dev, sent } = fakeTap(true);
    const link = tapLink(dev, { mtu: 1500 });
    assert.equal(link.tsoMax, TAP_TSO_MAX);
    const small = tcpFrame(4, 100);
    assert.ok(link.send([small], true));
    assert.deepEqual(sent.pop(), { lens: [small.length], csum: [34, 16] });
    const big = tcpFrame(6, 20000);
    assert.ok(link.send([small, big], true));
    assert.deepEqual(sent.pop()?.gso, [0, 0, 0, GsoType.TCPV6, 1428, 86]);
  });

  it('the MTU defaults to the kernel’s 1500', () => {
    const { dev, sent } = fakeTap(true);
    tapLink(dev).send([tcpFrame(4, 1449)], true);
    assert.deepEqual(sent.pop()?.gso, [GsoType.TCPV4, 1448, 66]);
  });

  it('without offload: no tsoMax, nothing but the frames', () => {
    const { dev, sent } = fakeTap(false);
    const link = tapLink(dev, { mtu: 1500 });
    assert.equal(link.tsoMax, undefined);
    assert.equal(link.checksumOffload, false);
    link.send([tcpFrame(4, 3000)], true);
    assert.deepEqual(sent.pop(), { lens: [14 + 20 + 32 + 3000] });
  });
});
