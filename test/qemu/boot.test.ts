// A real guest on the QEMU stream link: its first frames (DHCP DISCOVER, ICMPv6 Router Solicitation) arrive framed and parse.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { join } from 'node:path';
import { BinderyError, ErrorCode } from '../../src/errors.js';
import { StreamLink } from '../../src/usernet/link/stream.js';
import { formatMac, getU16, getU32, isWireError } from '../../src/wire/common.js';
import {
  DHCP_FIXED_LEN,
  DHCP_MAGIC_COOKIE,
  DhcpMessageType,
  DhcpOp,
  parseDhcp,
} from '../../src/wire/dhcp.js';
import { EtherType, EthernetView } from '../../src/wire/ethernet.js';
import { Icmpv6Type, Icmpv6View, parseIcmpv6 } from '../../src/wire/icmpv6.js';
import { IpProtocol, Ipv4View, parseIpv4 } from '../../src/wire/ipv4.js';
import { Ipv6View, walkIpv6 } from '../../src/wire/ipv6.js';
import { UdpView, parseUdp } from '../../src/wire/udp.js';
import { Lab } from '../lab/lab.js';
import { bootGuest, qemuSkipReason } from '../lab/qemu.js';

const MAC = '52:54:00:bd:00:01';

/** What the test looks for in a DHCP message. */
interface DhcpSeen {
  readonly op: number;
  readonly chaddr: string;
  /** The magic cookie 99.130.83.99 was there (RFC 2131 §3); plain BOOTP has a vendor area instead. */
  readonly cookie: boolean;
  readonly messageType: number | undefined;
}

/** Parses a DHCP payload with src/wire/dhcp.ts; undefined when it does not parse. */
function readDhcp(p: Uint8Array): DhcpSeen | undefined {
  const r = parseDhcp(p);
  if (isWireError(r)) return undefined;
  return {
    op: r.op,
    chaddr: formatMac(r.chaddr.subarray(0, r.hlen)),
    cookie: r.vendorArea === undefined && getU32(p, DHCP_FIXED_LEN) === DHCP_MAGIC_COOKIE,
    messageType: r.messageType,
  };
}

/** A DHCP message sent from UDP 68 to 67 over IPv4 with valid checksums, else undefined. */
function dhcpOf(frame: Uint8Array): { eth: EthernetView; dhcp: DhcpSeen } | undefined {
  const eth = EthernetView.checked(frame);
  if (isWireError(eth) || eth.ethertype !== EtherType.Ipv4) return undefined;
  const ip = Ipv4View.checked(eth.payload());
  if (isWireError(ip) || ip.protocol !== IpProtocol.Udp) return undefined;
  assert.ok(!isWireError(parseIpv4(ip)), 'IPv4 header checksum');
  const udp = UdpView.checked(ip.payload());
  if (isWireError(udp) || udp.srcPort !== 68 || udp.dstPort !== 67) return undefined;
  assert.ok(!isWireError(parseUdp(udp, ip.src, ip.dst)), 'UDP checksum');
  const dhcp = readDhcp(udp.payload());
  return dhcp === undefined ? undefined : { eth, dhcp };
}

/** An ICMPv6 Router Solicitation with a valid checksum, else undefined. */
function routerSolicitOf(
  frame: Uint8Array,
): { eth: EthernetView; ip: Ipv6View; macOpt?: string } | undefined {
  const eth = EthernetView.checked(frame);
  if (isWireError(eth) || eth.ethertype !== EtherType.Ipv6) return undefined;
  const ip = Ipv6View.checked(eth.payload());
  if (isWireError(ip)) return undefined;
  const upper = walkIpv6(ip);
  if (isWireError(upper) || upper.protocol !== IpProtocol.Icmpv6) return undefined;
  const icmp = Icmpv6View.checked(ip.buf.subarray(upper.offset, upper.offset + upper.length));
  if (isWireError(icmp) || icmp.type !== Icmpv6Type.RouterSolicit) return undefined;
  const rs = parseIcmpv6(icmp, ip.src, ip.dst);
  assert.ok(!isWireError(rs), `Router Solicitation parses (${JSON.stringify(rs)})`);
  assert.equal(rs.type, Icmpv6Type.RouterSolicit);
  const sll = rs.options.find((o) => o.type === 1);
  return { eth, ip, ...(sll !== undefined && 'mac' in sll ? { macOpt: formatMac(sll.mac) } : {}) };
}

