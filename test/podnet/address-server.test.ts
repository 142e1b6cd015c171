// Integration (root): the address server daemon on a pod bridge, answered to by real clients (dhclient -4/-6, rdisc6, the guest kernel).
//
// Layout: a "pod" namespace with bridge br0 (10.0.2.1/24, fe80::1/64, fixed MAC) and a veth
// port whose peer is in a "guest" namespace with a fixed MAC. The daemon is started and stopped
// through startAddressServer/stopAddressServer, as pod-net does. Every server frame is captured
// in the guest namespace and decoded by tshark: none may be malformed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { Lab, labSkipReason, uniqueIfName, type LabProcess, type Netns } from '../lab/lab.js';
import { waitFor } from '../lab/wait.js';
import type { AddressServerConfig } from '../../src/podnet/address-config.js';
import { startAddressServer, stopAddressServer } from '../../src/podnet/address-server-process.js';

const SERVER_MAC = '02:00:00:00:00:01';
const GUEST_MAC = '52:54:00:aa:bb:01';
const OTHER_MAC = '52:54:00:aa:bb:02';

/** Prints the client's view of each event, one `key=value` per line, blocks ended by `--`. */
const SCRIPT = `#!/bin/sh
{
  echo "reason=$reason"
  for v in new_ip_address new_subnet_mask new_routers new_domain_name_servers \\
    new_domain_search new_interface_mtu new_rfc3442_classless_static_routes \\
    new_dhcp_server_identifier new_dhcp_lease_time new_ip6_address new_ip6_prefixlen \\
    new_dhcp6_name_servers new_dhcp6_domain_search; do
    eval "val=\\$$v"
    [ -n "$val" ] && echo "$v=$val"
  done
  echo "--"
} >> "$(dirname "$0")/out-$interface"
exit 0
`;

const CONF4 = `option rfc3442-classless-static-routes code 121 = array of unsigned integer 8;
timeout 20;
request subnet-mask, routers, domain-name-servers, domain-search, interface-mtu,
  rfc3442-classless-static-routes;
`;
const CONF6 = `timeout 20;
request dhcp6.name-servers, dhcp6.domain-search;
`;

interface Env {
  lab: Lab;
  pod: Netns;
  guest: Netns;
  guestIf: string;
  dir: string;
  configFile: string;
  config: AddressServerConfig;
}

async function setup(lab: Lab, clientMac: string | undefined): Promise<Env> {
  const pod = await lab.namespace('pod');
  const guest = await lab.namespace('guest');
  for (const k of ['default', 'all']) {
    await lab.sysctl(guest, `net.ipv6.conf.${k}.accept_dad`, 0);
    await lab.sysctl(guest, `net.ipv6.conf.${k}.accept_ra`, 1);
    await lab.sysctl(guest, `net.ipv6.conf.${k}.forwarding`, 0);
  }
  await lab.ip(pod, ['link', 'add', 'br0', 'address', SERVER_MAC, 'type', 'bridge']);
  await lab.ip(pod, ['link', 'set', 'br0', 'addrgenmode', 'none']);
  await lab.ip(pod, ['addr', 'add', '10.0.2.1/24', 'dev', 'br0']);
  await lab.ip(pod, ['addr', 'add', 'fe80::1/64', 'dev', 'br0', 'nodad']);
  await lab.ip(pod, ['link', 'set', 'br0', 'up']);
  const veth = await lab.veth(pod, guest);
  await lab.ip(pod, ['link', 'set', veth.nameA, 'master', 'br0']);
  await lab.ip(guest, ['link', 'set', veth.nameB, 'address', GUEST_MAC]);
  const dir = await lab.tmpDir();
  await writeFile(join(dir, 'script.sh'), SCRIPT);
  await chmod(join(dir, 'script.sh'), 0o755);
  await writeFile(join(dir, 'conf4'), CONF4);
  await writeFile(join(dir, 'conf6'), CONF6);
  const config: AddressServerConfig = {
    netns: `/run/netns/${pod}`,
    device: 'br0',
    serverMac: SERVER_MAC,
    ...(clientMac !== undefined ? { clientMac } : {}),
    mtu: 1400,
    search: ['example.test', 'lab.example'],
    v4: {
      address: '10.0.2.2',
      prefixLength: 24,
      router: '10.0.2.1',
      serverAddress: '10.0.2.1',
      routes: [
        { dst: '10.96.0.0/12', via: '10.0.2.1' },
        { dst: '0.0.0.0/0', via: '10.0.2.1' },
      ],
      dns: ['10.0.2.53'],
    },
    v6: {
      address: 'fd10:0:2::2',
      onLinkPrefix: 'fd10:0:2::/120',
      routerLinkLocal: 'fe80::1',
      dns: ['fd10:0:2::53'],
    },
    leaseFile: join(dir, 'leases.json'),
    pidFile: join(dir, 'server.pid'),
    logFile: join(dir, 'server.log'),
  };
  const configFile = join(dir, 'config.json');
  await writeFile(configFile, JSON.stringify(config));
  return { lab, pod, guest, guestIf: veth.nameB, dir, configFile, config };
}

