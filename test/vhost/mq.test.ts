// Multiqueue on `bindery passt --vhost-user`: a two-vCPU QEMU 10 guest with two queue pairs gets its lease and moves TCP both ways over parallel connections; both TX rings carry frames.
//
// One boot: `-smp 2`, `-netdev vhost-user,…,queues=2`, `-device virtio-net-pci,mq=on,vectors=6`.
// Linux's virtio_net uses min(queue pairs, vCPUs) pairs, so the guest shows rx-0/rx-1 and
// tx-0/tx-1, and each pair's interrupts go to its own vCPU. CONNS downloads and CONNS uploads
// run at once (half per family each way), hashed at both ends. Sixteen flows hashed over two RX
// rings all land on one with odds of 2^-15, so the RX assertion does not flake. The daemon's control socket
// (`counters` → link.txQueueFrames / rxQueueFrames) must then show frames on both TX rings
// (the guest picks a TX ring by the sending vCPU: uploads pinned to each vCPU with taskset, and
// the ACKs of downloads go out from the vCPU whose RX ring took the flow) and on both RX rings
// (bindery hashes each flow to one). Then QEMU is killed: the daemon (not one-off) must close
// the eventfds of every ring of both pairs and unmap the guest's memory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { controlRequest } from '../../src/runner/control.js';
import { TMPDIR_PREFIX, labSkipReason } from '../lab/lab.js';
import { qemu10SkipReason } from '../lab/qemu.js';
import { waitFor } from '../lab/wait.js';
import {
  FAMILIES,
  GUEST4,
  HTTP_PORT,
  SINK_PORT,
  STREAM_BLOCK,
  rig,
  roundSize,
  parseSize,
} from '../qemu/passt-tcp-rig.js';

/** Connections each way. */
const CONNS = 8;
/** Bytes per connection each way (BINDERY_VHOST_MQ_STREAM, suffix K/M; default 8M). */
const PER_CONN = roundSize(parseSize('BINDERY_VHOST_MQ_STREAM') ?? 8 * 1024 * 1024);

const skip = qemu10SkipReason() ?? labSkipReason();

interface LinkCounters {
  txQueueFrames: number[];
  rxQueueFrames: number[];
}

