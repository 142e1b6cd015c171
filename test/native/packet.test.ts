// Integration (root): the address server's filtered packet socket across a veth pair of two lab namespaces.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Lab } from '../lab/lab.js';
import { waitFor } from '../lab/wait.js';
import { guestFrames, GUEST_NET, udpFill, type GuestFrameKind } from '../lab/frames.js';
import { openPacketSocket, SyscallError, type PacketEndpoint } from '../../src/native/index.js';
import { buildIpv4Frame, buildIpv6Frame } from '../../src/wire/build.js';
import { parseIpv6 } from '../../src/wire/common.js';

const hex = (f: Uint8Array): string => Buffer.from(f).toString('hex');

test('the packet socket passes DHCPv4, DHCPv6 and RS frames only, and never its own', async (t) => {
  const lab = await Lab.create(t);
  const a = await lab.namespace('pkta');
  const b = await lab.namespace('pktb');
  const veth = await lab.veth(a, b);
  const open: PacketEndpoint[] = [];
  lab.defer(() => open.forEach((s) => s.close()));
  const sa = openPacketSocket({ device: veth.nameA, netns: a });
  const sb = openPacketSocket({ device: veth.nameB, netns: b });
  open.push(sa, sb);
  assert.ok(sa.ifindex > 0);

  const gotA: string[] = [];
  const gotB: string[] = [];
  const errors: Error[] = [];
  sa.onError((e) => errors.push(e));
  sb.onError((e) => errors.push(e));
  sa.onFrames((fs) => fs.forEach((f) => gotA.push(hex(f))));
  sb.onFrames((fs) => fs.forEach((f) => gotB.push(hex(f))));

  const frames = guestFrames();
  const n = GUEST_NET;
  // A later IPv4 fragment that happens to carry 67 where a UDP port would be: rejected (the
  // offset is patched in; the filter does not look at the header checksum).
  const frag = buildIpv4Frame(
    n.guestMac,
    n.ourMac,
    { src: n.guest4, dst: n.gateway4, protocol: 17 },
    16,
    udpFill(n.guest4, n.gateway4, 68, 67, new Uint8Array(8)),
  );
  frag[20] = 0;
  frag[21] = 1;
  // DHCPv6 to the client port and an RA (type 134): rejected.
  const allNodes = parseIpv6('ff02::1')!;
  const to546 = buildIpv6Frame(
    n.guestMac,
    n.ourMac,
    { src: n.guestLl6, dst: allNodes, nextHeader: 17 },
    12,
    udpFill(n.guestLl6, allNodes, 547, 546, new Uint8Array(4)),
  );
  const pass: GuestFrameKind[] = ['dhcp', 'dhcpv6', 'router-solicit'];
  const others = (Object.keys(frames) as GuestFrameKind[]).filter((k) => !pass.includes(k));
  const order = [...others.map((k) => frames[k]), frag, to546, ...pass.map((k) => frames[k])];
  assert.equal(sa.send(order), order.length);

  // Frames on a veth arrive in order: once the last passing frame is in, everything is.
  const last = hex(frames['router-solicit']);
  await waitFor(() => gotB.includes(last), 5000, 'the router solicitation on B');
  assert.deepEqual(
    gotB,
    pass.map((k) => hex(frames[k])),
  );
  // A sent all of them: none came back to A as PACKET_OUTGOING.
  assert.deepEqual(gotA, []);

  // And B's answers reach A the same way.
  assert.equal(sb.send([frames.dhcp, frames.tcp4]), 2);
  await waitFor(() => gotA.length > 0, 5000, 'the DHCP frame on A');
  sb.send([frames.dhcpv6]);
  await waitFor(() => gotA.length > 1, 5000, 'the DHCPv6 frame on A');
  assert.deepEqual(gotA, [hex(frames.dhcp), hex(frames.dhcpv6)]);
  assert.deepEqual(errors, []);

  sa.close();
  assert.throws(
    () => sa.send([frames.dhcp]),
    (e: unknown) => e instanceof SyscallError && e.errno === 'EBADF',
  );
});

test('opening on a missing device fails with ENODEV', async (t) => {
  const lab = await Lab.create(t);
  const a = await lab.namespace('pktc');
  assert.throws(
    () => openPacketSocket({ device: 'bdy-nosuch', netns: a }),
    (e: unknown) => e instanceof SyscallError && e.errno === 'ENODEV',
  );
});
