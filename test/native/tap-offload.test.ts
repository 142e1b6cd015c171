// Integration (root): an offloading tap (IFF_VNET_HDR) hands over partial checksums and accepts ours.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Lab, labSkipReason, uniqueIfName } from '../lab/lab.js';
import { openTap, type TapDevice } from '../../src/native/index.js';
import { buildIpv4Frame } from '../../src/wire/build.js';
import { emitUdp, UdpView, parseUdp, UDP_HEADER_LEN, l4PseudoSum } from '../../src/wire/udp.js';
import { IpProtocol } from '../../src/wire/ipv4.js';
import { completePartialChecksum, fold16 } from '../../src/wire/checksum.js';
import { acceptPacket, parseGuestFrame } from '../../src/usernet/iface/packet.js';
import { isWireError, parseIpv4, parseMac } from '../../src/wire/common.js';
import { checksumPlaces } from '../../src/usernet/link/tap.js';

const skip = labSkipReason();
const OUR_MAC = parseMac('02:00:00:00:bd:07')!;
const NS_ADDR = parseIpv4('10.201.0.1')!;
const PEER = parseIpv4('10.201.0.2')!;

test(
  'offloading tap: partial UDP checksums out of the namespace, and into it',
  { skip },
  async (t) => {
    const lab = await Lab.create(t);
    const ns = await lab.namespace('off');
    const name = uniqueIfName('of');
    const tap: TapDevice = openTap({ netns: ns, name, up: true, offload: true });
    t.after(() => tap.close());
    assert.equal(tap.offload, true);
    await lab.ip(ns, ['addr', 'add', '10.201.0.1/24', 'dev', name]);
    await lab.ip(ns, [
      'neigh',
      'replace',
      '10.201.0.2',
      'lladdr',
      '02:00:00:00:bd:07',
      'dev',
      name,
    ]);
    const got: { frame: Uint8Array; flags: number; start: number; offset: number }[] = [];
    tap.onFrames((frames, vnet) => {
      assert.ok(vnet, 'an offloading tap reports the virtio_net_hdr');
      frames.forEach((frame, i) =>
        got.push({ frame, flags: vnet[3 * i]!, start: vnet[3 * i + 1]!, offset: vnet[3 * i + 2]! }),
      );
    });

    // Out of the namespace: the kernel leaves the UDP checksum partial and says where it goes.
    await lab.run(ns, [
      'python3',
      '-c',
      "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b'x'*300, ('10.201.0.2', 4242))",
    ]);
    const deadline = Date.now() + 5000;
    let udp: (typeof got)[number] | undefined;
    while (!udp && Date.now() < deadline) {
      udp = got.find((g) => g.frame.length > 300 && g.frame[23] === IpProtocol.Udp);
      if (!udp) await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(udp, 'the datagram came out of the tap');
    assert.equal(udp.flags & 1, 1, 'VIRTIO_NET_HDR_F_NEEDS_CSUM');
    assert.equal(udp.start, 14 + 20);
    assert.equal(udp.offset, 6);
    assert.ok(completePartialChecksum(udp.frame, udp.start, udp.offset));
    const c = {
      ignored: 0,
      drops: { truncated: 0, malformed: 0, 'bad-checksum': 0, unsupported: 0 },
    };
    const p = parseGuestFrame(udp.frame);
    assert.ok(acceptPacket(p, 4, IpProtocol.Udp, c));
    const v = UdpView.checked(p.l4);
    assert.ok(!isWireError(v));
    assert.ok(!isWireError(parseUdp(v, p.src, p.dst)), 'the completed checksum verifies');

    // Into the namespace: a datagram whose checksum field holds only the pseudo-header sum is
    // delivered when sent as partial.
    const srv = lab.spawn(ns, [
      'python3',
      '-c',
      "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('10.201.0.1', 5555)); print('ready', flush=True); d,a=s.recvfrom(100); print('got', d.decode(), flush=True)",
    ]);
    await srv.waitForOutput(/ready/);
    const mac = JSON.parse(await lab.ip(ns, ['-j', 'link', 'show', name])) as [{ address: string }];
    const payload = new TextEncoder().encode('partial-ok');
    const frame = buildIpv4Frame(
      OUR_MAC,
      parseMac(mac[0].address)!,
      { src: PEER, dst: NS_ADDR, protocol: IpProtocol.Udp },
      UDP_HEADER_LEN + payload.length,
      (l4) => {
        l4.set(payload, UDP_HEADER_LEN);
        emitUdp({ srcPort: 4444, dstPort: 5555, payloadLen: payload.length }, l4, PEER, NS_ADDR);
        const partial = fold16(l4PseudoSum(PEER, NS_ADDR, IpProtocol.Udp, l4.length));
        l4[6] = partial >>> 8;
        l4[7] = partial & 0xff;
      },
    );
    // The shim writes the places it is given into the virtio_net_hdr; it does not parse frames.
    const places = checksumPlaces([frame]);
    assert.deepEqual([...places], [14 + 20, 6]);
    assert.equal(tap.send([frame], places), 1);
    await srv.waitForOutput(/got partial-ok/);
  },
);