test(
  'multiqueue: a 2-vCPU QEMU 10 guest on 2 queue pairs — lease, parallel TCP both ways with sha256, both TX rings used',
  { skip, timeout: 600_000 },
  async (t) => {
    const stamp = `${process.pid}-${Date.now()}`;
    // The rig makes its pod dir itself; the control socket gets a lab-named dir of its own.
    const dir = await mkdtemp(join(tmpdir(), TMPDIR_PREFIX));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const ctl = join(dir, 'control.sock');
    const r = await rig(t, {
      vhostUser: true,
      oneOff: false,
      smp: 2,
      queues: 2,
      lifetimeMs: 480_000,
      extraFiles: [{ type: 'file', path: 'blk', data: STREAM_BLOCK, mode: 0o644 }],
      daemonArgs: () => ['-c', ctl],
    });
    const counters = async (): Promise<LinkCounters> =>
      ((await controlRequest(ctl, 'counters')) as { link: LinkCounters }).link;

    await t.test('the guest runs two queue pairs and got its lease', async () => {
      assert.match(r.guest.console, new RegExp(`LEASE ip=${GUEST4.replace(/\./g, '\\.')} `));
      const g = await r.sh.run('nproc; ls /sys/class/net/eth0/queues/ | tr "\\n" " "');
      assert.match(g.out, /^2\n/, r.context());
      assert.match(g.out, /rx-0 rx-1 tx-0 tx-1/, r.context());
    });

    await t.test(
      `${CONNS} downloads and ${CONNS} uploads at once (${PER_CONN} bytes each, both families), sha256 at both ends`,
      async () => {
        const count = Math.ceil(PER_CONN / STREAM_BLOCK.length);
        const total = count * STREAM_BLOCK.length;
        const h = createHash('sha256');
        for (let k = 0; k < count; k++) h.update(STREAM_BLOCK);
        const sent = h.digest('hex');
        const secs = Math.max(180, Math.ceil((2 * CONNS * PER_CONN) / (1024 * 1024)));
        // Connection i: family i % 2; its download pinned to vCPU (i / 2) % 2 and its upload to
        // the other, so each family runs on both vCPUs. Short job lines: the console's line
        // discipline takes at most 4095 characters.
        await r.sh.run(
          `mqget() { s=$(timeout ${secs} taskset -c $1 wget -q -O - "$2" | sha256sum | cut -d' ' -f1); echo "MQGET $3 $s"; }; ` +
            `mqput() { r=$(j=0; while [ $j -lt ${count} ]; do cat /blk; j=$((j+1)); done | timeout ${secs} taskset -c $1 nc $2 ${SINK_PORT}); echo "MQPUT $3 $r"; }`,
        );
        const jobs: string[] = [];
        const tags: string[] = [];
        for (let i = 0; i < CONNS; i++) {
          const f = FAMILIES[i % 2]!;
          const cpu = (i >> 1) % 2;
          const tag = `mq${i}-${stamp}`;
          tags.push(tag);
          jobs.push(
            `mqget ${cpu} http://${f.url}:${HTTP_PORT}/stream/${tag}/${PER_CONN} ${tag} &`,
            `mqput ${1 - cpu} ${f.gw} ${i} &`,
          );
        }
        const before = await counters();
        const g = await r.sh.run(`${jobs.join(' ')} wait`, (secs + 60) * 1000);
        t.diagnostic(
          `${2 * CONNS} transfers of ${PER_CONN} B in ${g.ms} ms (${(((2 * CONNS * PER_CONN * 8) / g.ms) * 1e-3).toFixed(0)} Mbit/s in all)`,
        );
        for (const tag of tags) {
          const served = await r.pod.peers.waitForOutput(
            new RegExp(`STREAMED ${tag} ${PER_CONN} ([0-9a-f]{64})`),
            10_000,
          );
          assert.match(g.out, new RegExp(`MQGET ${tag} ${served[1]}`), r.context());
        }
        for (let i = 0; i < CONNS; i++)
          assert.match(g.out, new RegExp(`MQPUT ${i} ${sent} ${total}`), r.context());
        const after = await counters();
        const delta = (k: keyof LinkCounters): number[] =>
          after[k].map((n, q) => n - (before[k][q] ?? 0));
        const tx = delta('txQueueFrames');
        const rx = delta('rxQueueFrames');
        t.diagnostic(`frames per pair during the transfers: TX ${tx} RX ${rx}`);
        const {
          txQueueFrames: _t,
          rxQueueFrames: _r,
          ...rest
        } = after as unknown as Record<string, unknown>;
        t.diagnostic(`link counters: ${JSON.stringify(rest)}`);
        assert.ok(tx[0]! > 0 && tx[1]! > 0, `both TX rings carried frames: ${tx}`);
        assert.ok(rx[0]! > 0 && rx[1]! > 0, `both RX rings carried frames: ${rx}`);
        assert.ok(
          tx.slice(2).every((n) => n === 0) && rx.slice(2).every((n) => n === 0),
          'no ring past the two pairs touched',
        );
      },
    );

    await t.test(
      'QEMU killed: every ring of both pairs released (no eventfd, no guest mapping left)',
      async () => {
        const pid = r.daemon.pid;
        const before = resources(pid);
        t.diagnostic(`daemon while the guest runs: ${JSON.stringify(before)}`);
        // Node's own loop holds eventfds too: the rings' (a kick and a call each, at least)
        // are what must go.
        assert.ok(before.eventfds >= 8, 'kick and call eventfds of four rings');
        await r.guest.kill();
        await waitFor(
          () => {
            const now = resources(pid);
            return now.eventfds <= before.eventfds - 8 && now.memfd === 0;
          },
          30_000,
          () => `rings released after the kill: ${JSON.stringify(resources(pid))}`,
        );
        t.diagnostic(`daemon after the kill: ${JSON.stringify(resources(pid))}`);
        assert.equal(r.daemon.exitStatus, undefined, 'the daemon keeps serving');
      },
    );
  },
);

/** Eventfds and memfd mappings of a process. */
function resources(pid: number): { eventfds: number; memfd: number } {
  let eventfds = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`) === 'anon_inode:[eventfd]') eventfds++;
    } catch {
      // closed meanwhile
    }
  }
  const memfd = readFileSync(`/proc/${pid}/maps`, 'utf8')
    .split('\n')
    .filter((l) => l.includes('/memfd:')).length;
  return { eventfds, memfd };
}
