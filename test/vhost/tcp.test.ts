// A QEMU 10 guest on `bindery passt --vhost-user`: the TCP suite's checks, ping, DHCPv6, UDP and DNS both families, and QEMU killed mid-transfer and started again.
//
// One daemon (not one-off) and two boots on the same socket. The first boot runs the stream
// suite's checks (passt-tcp-rig.ts: lease, SLAAC, wget both families, the inbound forward both
// families, refused connects, streamed transfers with sha256 at both ends), then ping, DHCPv6 and
// DNS over UDP to a dnsmasq on the pod's loopback, both families. Then QEMU is SIGKILLed while
// the pod streams to the guest: the daemon must drop the connection's mappings, take QEMU's
// reconnection from a second boot, serve it, and be back at the fd and mapping count it had
// before the kill (/proc/PID/fd, memfd lines of /proc/PID/maps).
//
// Streamed each way: BINDERY_VHOST_STREAM_V4 over IPv4 (suffix K/M/G; default 1G, the issue's
// full size: about six minutes of this file under TCG on two shared cores, the guest's busybox
// nc and sha256sum being the bottleneck) and BINDERY_VHOST_STREAM over IPv6 (default 64M).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { labSkipReason } from '../lab/lab.js';
import { programWithLibraries } from '../lab/initramfs.js';
import { qemu10SkipReason } from '../lab/qemu.js';
import { waitFor } from '../lab/wait.js';
import {
  FAMILIES,
  GuestShell,
  HTTP_PORT,
  STREAM_BLOCK,
  bootShell,
  checkReach,
  checkRefused,
  checkStreamed,
  parseSize,
  rig,
  roundSize,
  streamSecs,
  type Rig,
} from '../qemu/passt-tcp-rig.js';

const STREAMED = roundSize(parseSize('BINDERY_VHOST_STREAM') ?? 64 * 1024 * 1024);
const STREAMED_V4 = roundSize(parseSize('BINDERY_VHOST_STREAM_V4') ?? 1024 * 1024 * 1024);
/** Upper bound of the streamed transfers (streamSecs each way and family, plus slack). */
const STREAM_MS = 2 * (streamSecs(STREAMED) + streamSecs(STREAMED_V4) + 60) * 1000;
const DNS_NAME = 'vhost.bdy.test';
const DNS_A = '10.1.2.3';
const DNS_AAAA = 'fd00::123';

/** Open fds and memfd mappings of a process. */
function resources(pid: number): { fds: number; memfd: number } {
  const fds = readdirSync(`/proc/${pid}/fd`).length;
  const memfd = readFileSync(`/proc/${pid}/maps`, 'utf8')
    .split('\n')
    .filter((l) => l.includes('/memfd:')).length;
  return { fds, memfd };
}

const skip = qemu10SkipReason() ?? labSkipReason();

