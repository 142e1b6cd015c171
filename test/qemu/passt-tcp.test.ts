// TCP through a QEMU guest on bindery passt's stream socket: wget, a forwarded port, big transfers, many connections, half-close, refused, a killed peer, and the same under BINDERY_IMPAIR.
//
// The rig, the checks and their knobs (BINDERY_QEMU_TCP_*) are in passt-tcp-rig.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { labSkipReason } from '../lab/lab.js';
import { qemuSkipReason } from '../lab/qemu.js';
import { programWithLibraries } from '../lab/initramfs.js';
import {
  BIG,
  BIG_IMPAIRED,
  CLEAN_BOOT_MS,
  CONNS,
  DAEMON,
  IMPAIR,
  IPERF3,
  STREAM_BLOCK,
  STREAMED,
  USE_PASST,
  checkBig,
  checkHalfClose,
  checkIperf,
  checkKilledPeer,
  checkLeave,
  checkMany,
  checkReach,
  checkRefused,
  checkStreamed,
  rig,
} from './passt-tcp-rig.js';

const skip = qemuSkipReason() ?? labSkipReason();

test(
  `TCP through a QEMU guest on ${DAEMON}`,
  { skip, timeout: CLEAN_BOOT_MS + 60_000 },
  async (t) => {
    const r = await rig(t, {
      lifetimeMs: CLEAN_BOOT_MS,
      extraFiles: [
        ...(IPERF3 ? programWithLibraries(IPERF3) : []),
        { type: 'file', path: 'blk', data: STREAM_BLOCK, mode: 0o644 },
      ],
    });
    await checkReach(t, r);
    await checkRefused(t, r);
    await checkBig(t, r, BIG);
    await checkStreamed(t, r, STREAMED);
    await checkMany(t, r, CONNS);
    await checkKilledPeer(t, r);
    if (IPERF3) await checkIperf(t, r);
    await checkHalfClose(t, r);
    await checkLeave(t, r);
  },
);

test(
  `TCP through a QEMU guest on ${DAEMON} with ${IMPAIR}`,
  { skip, timeout: 300_000 },
  async (t) => {
    if (USE_PASST) t.diagnostic('passt does not read BINDERY_IMPAIR: this boot is not impaired');
    const r = await rig(t, { env: { BINDERY_IMPAIR: IMPAIR }, keepMtu: true });
    await checkReach(t, r);
    await checkRefused(t, r);
    await checkBig(t, r, BIG_IMPAIRED);
    const counters = await checkLeave(t, r);
    if (!USE_PASST) {
      await t.test('the impairment was felt: retransmissions and out-of-order segments', () => {
        assert.ok(counters, `no tcp counters in ${DAEMON}'s log`);
        const resent = (counters.retransmits ?? 0) + (counters.fastRetransmits ?? 0);
        assert.ok(resent > 0, JSON.stringify(counters));
        assert.ok((counters.outOfOrder ?? 0) > 0, JSON.stringify(counters));
      });
    }
  },
);
