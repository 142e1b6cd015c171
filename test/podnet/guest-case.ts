// One pod-net binding checked end to end: `bindery pod-net up` on a fixture, a QEMU guest on its tap, the guest script's checks, `pod-net down` and the pod namespace as it was.
//
// Per case one guest boot. The test side answers the guest's handshakes: INBOUND-WAIT (connect
// from the node to the pod's address on each port, then let the guest report what came in) and
// RENEW-WAIT (kill the address server, start it again from the config pod-net wrote, then let the
// guest ask for its lease again). `pod-net down` also runs as a deferred cleanup, so a failing
// case leaves no address server behind.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { bootGuest } from '../lab/qemu.js';
import { waitFor } from '../lab/wait.js';
import {
  BIN,
  DNS4,
  FIXTURES,
  POD4,
  POD6,
  POD_MAC,
  POD_MTU,
  SEARCH,
  TCP_BYTES,
  bindery,
  guestFiles,
  guestScript,
  makeRig,
  marker,
  snapshot,
  uploadSha,
} from './rig.js';
import type { Rig } from './rig.js';

/** One interface of `pod-net up --json`. */
interface UpInterface {
  readonly binding: string;
  readonly tap?: string;
  readonly bridge?: string;
  readonly guestAddress?: string;
  readonly guestAddress6?: string;
  readonly guestMac?: string;
  readonly addressServer?: string;
  readonly addressServerPid?: number;
}

/** What a case expects. */
export interface GuestCase {
  /** Fixture file name under test/fixtures/manifests. */
  readonly fixture: string;
  readonly platform: 'kubevirt' | 'virtink';
  /** Pass podnet-kubevirt-cr.yaml (binding plugins). */
  readonly kubevirtCr?: boolean;
  /** The lease: address, prefix length, router. */
  readonly address: string;
  readonly prefixLength: number;
  readonly router: string;
  /** The MAC the guest must use; default the pod's (bindings without a spec MAC). */
  readonly mac?: string;
  /** Option 121 must hold a default route via the router (bridge-style bindings). */
  readonly staticRoutes: boolean;
  /** Masquerade: the node sees the pod's address; inbound ports that must reach the guest, and ones that must not. */
  readonly inbound?: { readonly open: readonly number[]; readonly closed?: readonly number[] };
  /** Masquerade IPv6: RA, DHCPv6, ping6, TCP, and inbound over IPv6 on this port. */
  readonly ipv6?: { readonly address: string; readonly inboundPort: number };
  /** Restart the address server and ask again. */
  readonly renew?: boolean;
}

/** Runs `pod-net up`, returning its one interface; `pod-net down` is deferred. */
async function podnetUp(rig: Rig, c: GuestCase): Promise<UpInterface> {
  const common = ['--netns', rig.pod, '--state-dir', rig.stateDir];
  rig.lab.defer(async () => {
    // Idempotent: nothing to do when the test already took it down.
    await bindery(rig, ['pod-net', 'down', ...common]);
  });
  const out = await bindery(rig, [
    'pod-net',
    'up',
    join(FIXTURES, c.fixture),
    ...(c.kubevirtCr === true ? ['--kubevirt-cr', join(FIXTURES, 'podnet-kubevirt-cr.yaml')] : []),
    '--for',
    c.platform,
    '--resolv-conf',
    rig.resolvConf,
    '--json',
    ...common,
  ]);
  const r = JSON.parse(out) as { interfaces: UpInterface[] };
  assert.equal(r.interfaces.length, 1, out);
  const i = r.interfaces[0]!;
  assert.ok(i.tap !== undefined, `pod-net gave the interface a tap\n${out}`);
  return i;
}

/** The node connects to `addr`:`port`, sends a line, and returns what came back. */
async function connectFromNode(rig: Rig, addr: string, port: number): Promise<string> {
  const r = await rig.lab.exec(rig.node, ['busybox', 'nc', '-w', '5', addr, String(port)], {
    input: `from-node-${port}\n`,
    timeoutMs: 20_000,
  });
  return r.code === 0 ? r.stdout.trim() : `rc=${r.code} ${r.stderr.trim()}`;
}

/** Kills the address server pod-net started and starts it again from its config. */
async function restartAddressServer(rig: Rig, iface: UpInterface): Promise<number> {
  const pid = iface.addressServerPid;
  assert.ok(pid !== undefined && iface.addressServer !== undefined, 'an address server runs');
  const dir = join(rig.stateDir, rig.pod);
  const config = join(dir, `address-${iface.addressServer}.json`);
  const pidFile = (JSON.parse(readFileSync(config, 'utf8')) as { pidFile: string }).pidFile;
  process.kill(pid, 'SIGTERM');
  const alive = (): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  await waitFor(() => !alive(), 10_000, `address server ${pid} to exit`);
  const daemon = rig.lab.spawn(
    'host',
    [process.execPath, BIN, 'address-server', '--config', config, '-f'],
    {
      label: 'address server (restarted)',
    },
  );
  const pidNow = (): number | undefined => {
    if (!existsSync(pidFile)) return undefined;
    const n = Number(readFileSync(pidFile, 'utf8').trim());
    return n > 0 && n !== pid ? n : undefined;
  };
  await waitFor(
    () => pidNow() !== undefined,
    20_000,
    () => `restarted address server serving\n${daemon.output}`,
    50,
  );
  return pidNow()!;
}

