// Real DHCP, DHCPv6 and RA clients in a lab namespace get their configuration from bindery's address services, dispatched by the daemon, through a tap.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Lab, type Netns } from '../lab/lab.js';
import type { TapDevice } from '../../src/native/index.js';
import { PasstDaemon, type Clock } from '../../src/usernet/passt.js';
import { tapLink } from '../../src/usernet/link/tap.js';
import { parseMac } from '../../src/wire/common.js';
import type { PasstConfig } from '../../src/usernet/conf.js';

const clock: Clock = {
  now: () => performance.now(),
  random: () => Math.random(),
  setTimer: (fn, ms) => setTimeout(fn, ms),
  clearTimer: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

const cfg: PasstConfig = {
  v4: {
    guestAddr: '10.88.0.15',
    prefixLen: 24,
    gateway: '10.88.0.1',
    mapHostLoopback: undefined,
    hostIface: undefined,
  },
  v6: {
    guestAddr: 'fd00:88::15',
    prefixLen: 64,
    gateway: 'fe80::1',
    mapHostLoopback: undefined,
    hostIface: undefined,
  },
  mtu: 1400,
  ourMac: parseMac('9a:55:9a:55:9a:55')!,
  nameservers: ['10.88.0.53', 'fd00:88::53'],
  search: ['example.test', 'lab.example'],
};

/** A namespace whose tap (no addresses) is served by the daemon: responder and address services. */
async function setup(t: Parameters<typeof Lab.create>[0]): Promise<{
  lab: Lab;
  ns: Netns;
  tap: TapDevice;
  daemon: PasstDaemon;
  dir: string;
}> {
  const lab = await Lab.create(t);
  const ns = await lab.namespace('addr');
  const tap = await lab.tap(ns, { up: false });
  // No duplicate address detection, so the link-local address is usable at once (DHCPv6
  // clients bind to it); SLAAC from RAs on.
  await lab.sysctl(ns, `net.ipv6.conf.${tap.name}.accept_dad`, 0);
  await lab.sysctl(ns, `net.ipv6.conf.${tap.name}.accept_ra`, 1);
  await lab.sysctl(ns, `net.ipv6.conf.${tap.name}.autoconf`, 1);
  // The real daemon, without L4 hooks (DHCP, DHCPv6, RS, ARP and NDP are all it needs).
  const daemon = new PasstDaemon(cfg, tapLink(tap), { clock, hostname: 'guest1' });
  lab.defer(() => daemon.close());
  daemon.start();
  await lab.ip(ns, ['link', 'set', tap.name, 'up']);
  return { lab, ns, tap, daemon, dir: await lab.tmpDir() };
}

/**
 * dhclient reports the binding before its lease file is written: poll the file (up to 5 s)
 * until it holds `re`, and return its text (what was there last, if it never does).
 */
async function leaseWith(path: string, re: RegExp): Promise<string> {
  let text = '';
  for (let i = 0; i < 50; i++) {
    text = await readFile(path, 'utf8').catch(() => '');
    if (re.test(text)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return text;
}

test('the kernel (SLAAC), dhclient, udhcpc, rdisc6 and dhclient -6 are configured through the tap', async (t) => {
  const { lab, ns, tap, daemon, dir } = await setup(t);

  await t.test(
    "the kernel's own RS on link-up is answered and SLAAC gives it an address",
    async () => {
      let addrs = '';
      for (let i = 0; i < 50; i++) {
        addrs = await lab.ip(ns, ['-6', 'addr', 'show', 'dev', tap.name]);
        if (/inet6 fd00:88::[0-9a-f:]+\/64 scope global/.test(addrs)) break;
        await new Promise((res) => setTimeout(res, 200));
      }
      assert.match(addrs, /inet6 fd00:88::[0-9a-f:]+\/64 scope global/);
      const routes = await lab.ip(ns, ['-6', 'route', 'show', 'dev', tap.name]);
      assert.match(routes, /default via fe80::1 .*proto ra/);
    },
  );

  await t.test('dhclient (isc-dhcp-client) gets the offered address and options', async () => {
    const lease = join(dir, 'dhclient4.leases');
    const p = lab.spawn(ns, [
      'dhclient',
      '-d',
      '-1',
      '-v',
      '-sf',
      '/bin/true',
      '-lf',
      lease,
      '-pf',
      join(dir, 'dhclient4.pid'),
      tap.name,
    ]);
    await p.waitForOutput(/bound to 10\.88\.0\.15/, 20_000);
    const l = await leaseWith(lease, /fixed-address/);
    await p.kill();
    assert.match(l, /fixed-address 10\.88\.0\.15;/);
    assert.match(l, /option subnet-mask 255\.255\.255\.0;/);
    assert.match(l, /option routers 10\.88\.0\.1;/);
    assert.match(l, /option domain-name-servers 10\.88\.0\.53;/);
    assert.match(l, /option domain-search "example\.test\.", "lab\.example\.";/);
    assert.match(l, /option interface-mtu 1400;/);
    assert.match(l, /option dhcp-server-identifier 10\.88\.0\.1;/);
    assert.match(l, /option host-name "guest1";/);
  });

  await t.test('busybox udhcpc gets the same through its script', async () => {
    const script = join(dir, 'udhcpc.sh');
    await writeFile(
      script,
      '#!/bin/sh\necho "EVENT=$1 ip=$ip subnet=$subnet router=$router dns=$dns search=$search mtu=$mtu lease=$lease"\n',
    );
    await chmod(script, 0o755);
    const r = await lab.exec(
      ns,
      [
        'busybox',
        'udhcpc',
        '-i',
        tap.name,
        '-n',
        '-q',
        '-f',
        '-t',
        '3',
        '-O',
        'mtu',
        '-O',
        'search',
        '-s',
        script,
      ],
      { timeoutMs: 30_000 },
    );
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const bound = r.stdout.split('\n').find((l) => l.startsWith('EVENT=bound'));
    assert.ok(bound, r.stdout + r.stderr);
    assert.match(bound, / ip=10\.88\.0\.15 /);
    assert.match(bound, / subnet=255\.255\.255\.0 /);
    assert.match(bound, / router=10\.88\.0\.1 /);
    assert.match(bound, / dns=10\.88\.0\.53 /);
    assert.match(bound, / search=example\.test lab\.example /);
    assert.match(bound, / mtu=1400 /);
  });

  await t.test('rdisc6 shows the RA with prefix, MTU, RDNSS and DNSSL', async () => {
    const r = await lab.exec(ns, ['rdisc6', '-1', tap.name], { timeoutMs: 20_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /Stateful address conf\.\s*:\s*Yes/);
    assert.match(r.stdout, /Router lifetime\s*:\s*65535/);
    assert.match(r.stdout, /Prefix\s*:\s*fd00:88::\/64/);
    assert.match(r.stdout, /MTU\s*:\s*1400/);
    assert.match(r.stdout, /Recursive DNS server\s*:\s*fd00:88::53/);
    assert.match(r.stdout, /DNS search list\s*:\s*example\.test/);
    assert.match(r.stdout, /lab\.example/);
    assert.match(r.stdout, /from fe80::1/);
  });

  await t.test('dhclient -6 gets the IA_NA address', async () => {
    const lease = join(dir, 'dhclient6.leases');
    const p = lab.spawn(ns, [
      'dhclient',
      '-6',
      '-d',
      '-1',
      '-v',
      '-sf',
      '/bin/true',
      '-lf',
      lease,
      '-pf',
      join(dir, 'dhclient6.pid'),
      tap.name,
    ]);
    await p.waitForOutput(/Bound to lease/, 30_000);
    assert.match(p.output, /RCV: Reply message on \S+ from fe80::1/);
    const l = await leaseWith(lease, /iaaddr/);
    await p.kill();
    assert.match(l, /iaaddr fd00:88::15 \{/);
    assert.match(l, /option dhcp6\.name-servers fd00:88::53;/);
    assert.match(l, /option dhcp6\.domain-search "example\.test\.", "lab\.example\.";/);
  });

  const { dhcp, dhcpv6, ra } = daemon.serviceCounters;
  for (const c of [dhcp, dhcpv6, ra]) assert.equal(c.drops.malformed + c.drops['bad-checksum'], 0);
  assert.ok(dhcp.replies + dhcpv6.replies + ra.replies >= 6);
  // Each client was answered by the service the dispatch gave its messages to.
  assert.ok(dhcp.replies >= 4, 'dhclient and udhcpc: OFFER and ACK each');
  assert.ok(dhcpv6.replies >= 2, 'dhclient -6: ADVERTISE and REPLY');
  assert.ok(ra.replies >= 2, 'the kernel and rdisc6');
  assert.equal(daemon.counters.exceptions, 0);
});
