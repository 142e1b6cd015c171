// Unit tests of shardOf: one flow always maps to one shard, link services and inbound forwards to shard 0.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newInboundPorts, shardOf } from './route.js';
import { buildIpv4Frame, buildIpv6Frame, buildArpFrame } from '../../wire/build.js';
import { IpProtocol } from '../../wire/ipv4.js';
import { parseIpv4, parseIpv6, parseMac } from '../../wire/common.js';
import { markInboundPorts } from '../fwd/forwards.js';
import { parsePortSpec, DEFAULT_EPHEMERAL, type PortSpec } from '../fwd/portspec.js';

const A = parseMac('02:00:00:00:00:01')!;
const B = parseMac('02:00:00:00:00:02')!;
const G4 = parseIpv4('10.0.2.15')!;
const H4 = parseIpv4('10.0.2.2')!;
const G6 = parseIpv6('fd00::15')!;
const H6 = parseIpv6('fd00::2')!;

/** A TCP or UDP frame from the guest with the given ports (only the first 4 L4 bytes matter). */
function l4Frame(family: 4 | 6, proto: number, sport: number, dport: number): Uint8Array {
  const fill = (l4: Uint8Array): void => {
    l4[0] = sport >> 8;
    l4[1] = sport & 0xff;
    l4[2] = dport >> 8;
    l4[3] = dport & 0xff;
  };
  return family === 4
    ? buildIpv4Frame(A, B, { src: G4, dst: H4, protocol: proto }, 20, fill)
    : buildIpv6Frame(A, B, { src: G6, dst: H6, nextHeader: proto }, 20, fill);
}

function echo(family: 4 | 6, ident: number): Uint8Array {
  const fill = (l4: Uint8Array): void => {
    l4[0] = family === 4 ? 8 : 128;
    l4[4] = ident >> 8;
    l4[5] = ident & 0xff;
  };
  return family === 4
    ? buildIpv4Frame(A, B, { src: G4, dst: H4, protocol: IpProtocol.Icmp }, 16, fill)
    : buildIpv6Frame(A, B, { src: G6, dst: H6, nextHeader: IpProtocol.Icmpv6 }, 16, fill);
}

const none = newInboundPorts();

function spec(text: string): PortSpec {
  const r = parsePortSpec(text);
  assert.ok(r.ok);
  return r.spec;
}

test('one shard: everything is shard 0', () => {
  assert.equal(shardOf(l4Frame(4, IpProtocol.Tcp, 40000, 80), 1, none), 0);
});

test('TCP, UDP and echo flows spread over shards, each flow to one shard', () => {
  for (const shards of [2, 3, 4]) {
    for (const [family, proto] of [
      [4, IpProtocol.Tcp],
      [6, IpProtocol.Tcp],
      [4, IpProtocol.Udp],
      [6, IpProtocol.Udp],
    ] as const) {
      const seen = new Array<number>(shards).fill(0);
      for (let port = 40000; port < 40400; port += 2) {
        const s = shardOf(l4Frame(family, proto, port, 5201), shards, none);
        assert.equal(shardOf(l4Frame(family, proto, port, 5201), shards, none), s);
        seen[s]!++;
      }
      // 200 even ports (as connect() picks them): every shard gets a fair part.
      for (const n of seen) assert.ok(n > 200 / shards / 2, `${family}/${proto}: ${seen.join()}`);
    }
    const idents = new Set<number>();
    for (let id = 1; id < 64; id++) idents.add(shardOf(echo(4, id), shards, none));
    for (let id = 1; id < 64; id++) idents.add(shardOf(echo(6, id), shards, none));
    assert.equal(idents.size, shards);
  }
});

test('link services, fragments and other protocols stay on shard 0', () => {
  const arp = buildArpFrame(A, B, {
    operation: 1,
    senderMac: A,
    senderIp: G4,
    targetMac: new Uint8Array(6),
    targetIp: H4,
  });
  for (let port = 40000; port < 40064; port++) {
    assert.equal(shardOf(l4Frame(4, IpProtocol.Udp, port, 67), 4, none), 0, 'DHCP');
    assert.equal(shardOf(l4Frame(6, IpProtocol.Udp, port, 547), 4, none), 0, 'DHCPv6');
    const frag = l4Frame(4, IpProtocol.Tcp, port, 80);
    frag[14 + 6] = 0x20; // more fragments
    assert.equal(shardOf(frag, 4, none), 0, 'fragment');
    assert.equal(shardOf(l4Frame(4, 47, port, 80), 4, none), 0, 'GRE');
  }
  assert.equal(shardOf(arp, 4, none), 0);
  const rs = echo(6, 7);
  rs[54] = 133; // router solicitation
  assert.equal(shardOf(rs, 4, none), 0);
  assert.equal(shardOf(new Uint8Array(20), 4, none), 0, 'runt');
});

test('frames from a guest port that an inbound forward targets go to shard 0', () => {
  const inbound = newInboundPorts();
  const tcp = [spec('8080:80')];
  const udp = [spec('5353')];
  markInboundPorts(tcp, udp, DEFAULT_EPHEMERAL, inbound);
  assert.equal(inbound[80], 1);
  assert.equal(inbound[8080], 0);
  assert.equal(inbound[65536 + 5353], 1);
  for (let port = 30000; port < 30064; port++) {
    assert.equal(shardOf(l4Frame(4, IpProtocol.Tcp, 80, port), 4, inbound), 0);
    assert.equal(shardOf(l4Frame(6, IpProtocol.Udp, 5353, port), 4, inbound), 0);
  }
  // The same ports the other way round (or the other protocol) are ordinary flows.
  const spread = new Set<number>();
  for (let port = 30000; port < 30064; port++)
    spread.add(shardOf(l4Frame(4, IpProtocol.Udp, 80, port), 4, inbound));
  assert.ok(spread.size > 1);
  markInboundPorts([], udp, DEFAULT_EPHEMERAL, inbound);
  assert.equal(inbound[80], 0);
  assert.equal(inbound[65536 + 5353], 1);
});