/** Polls an async probe until it holds, failing with `what()` after `ms`. */
async function until(probe: () => Promise<boolean>, ms: number, what: () => string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function startServer(env: Env): Promise<number> {
  const pid = await startAddressServer(env.configFile);
  env.lab.defer(() => stopAddressServer(pid));
  return pid;
}

/** The `--`-ended blocks the script printed to `file`. */
async function events(file: string): Promise<Array<Record<string, string>>> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text
    .split('--\n')
    .filter((b) => b.trim() !== '')
    .map((b) =>
      Object.fromEntries(
        b
          .trim()
          .split('\n')
          .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
      ),
    );
}

/**
 * Runs dhclient in the guest in the foreground until one of the `want` reasons shows up among
 * the events after those already printed; returns that event.
 */
async function dhclient(
  env: Env,
  family: 4 | 6,
  tag: string,
  ifname: string,
  want: readonly string[],
  ns: Netns = env.guest,
): Promise<{ ev: Record<string, string>; proc: LabProcess }> {
  const out = join(env.dir, `out-${ifname}`);
  const before = (await events(out)).length;
  const proc = env.lab.spawn(
    ns,
    [
      'dhclient',
      `-${family}`,
      '-1',
      '-d',
      '-v',
      '-sf',
      join(env.dir, 'script.sh'),
      '-cf',
      join(env.dir, `conf${family}`),
      '-lf',
      join(env.dir, `lease${family}-${ifname}`),
      '-pf',
      join(env.dir, `pid-${tag}`),
      ifname,
    ],
    {},
  );
  let found: Record<string, string> | undefined;
  const deadline = Date.now() + 30_000;
  while (!found) {
    found = (await events(out)).slice(before).find((e) => want.includes(e.reason ?? ''));
    if (found) break;
    if (proc.exitStatus !== undefined || Date.now() > deadline)
      throw new Error(
        `dhclient -${family} (${tag}) got no ${want.join('/')}: ${proc.output.slice(-2000)}\n` +
          `server log: ${await readFile(env.config.logFile!, 'utf8').catch(() => '')}`,
      );
    await new Promise((r) => setTimeout(r, 50));
  }
  return { ev: found, proc };
}

async function stopProc(p: LabProcess): Promise<void> {
  if (p.exitStatus === undefined) process.kill(p.pid, 'SIGTERM');
  await p.exited;
}

