// `bindery passt` holds only what it uses: no library of another command loaded, and nothing per flow left once thousands of connections are gone (counts, not bytes; docs/memory.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Lab, labSkipReason } from '../lab/lab.js';
import { startTcpLink, lastJson, GW4, GW6 } from '../lab/tcp-tools.js';
import { controlRequest } from '../../src/runner/control.js';
import type { MemoryReport } from '../../src/runner/memory-ops.js';

const skip = labSkipReason();
/** Connections per round (all open at once, then each echoes a few hundred bytes and closes). */
const PER_ROUND = 500;
/** Rounds per family. */
const ROUNDS = 2;
/** Libraries of other commands (render, sidecar, validate, …) and of options not given. */
const NOT_USED = [
  '@grpc/grpc-js',
  '@grpc/proto-loader',
  'protobufjs',
  'prom-client',
  'yaml',
  'js-yaml',
  'xmlbuilder2',
  'fast-xml-parser',
  'rfc6902',
];

test(
  'bindery passt loads what it uses and keeps nothing per flow',
  { skip, timeout: 240_000 },
  async (t) => {
    const lab = await Lab.create(t);
    const dir = await lab.tmpDir();
    const ctl = join(dir, 'passt.ctl');
    const link = await startTcpLink(lab, { kind: 'bindery', binderyArgs: ['-c', ctl] });
    const memory = async (): Promise<MemoryReport> =>
      (await controlRequest(ctl, 'memory')) as MemoryReport;

    await t.test('no library of another command or of an option not given', async () => {
      const m = await memory();
      // The list is real: the daemon's own logger and argv parser are there.
      assert.ok(m.packages.includes('pino'), m.packages.join(' '));
      assert.ok(m.packages.includes('commander'), m.packages.join(' '));
      assert.deepEqual(
        m.packages.filter((p) => NOT_USED.includes(p)),
        [],
        `loaded: ${m.packages.join(' ')}`,
      );
    });

    await t.test(
      `${2 * ROUNDS * PER_ROUND} connections later, no per-flow state is left`,
      async () => {
        const servers = [
          ['127.0.0.1', GW4],
          ['::1', GW6],
        ].map(([bind, gw], i) => {
          const port = 23_000 + i;
          return {
            gw: gw!,
            port,
            proc: lab.spawn(link.pod, [...link.tool, 'echo', bind!, String(port)]),
          };
        });
        for (const s of servers) await s.proc.waitForOutput(/ready/, 10_000);
        for (const s of servers) {
          for (let r = 0; r < ROUNDS; r++) {
            const out = await lab.exec(
              link.guest,
              [...link.tool, 'many', s.gw, String(s.port), String(PER_ROUND), '60'],
              { timeoutMs: 120_000 },
            );
            const rep = lastJson<{ connected: number; verified: number; errors: string[] }>(
              out.stdout,
            );
            assert.equal(rep.verified, PER_ROUND, `${s.gw}: ${JSON.stringify(rep)}${out.stderr}`);
          }
        }
        const created = ((await controlRequest(ctl, 'counters')) as { flows: { created: number } })
          .flows.created;
        assert.ok(created >= 2 * ROUNDS * PER_ROUND, `flows created: ${created}`);
        // Finished connections linger ~2 s (retransmitted FINs), then go.
        let m = await memory();
        // TCP flows still in the table, and index entries beyond the flows that are live (UDP and
        // ping flows of the readiness check may still be: their timeouts are long).
        const left = (r: MemoryReport): number => {
          const f = r.flows;
          const live = f.table.byId;
          const tcpFlows = live - (f.udp ?? 0) - (f.ping ?? 0);
          const extra = f.table.bySide - 2 * live + Math.max(0, f.table.byBytes - 2 * live);
          const t = f.tcp!;
          return tcpFlows + extra + t.dirty + t.delayedAck + t.timed + t.frames;
        };
        const end = Date.now() + 30_000;
        while (left(m) !== 0 && Date.now() < end) {
          await new Promise((r) => setTimeout(r, 200));
          m = await memory();
        }
        assert.equal(left(m), 0, `left: ${JSON.stringify(m.flows)}`);
        assert.deepEqual(m.flows.tcp, { dirty: 0, delayedAck: 0, timed: 0, frames: 0 });
        assert.equal(link.proc.exitStatus, undefined, link.proc.output);
      },
    );
  },
);