/** Rejects with a Timeout after `ms`. */
function within<T>(p: Promise<T>, ms: number, what: string, context: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new BinderyError(ErrorCode.Timeout, `${what} not seen within ${ms} ms\n${context()}`),
        ),
      ms,
    );
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

test(
  'a QEMU guest on the stream link: DHCP DISCOVER and Router Solicitation arrive and parse',
  { skip: qemuSkipReason(), timeout: 240_000 },
  async (t) => {
    const lab = await Lab.create(t);
    const dir = await lab.tmpDir();
    const link = await StreamLink.listen({ path: join(dir, 'guest.socket'), oneOff: true });
    lab.defer(() => link.close());

    let dhcp: ReturnType<typeof dhcpOf>;
    let rs: ReturnType<typeof routerSolicitOf>;
    let batches = 0;
    const frames: Uint8Array[] = [];
    const bothSeen = new Promise<void>((resolve) => {
      link.on('frames', (batch) => {
        batches++;
        for (const f of batch) {
          frames.push(f);
          dhcp ??= dhcpOf(f);
          rs ??= routerSolicitOf(f);
        }
        if (dhcp !== undefined && rs !== undefined) resolve();
      });
    });
    const connected = once(link, 'connect');
    const closed = once(link, 'close');

    const guest = await bootGuest(lab, {
      socketPath: link.path,
      mac: MAC,
      // -n: give up (exit 1) without a lease; -t 3: three DISCOVERs, 3 s apart (busybox defaults).
      script: 'udhcpc -i eth0 -n -q -t 3 -s /bin/true\n',
      timeoutMs: 180_000,
    });
    const context = (): string =>
      `frames: ${frames.length} in ${batches} batches; console:\n${guest.console.slice(-3000)}`;

    await within(connected, 60_000, 'QEMU connecting to the link', context);
    const readyMs = await guest.waitReady(120_000);
    t.diagnostic(`guest ready (modules loaded, eth0 up) ${readyMs} ms after QEMU started`);
    await within(bothSeen, 60_000, 'DHCP DISCOVER and Router Solicitation', context);
    t.diagnostic(`both frames seen ${Date.now() - guest.startedAt} ms after QEMU started`);

    // DHCP DISCOVER: broadcast from the guest's MAC, UDP 68 -> 67, magic cookie, option 53 = 1.
    assert.ok(dhcp !== undefined);
    assert.equal(formatMac(dhcp.eth.src), MAC);
    assert.equal(formatMac(dhcp.eth.dst), 'ff:ff:ff:ff:ff:ff');
    assert.equal(dhcp.dhcp.op, DhcpOp.BootRequest);
    assert.equal(dhcp.dhcp.chaddr, MAC);
    assert.ok(dhcp.dhcp.cookie, 'DHCP magic cookie');
    assert.equal(dhcp.dhcp.messageType, DhcpMessageType.Discover);

    // Router Solicitation: to all-routers (ff02::2 via 33:33:00:00:00:02), hop limit 255.
    assert.ok(rs !== undefined);
    assert.equal(formatMac(rs.eth.src), MAC);
    assert.equal(formatMac(rs.eth.dst), '33:33:00:00:00:02');
    assert.equal(getU16(rs.ip.dst, 0), 0xff02);
    assert.equal(rs.ip.dst[15], 2);
    assert.equal(rs.ip.hopLimit, 255, 'RFC 4861 §6.1.1');
    if (rs.macOpt !== undefined) assert.equal(rs.macOpt, MAC);

    // udhcpc -n without a server: exit code 1; then the guest powers off and, oneOff, the link closes.
    assert.equal(await guest.waitForExit(120_000), 1);
    await within(closed, 60_000, 'link close after the guest left', context);
    assert.equal(link.state, 'closed');
    assert.equal(link.counters.badLength, 0);
    assert.equal(link.counters.clients, 1);
    assert.ok(link.counters.rxFrames >= 2);
    t.diagnostic(
      `${link.counters.rxFrames} frames in ${batches} batches; guest done ${Date.now() - guest.startedAt} ms after start`,
    );
    const st = await within(guest.process.exited, 30_000, 'QEMU exit after poweroff', context);
    assert.equal(st.code, 0, 'QEMU exits cleanly on poweroff');
  },
);