/** Starts a capture of the guest link; returns a function that stops it and checks the server's frames. */
async function capture(env: Env): Promise<() => Promise<number>> {
  const file = join(env.dir, 'guest.pcap');
  const p = env.lab.spawn(env.guest, ['tshark', '-n', '-i', env.guestIf, '-w', file]);
  await waitFor(() => p.stderr.includes('Capturing on'), 10_000, 'tshark capturing');
  return async () => {
    await stopProc(p);
    const r = await env.lab.run(env.guest, [
      'tshark',
      '-n',
      '-r',
      file,
      '-o',
      'ip.check_checksum:TRUE',
      '-o',
      'udp.check_checksum:TRUE',
      '-Y',
      `eth.src == ${SERVER_MAC}`,
      '-T',
      'fields',
      '-e',
      'frame.number',
      '-e',
      'frame.protocols',
      '-e',
      '_ws.malformed',
      '-e',
      '_ws.expert.severity',
      '-e',
      '_ws.expert.message',
    ]);
    const lines = r.trim().split('\n').filter(Boolean);
    for (const l of lines) {
      const [num, protos, malformed, sev, msg] = l.split('\t');
      assert.equal(malformed ?? '', '', `frame ${num} (${protos}) malformed`);
      const severities = (sev ?? '').split(',').filter(Boolean).map(Number);
      assert.ok(
        severities.every((s) => s < 0x600000),
        `frame ${num} (${protos}): expert ${sev} ${msg}`,
      );
    }
    return lines.length;
  };
}

test(
  'dhclient -4/-6, rdisc6 and the guest kernel get every value; leases survive a restart',
  { skip: labSkipReason(), timeout: 180_000 },
  async (t) => {
    const lab = await Lab.create(t);
    const env = await setup(lab, GUEST_MAC);
    const stopCapture = await capture(env);
    const pid1 = await startServer(env);
    assert.ok(pid1 > 0);

    // DHCPv4
    const v4 = await dhclient(env, 4, 'v4a', env.guestIf, ['BOUND']);
    assert.equal(v4.ev.new_ip_address, '10.0.2.2');
    assert.equal(v4.ev.new_subnet_mask, '255.255.255.0');
    assert.equal(v4.ev.new_routers, '10.0.2.1');
    assert.equal(v4.ev.new_domain_name_servers, '10.0.2.53');
    assert.equal(v4.ev.new_domain_search, 'example.test. lab.example.');
    assert.equal(v4.ev.new_interface_mtu, '1400');
    assert.equal(v4.ev.new_dhcp_server_identifier, '10.0.2.1');
    assert.equal(v4.ev.new_dhcp_lease_time, '4294967295');
    assert.equal(v4.ev.new_rfc3442_classless_static_routes, '12 10 96 10 0 2 1 0 10 0 2 1');
    await stopProc(v4.proc);

    // DHCPv6
    const v6 = await dhclient(env, 6, 'v6a', env.guestIf, ['BOUND6']);
    assert.equal(v6.ev.new_ip6_address, 'fd10:0:2::2');
    assert.equal(v6.ev.new_dhcp6_name_servers, 'fd10:0:2::53');
    assert.equal(v6.ev.new_dhcp6_domain_search, 'example.test. lab.example.');
    await stopProc(v6.proc);

    // RA, as rdisc6 reads it
    const ra = await lab.run(env.guest, ['rdisc6', '-1', '-w', '3000', env.guestIf], {
      timeoutMs: 20_000,
    });
    assert.match(ra, /Stateful address conf\.\s*:\s*Yes/);
    assert.match(ra, /Prefix\s*:\s*fd10:0:2::\/120/);
    assert.match(ra, /On-link\s*:\s*Yes/);
    assert.match(ra, /Autonomous address conf\.\s*:\s*No/);
    assert.match(ra, /MTU\s*:\s*1400 bytes/);
    assert.match(ra, /Recursive DNS server\s*:\s*fd10:0:2::53/);
    assert.match(ra, /DNS search list\s*:\s*example\.test/);
    assert.match(ra, new RegExp(`Source link-layer address:\\s*${SERVER_MAC}`, 'i'));
    assert.match(ra, /from fe80::1/);

    // The guest kernel takes fe80::1 as its default router.
    let routes = '';
    await until(
      async () => {
        routes = await lab.ip(env.guest, ['-6', 'route', 'show', 'default']);
        return /default via fe80::1/.test(routes);
      },
      20_000,
      () => `an IPv6 default route via fe80::1 in the guest (have: ${routes})`,
    );

    // Leases survive a restart; the client comes back for its address and keeps it.
    const stored = JSON.parse(await readFile(env.config.leaseFile, 'utf8')) as {
      leases: Array<{ family: number; mac: string; address: string; expiresAt: null }>;
    };
    assert.deepEqual(
      stored.leases.map((l) => [l.family, l.mac, l.address, l.expiresAt]),
      [
        [4, GUEST_MAC, '10.0.2.2', null],
        [6, GUEST_MAC, 'fd10:0:2::2', null],
      ],
    );
    await stopAddressServer(pid1);
    await assert.rejects(readFile(env.config.pidFile, 'utf8'), 'pid file removed on stop');
    const pid2 = await startServer(env);
    assert.notEqual(pid2, pid1);
    const again = await dhclient(env, 4, 'v4b', env.guestIf, ['BOUND', 'REBOOT', 'RENEW']);
    assert.equal(again.ev.new_ip_address, '10.0.2.2');
    await stopProc(again.proc);
    const after = JSON.parse(await readFile(env.config.leaseFile, 'utf8')) as {
      leases: Array<{ family: number; address: string }>;
    };
    assert.equal(after.leases.find((l) => l.family === 4)?.address, '10.0.2.2');
    const log = await readFile(env.config.logFile!, 'utf8');
    assert.ok(
      (log.match(/lease granted/g) ?? []).length >= 3,
      `one line per grant in the log: ${log}`,
    );

    const serverFrames = await stopCapture();
    assert.ok(serverFrames >= 4, `captured ${serverFrames} server frames`);
    await stopAddressServer(pid2);
  },
);