/**
 * Runs one case as subtests of `t`.
 *
 * @param t - The test.
 * @param c - The case.
 */
export async function runGuestCase(t: TestContext, c: GuestCase): Promise<void> {
  const rig = await makeRig(t);
  const before = await snapshot(rig);
  const iface = await podnetUp(rig, c);
  const mac = c.mac ?? iface.guestMac ?? POD_MAC;
  if (iface.guestMac !== undefined)
    assert.equal(iface.guestMac, mac, 'pod-net plans the guest MAC the control plane would');
  assert.equal(iface.guestAddress, `${c.address}/${c.prefixLength}`);

  const guest = await bootGuest(rig.lab, {
    netns: rig.pod,
    tap: iface.tap!,
    mac,
    // The VMM gives the guest the pod MTU, as KubeVirt's <mtu size=…/> and Virtink's net mtu do.
    hostMtu: POD_MTU,
    script: guestScript({
      ...(c.inbound !== undefined
        ? {
            inbound: [
              ...c.inbound.open,
              ...(c.inbound.closed ?? []),
              ...(c.ipv6 ? [c.ipv6.inboundPort] : []),
            ],
          }
        : {}),
      ...(c.ipv6 !== undefined ? { ipv6: true } : {}),
      ...(c.renew === true ? { renew: true } : {}),
    }),
    extraFiles: guestFiles(c.ipv6 !== undefined),
    consoleInput: true,
    memMb: 256,
    timeoutMs: 300_000,
  });
  let serverLog = '';
  const logFile =
    iface.addressServer !== undefined
      ? join(rig.stateDir, rig.pod, `address-${iface.addressServer}.log`)
      : undefined;
  const context = (): string => {
    if (logFile !== undefined && existsSync(logFile)) serverLog = readFileSync(logFile, 'utf8');
    return `console:\n${guest.console.slice(-6000)}\nnode servers:\n${rig.servers.output.slice(-2000)}\naddress server:\n${serverLog.slice(-3000)}`;
  };
  t.diagnostic(`guest ready ${await guest.waitReady(120_000)} ms after QEMU started`);

  const inboundSeen = new Map<string, string>();
  if (c.inbound !== undefined) {
    await guest
      .waitForConsole(/INBOUND-WAIT/, 240_000)
      .catch((e: Error) => assert.fail(`${e.message}\n${context()}`));
    for (const p of [...c.inbound.open, ...(c.inbound.closed ?? [])])
      inboundSeen.set(`${POD4}:${p}`, await connectFromNode(rig, POD4, p));
    if (c.ipv6 !== undefined)
      inboundSeen.set(
        `[${POD6}]:${c.ipv6.inboundPort}`,
        await connectFromNode(rig, POD6, c.ipv6.inboundPort),
      );
    guest.write('go\n');
  }
  if (c.renew === true) {
    await guest
      .waitForConsole(/RENEW-WAIT/, 240_000)
      .catch((e: Error) => assert.fail(`${e.message}\n${context()}`));
    const pid = await restartAddressServer(rig, iface);
    t.diagnostic(`address server restarted as ${pid}`);
    guest.write('go\n');
  }
  const code = await guest
    .waitForExit(240_000)
    .catch((e: Error) => assert.fail(`${e.message}\n${context()}`));
  t.diagnostic(`guest done ${Date.now() - guest.startedAt} ms after QEMU started`);
  const out = guest.console;
  assert.equal(code, 0, context());

  await t.test(`DHCPv4: ${c.address}/${c.prefixLength} via ${c.router}, DNS, search, MTU`, () => {
    assert.match(out, /UDHCPC-RC=0/, context());
    const lease = marker(out, /^LEASE (.*)$/m) ?? '';
    const field = (k: string): string =>
      new RegExp(`(?:^| )${k}=(.*?)(?= \\w+=|$)`).exec(lease)?.[1] ?? '';
    assert.equal(field('ip'), c.address, lease);
    assert.equal(field('mask'), String(c.prefixLength), lease);
    assert.equal(field('router'), c.router, lease);
    assert.equal(field('dns'), DNS4, lease);
    assert.equal(field('search'), SEARCH.join(' '), lease);
    // Option 26 for every binding, Virtink's too (its dnsmasq sends none; bindery's server does).
    assert.equal(field('mtu'), String(POD_MTU), lease);
    if (c.staticRoutes)
      assert.match(
        field('routes'),
        new RegExp(`0\\.0\\.0\\.0/0 ${c.router.replace(/\./g, '\\.')}`),
        lease,
      );
    else assert.equal(field('routes'), '', lease);
    assert.match(
      out,
      new RegExp(`ADDR4 .*inet ${c.address.replace(/\./g, '\\.')}/${c.prefixLength} `),
      context(),
    );
    assert.match(
      out,
      new RegExp(`ROUTE4 default via ${c.router.replace(/\./g, '\\.')} dev eth0`),
      context(),
    );
    assert.match(out, new RegExp(`LINKMTU ${POD_MTU}`), context());
  });

  await t.test(
    `ping, TCP ${TCP_BYTES >> 20} MiB each way and UDP to the node; the node sees ${POD4}`,
    () => {
      assert.match(out, /3 packets transmitted, 3 packets received/, context());
      assert.match(out, /PING4-RC=0/, context());
      const up = marker(out, /^UP (.*)$/m) ?? '';
      assert.match(
        up,
        new RegExp(
          `rc=0 reply=\\[SINK sha=${uploadSha(TCP_BYTES)} len=${TCP_BYTES} peer=${POD4}\\]`,
        ),
        context(),
      );
      const source = marker(rig.servers.output, /^SOURCE (.*)$/m) ?? '';
      const sha = /sha=(\w+) len=(\d+) peer=(\S+)/.exec(source);
      assert.ok(sha !== null, `the node's source ran\n${context()}`);
      assert.equal(sha[2], String(TCP_BYTES));
      assert.equal(sha[3], POD4, 'the node sees the pod address');
      assert.equal(marker(out, /^DOWN sha=(\w+)/m), sha[1], context());
      assert.match(out, /TFTP-RC=0/, context());
      assert.match(
        out,
        new RegExp(`UDP=\\[echo:from-guest@${POD4.replace(/\./g, '\\.')}\\]`),
        context(),
      );
    },
  );

  if (c.inbound !== undefined) {
    const inbound = c.inbound;
    await t.test(
      `inbound from the node to the pod address: ports ${inbound.open.join(', ')} reach the guest${inbound.closed ? `, ${inbound.closed.join(', ')} do not` : ''}`,
      () => {
        for (const p of inbound.open) {
          assert.equal(inboundSeen.get(`${POD4}:${p}`), `guest-${p}`, `${POD4}:${p}\n${context()}`);
          assert.match(out, new RegExp(`INBOUND port=${p} got=\\[from-node-${p}\\]`), context());
        }
        for (const p of inbound.closed ?? []) {
          assert.notEqual(
            inboundSeen.get(`${POD4}:${p}`),
            `guest-${p}`,
            `${POD4}:${p} must not reach the guest`,
          );
          assert.match(out, new RegExp(`INBOUND port=${p} got=\\[\\]`), context());
        }
      },
    );
  }

  if (c.ipv6 !== undefined) {
    const v6 = c.ipv6;
    await t.test(
      `IPv6: RA default route via fe80::1, DHCPv6 ${v6.address}, ping6, TCP and inbound to the node`,
      () => {
        assert.match(out, /ROUTE6 default via fe80::1 dev eth0/, context());
        assert.match(out, /DHCLIENT6-RC=0/, context());
        assert.match(out, new RegExp(`DHCP6 addr=${v6.address} `), context());
        assert.match(out, new RegExp(`ADDR6 .*inet6 ${v6.address}/`), context());
        assert.match(out, /PING6-RC=0/, context());
        const bytes = TCP_BYTES / 16;
        assert.match(
          out,
          new RegExp(`UP6 rc=0 reply=\\[SINK sha=${uploadSha(bytes)} len=${bytes} peer=${POD6}\\]`),
          context(),
        );
        const sources = [
          ...rig.servers.output.matchAll(/^SOURCE sha=(\w+) len=(\d+) peer=(\S+)$/gm),
        ];
        const six = sources.find((m) => m[3] === POD6);
        assert.ok(six !== undefined, `the node's source saw ${POD6}\n${context()}`);
        assert.equal(marker(out, /^DOWN6 sha=(\w+)/m), six[1], context());
        assert.equal(
          inboundSeen.get(`[${POD6}]:${v6.inboundPort}`),
          `guest-${v6.inboundPort}`,
          context(),
        );
      },
    );
  }

  if (c.renew === true) {
    await t.test('the address server restarted: asking again keeps the address', () => {
      assert.match(out, /UDHCPC2-RC=0/, context());
      assert.match(
        out,
        new RegExp(
          `^LEASE2 ip=${c.address.replace(/\./g, '\\.')} mask=${c.prefixLength} router=${c.router.replace(/\./g, '\\.')} `,
          'm',
        ),
        context(),
      );
    });
  }

  await t.test('pod-net down leaves the pod namespace as it was', async () => {
    await bindery(rig, ['pod-net', 'down', '--netns', rig.pod, '--state-dir', rig.stateDir]);
    assert.deepEqual(await snapshot(rig), before);
    assert.equal(existsSync(join(rig.stateDir, rig.pod)), false, 'state removed');
  });
}
