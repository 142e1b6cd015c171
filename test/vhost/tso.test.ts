// TCP segmentation offload on bindery passt --vhost-user at MTU 1500: a QEMU 10 guest that negotiated TSO both ways, then one that refused GUEST_TSO, streaming with sha256 both ways.
//
// One daemon (`-m 1500`, not one-off, a control socket) and two boots on its socket. Boot 1 is
// a stock virtio-net device: the guest's driver negotiates HOST_TSO4/6 and GUEST_TSO4/6 (read
// from /sys/.../device/features), takes its MTU of 1500 by DHCP, and streams both ways and
// families with sha256 at both ends; the link's counters (control op `counters`, `link`) must
// show GSO frames each way (txGso from the guest, rxGso to it) and nothing segmented. Boot 2
// sets guest_tso4=off,guest_tso6=off on the device: the driver has no GUEST_TSO, so every TCP
// frame past the MTU must be cut to the MTU by bindery (rxSegmented grows, rxGso does not)
// while transfers to the guest still check out.
//
// BINDERY_VHOST_TSO_STREAM: bytes streamed each way and family (suffix K/M; default 32M).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { controlRequest } from '../../src/runner/control.js';
import { labSkipReason } from '../lab/lab.js';
import { qemu10SkipReason } from '../lab/qemu.js';
import {
  FAMILIES,
  GuestShell,
  HTTP_PORT,
  STREAM_BLOCK,
  bootShell,
  checkStreamed,
  parseSize,
  rig,
  roundSize,
  streamSecs,
  type Rig,
} from '../qemu/passt-tcp-rig.js';

const STREAMED = roundSize(parseSize('BINDERY_VHOST_TSO_STREAM') ?? 32 * 1024 * 1024);
const MTU = 1500;

/** The vhost-user link's counters, as the control socket answers them. */
interface LinkCounters {
  txFrames: number;
  txGso: number;
  txBadGso: number;
  rxFrames: number;
  rxGso: number;
  rxSegmented: number;
}

async function linkCounters(ctl: string): Promise<LinkCounters> {
  const c = (await controlRequest(ctl, 'counters')) as { link?: LinkCounters };
  assert.ok(c.link, `no link counters in ${JSON.stringify(c)}`);
  return c.link;
}

/** The guest driver's negotiated virtio feature bits (sysfs: one '0'/'1' per bit). */
async function guestFeatures(r: Rig): Promise<string> {
  const g = await r.sh.run('echo "FEATURES=$(cat /sys/class/net/eth0/device/features)"');
  const m = /FEATURES=([01]+)/.exec(g.out);
  assert.ok(m, `no features in ${g.out}\n${r.context()}`);
  return m[1]!;
}

const TSO_BITS = { GUEST_TSO4: 7, GUEST_TSO6: 8, HOST_TSO4: 11, HOST_TSO6: 12 } as const;

const skip = qemu10SkipReason() ?? labSkipReason();

test(
  `vhost-user TSO at MTU ${MTU}: GSO frames both ways with a TSO driver, segments for a driver without GUEST_TSO; sha256 transfers`,
  { skip, timeout: 900_000 },
  async (t) => {
    let ctl = '';
    const r = await rig(t, {
      vhostUser: true,
      oneOff: false,
      lifetimeMs: 600_000,
      daemonArgs: (dir) => {
        ctl = join(dir, 'ctl.sock');
        return ['-m', String(MTU), '-c', ctl];
      },
      extraFiles: [{ type: 'file', path: 'blk', data: STREAM_BLOCK, mode: 0o644 }],
    });

    await t.test('the guest took MTU 1500 by DHCP and negotiated TSO both ways', async () => {
      assert.match(r.guest.console, /LEASE ip=10\.91\.0\.15 router=10\.91\.0\.1 mtu=1500/);
      const l = await r.sh.run('ip link show dev eth0');
      assert.match(l.out, /mtu 1500 /, r.context());
      const f = await guestFeatures(r);
      for (const [name, b] of Object.entries(TSO_BITS)) assert.equal(f[b], '1', `${name} in ${f}`);
    });

    const before = await linkCounters(ctl);
    await checkStreamed(t, r, STREAMED);
    await t.test('the link carried GSO frames each way and segmented none', async () => {
      const after = await linkCounters(ctl);
      t.diagnostic(`link counters: ${JSON.stringify(after)}`);
      assert.ok(after.txGso > before.txGso, `GSO frames from the guest: ${after.txGso}`);
      assert.ok(after.rxGso > before.rxGso, `GSO frames to the guest: ${after.rxGso}`);
      assert.equal(after.rxSegmented, 0);
      assert.equal(after.txBadGso, 0);
    });

    await t.test(
      'a driver without GUEST_TSO (guest_tso4=off,guest_tso6=off) gets MTU-sized segments',
      async (st) => {
        await r.guest.kill();
        // QEMU's reconnect-ms retries until the daemon has let the old connection go.
        const guest = await bootShell(st, r.lab, r.sock, {
          vhostUser: true,
          deviceProps: 'guest_tso4=off,guest_tso6=off',
          lifetimeMs: 300_000,
          extraFiles: [{ type: 'file', path: 'blk', data: STREAM_BLOCK, mode: 0o644 }],
        });
        const context = (): string =>
          `console:\n${guest.console.slice(-3000)}\npeers:\n${r.pod.peers.output.slice(-1500)}`;
        const r2: Rig = { ...r, guest, sh: new GuestShell(guest, context), context };
        const f = await guestFeatures(r2);
        assert.equal(f[TSO_BITS.GUEST_TSO4], '0', f);
        assert.equal(f[TSO_BITS.GUEST_TSO6], '0', f);
        assert.equal(f[TSO_BITS.HOST_TSO4], '1', f);
        const mid = await linkCounters(ctl);
        const secs = streamSecs(STREAMED);
        for (const fam of FAMILIES) {
          const tag = `noTSO-${fam.name}-${Date.now()}`;
          const g = await r2.sh.run(
            `GT=${secs} getsum http://${fam.url}:${HTTP_PORT}/stream/${tag}/${STREAMED}`,
            (secs + 30) * 1000,
          );
          const served = await r.pod.peers.waitForOutput(
            new RegExp(`STREAMED ${tag} ${STREAMED} ([0-9a-f]{64})`),
            10_000,
          );
          st.diagnostic(`pod → guest ${fam.name} without GUEST_TSO: ${STREAMED} B in ${g.ms} ms`);
          assert.match(g.out, new RegExp(`GETSUM sha=${served[1]} rc=0`), context());
        }
        const after = await linkCounters(ctl);
        st.diagnostic(`link counters: ${JSON.stringify(after)}`);
        assert.ok(after.rxSegmented > mid.rxSegmented, 'frames past the MTU were segmented');
        assert.equal(after.rxGso, mid.rxGso, 'no GSO frame to a driver without GUEST_TSO');
        await guest.kill();
      },
    );
  },
);