test(
  'with clientMac set, another guest gets no answer',
  { skip: labSkipReason(), timeout: 120_000 },
  async (t) => {
    const lab = await Lab.create(t);
    const env = await setup(lab, GUEST_MAC);
    const other = await lab.namespace('other');
    const v2 = await lab.veth(env.pod, other, { nameB: uniqueIfName('o') });
    await lab.ip(env.pod, ['link', 'set', v2.nameA, 'master', 'br0']);
    await lab.ip(other, ['link', 'set', v2.nameB, 'address', OTHER_MAC]);
    const pid = await startServer(env);
    const out = join(env.dir, `out-${v2.nameB}`);
    const proc = lab.spawn(other, [
      'dhclient',
      '-4',
      '-1',
      '-d',
      '-sf',
      join(env.dir, 'script.sh'),
      '-cf',
      join(env.dir, 'conf4'),
      '-lf',
      join(env.dir, 'lease-other'),
      '-pf',
      join(env.dir, 'pid-other'),
      v2.nameB,
    ]);
    // The daemon sees the other guest's DISCOVERs and counts them as filtered (SIGUSR1 logs it).
    let log = '';
    await until(
      async () => {
        process.kill(pid, 'SIGUSR1');
        log = await readFile(env.config.logFile!, 'utf8').catch(() => '');
        return /"filtered":[1-9]/.test(log);
      },
      30_000,
      () => `filtered frames in the counters: ${log}`,
    );
    const counters = log.match(/"dhcp":\{"rxFrames":(\d+),"replies":(\d+)/);
    assert.ok(counters, log);
    assert.equal(counters[2], '0', 'no DHCP reply to the other guest');
    assert.equal(
      (await events(out)).find((e) => e.reason === 'BOUND'),
      undefined,
    );
    await stopProc(proc);
    // The configured guest is still served.
    const v4 = await dhclient(env, 4, 'v4', env.guestIf, ['BOUND']);
    assert.equal(v4.ev.new_ip_address, '10.0.2.2');
    await stopProc(v4.proc);
    await stopAddressServer(pid);
  },
);