test(
  'TCP, UDP, DNS, DHCPv6 through a QEMU 10 guest on bindery passt --vhost-user; QEMU killed and restarted',
  { skip, timeout: 900_000 + STREAM_MS },
  async (t) => {
    const r = await rig(t, {
      vhostUser: true,
      oneOff: false,
      lifetimeMs: 600_000 + STREAM_MS,
      extraFiles: [
        { type: 'file', path: 'blk', data: STREAM_BLOCK, mode: 0o644 },
        ...programWithLibraries('/usr/sbin/dhclient'),
      ],
    });
    await r.lab.sysctl(r.pod.ns, 'net.ipv4.ping_group_range', '0 2147483647');
    const dns = r.lab.spawn(
      r.pod.ns,
      [
        'dnsmasq',
        '-k',
        '--no-resolv',
        '--no-hosts',
        '--bind-interfaces',
        '--listen-address=127.0.0.1,::1',
        '--user=root',
        '--pid-file=',
        '--log-queries',
        '--log-facility=-',
        `--address=/${DNS_NAME}/${DNS_A}`,
        `--address=/${DNS_NAME}/${DNS_AAAA}`,
      ],
      { label: 'dnsmasq' },
    );
    await dns.waitForOutput(/started, version/, 20_000);

    await checkReach(t, r);
    await checkRefused(t, r);

    for (const f of FAMILIES) {
      await t.test(`${f.name}: ping to the gateway ${f.gw}`, async () => {
        const g = await r.sh.run(
          `${f.name === 'IPv4' ? 'ping' : 'ping6'} -c 3 -W 5 ${f.gw}; echo PING-RC=$?`,
        );
        assert.match(g.out, /3 packets transmitted, 3 packets received/, r.context());
      });
      await t.test(`${f.name}: DNS over UDP to ${f.gw} reaches the pod's resolver`, async () => {
        const g = await r.sh.run(`nslookup ${DNS_NAME} ${f.gw}; echo NSLOOKUP-RC=$?`);
        assert.match(g.out, new RegExp(`Address:\\s+${DNS_A.replace(/\./g, '\\.')}`), r.context());
        assert.match(g.out, new RegExp(`Address:\\s+${DNS_AAAA}`), r.context());
        assert.match(g.out, /NSLOOKUP-RC=0/, r.context());
      });
    }

    await t.test('DHCPv6: dhclient -6 gets the guest address', async () => {
      const g = await r.sh.run(
        `mkdir -p /var/lib/dhcp /var/run /etc; : > /tmp/dh6.conf; printf '#!/bin/sh\\necho "DH6 $reason $new_ip6_address $new_dhcp6_name_servers"\\n' > /tmp/dh6.sh; chmod 755 /tmp/dh6.sh; timeout 60 dhclient -6 -1 -cf /tmp/dh6.conf -sf /tmp/dh6.sh -lf /tmp/dh6.leases -pf /tmp/dh6.pid eth0; echo DHCLIENT6-RC=$?; kill $(cat /tmp/dh6.pid) 2>/dev/null; true`,
        90_000,
      );
      assert.match(g.out, /DH6 BOUND6 fd91::5054:ff:fe12:3456 /, r.context());
      assert.match(g.out, /DHCLIENT6-RC=0/, r.context());
    });

    await checkStreamed(t, r, STREAMED, (f) => (f === 'IPv4' ? STREAMED_V4 : STREAMED));

    await t.test(
      'QEMU killed mid-transfer: mappings released; a new QEMU is served; no fd or mapping leaked',
      async (st) => {
        const pid = r.daemon.pid;
        const before = resources(pid);
        st.diagnostic(`daemon before the kill: ${JSON.stringify(before)}`);
        assert.ok(before.memfd > 0, 'guest memory is mapped');
        // A transfer the kill interrupts: wait until the pod has sent a few MiB of it.
        void r.sh
          .run(
            `GT=300 getsum http://${FAMILIES[0].url}:${HTTP_PORT}/stream/killed/${1 << 30}`,
            330_000,
          )
          .catch(() => {});
        await waitForAcked(r, 4 << 20, 120_000);
        await r.guest.kill();
        await waitFor(
          () => resources(pid).memfd === 0,
          30_000,
          () => `guest memory unmapped after the kill: ${JSON.stringify(resources(pid))}`,
        );
        const guest = await bootShell(st, r.lab, r.sock, { vhostUser: true, lifetimeMs: 300_000 });
        const context = (): string =>
          `console:\n${guest.console.slice(-3000)}\npeers:\n${r.pod.peers.output.slice(-1500)}`;
        const r2: Rig = { ...r, guest, sh: new GuestShell(guest, context), context };
        await checkReach(st, r2);
        // The flows of the first guest and of the checks are gone once idle.
        await waitFor(
          () => {
            const now = resources(pid);
            return now.fds <= before.fds && now.memfd === before.memfd;
          },
          60_000,
          () => `back to ${JSON.stringify(before)}: now ${JSON.stringify(resources(pid))}`,
        );
        st.diagnostic(`daemon after the restart: ${JSON.stringify(resources(pid))}`);
        await guest.kill();
      },
    );
  },
);

/** Waits until the pod's HTTP peer has had `bytes` acknowledged on one connection (ss -ti). */
async function waitForAcked(r: Rig, bytes: number, ms: number): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    const ss = await r.lab.exec(r.pod.ns, [
      'ss',
      '-tniH',
      'state',
      'established',
      `( sport = :${HTTP_PORT} )`,
    ]);
    const acked = [...ss.stdout.matchAll(/bytes_acked:(\d+)/g)].map((m) => Number(m[1]));
    if (acked.some((a) => a >= bytes)) return;
    if (Date.now() > end)
      throw new Error(`no connection from :${HTTP_PORT} acked ${bytes} bytes:\n${ss.stdout}`);
    await new Promise((res) => setTimeout(res, 200));
  }
}
