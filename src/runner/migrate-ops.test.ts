// migrate.import on a real control socket: any malformed state is refused with BINDERY_ERR_MIGRATE, nothing is imported, and the translator keeps answering.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import type { Logger } from 'pino';
import { BinderyError, ErrorCode } from '../errors.js';
import { ControlServer, controlRequest } from './control.js';
import { registerControlOps, type ControlContext } from './control-ops.js';
import { registerMigrateOps } from './migrate-ops.js';
import {
  decodeHandoverState,
  encodeHandoverState,
  type TcpFlowState,
} from '../usernet/flow/tcp/migrate-state.js';
import type { TcpRepair } from '../usernet/host/repair.js';
import { SAMPLE } from '../../test/lab/handover-fixtures.js';

const quiet = { info() {}, warn() {}, debug() {}, error() {} } as unknown as Logger;

/** A control server with the migrate ops over a fake translator that counts imports. */
async function withTranslator(
  repairPath: string | undefined,
  fn: (path: string, imported: TcpFlowState[][]) => Promise<void>,
): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'bdy-migrate-'));
  const path = join(dir, 'ctl.sock');
  const server = await ControlServer.listen(path);
  const imported: TcpFlowState[][] = [];
  const tcpTranslator = {
    counters: {},
    importFlows: (_r: TcpRepair, flows: readonly TcpFlowState[]) => {
      imported.push([...flows]);
      return { imported: flows.length, failed: [] };
    },
    exportFlows: () => ({ flows: [], dropped: 0 }),
  };
  const ctx = {
    opts: { repairPath, tcpPorts: [], udpPorts: [] },
    daemon: {
      guestMac: new Uint8Array(6).fill(0xff),
      adoptGuestMac() {},
      linkUp() {},
      counters: {},
      serviceCounters: {},
      table: { size: 0, counters: {} },
    },
    translators: () => ({ tcpTranslator }),
    logger: quiet,
    pid: 1,
  } as unknown as ControlContext;
  try {
    registerControlOps(server, ctx);
    // The fake helper: never reached by a malformed state.
    registerMigrateOps(server, ctx, () => ({}) as TcpRepair);
    await fn(path, imported);
  } finally {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const isMigrateError = (e: unknown) => e instanceof BinderyError && e.code === ErrorCode.Migrate;

test('a malformed migrate.import is refused, nothing imported, the translator keeps serving', async () => {
  await withTranslator('/nonexistent/repair.sock', async (path, imported) => {
    const valid = JSON.parse(JSON.stringify(encodeHandoverState(SAMPLE))) as unknown;
    // A valid state reaches the translator (the fake imports it).
    assert.deepEqual(await controlRequest(path, 'migrate.import', { state: valid }), {
      imported: 2,
      failed: [],
      attached: false,
    });
    assert.equal(imported.length, 1);
    imported.length = 0;
    // Paths into the valid state, to replace one value at a time.
    const paths: (string | number)[][] = [];
    const walk = (v: unknown, p: (string | number)[]) => {
      paths.push(p);
      if (v !== null && typeof v === 'object')
        for (const [k, x] of Object.entries(v)) walk(x, [...p, Array.isArray(v) ? Number(k) : k]);
    };
    walk(valid, []);
    const mutated = fc
      .tuple(fc.constantFrom(...paths.filter((p) => p.length > 0)), fc.jsonValue())
      .map(([p, value]) => {
        const j = structuredClone(valid) as Record<string | number, unknown>;
        let o = j;
        for (const k of p.slice(0, -1)) o = o[k] as Record<string | number, unknown>;
        o[p[p.length - 1]!] = value;
        return j as unknown;
      });
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.jsonValue(), mutated), async (state) => {
        let ok = true;
        try {
          decodeHandoverState(state);
        } catch {
          ok = false;
        }
        fc.pre(!ok); // a mutation that left the state valid says nothing here
        await assert.rejects(controlRequest(path, 'migrate.import', { state }), isMigrateError);
        assert.equal(imported.length, 0, 'nothing imported');
      }),
      { numRuns: 200 },
    );
    // Arguments of the wrong shape, and a file that is not there.
    for (const args of [
      [],
      'x',
      { file: '' },
      { file: join(path, 'nope') },
      { state: valid, file: '/x' },
    ])
      await assert.rejects(controlRequest(path, 'migrate.import', args), isMigrateError);
    assert.ok(await controlRequest(path, 'ping'), 'still serving');
    assert.equal(imported.length, 0);
  });
});

test('without --repair-path the hand-over ops say so', async () => {
  await withTranslator(undefined, async (path) => {
    await assert.rejects(controlRequest(path, 'migrate.export'), (e: unknown) => {
      return isMigrateError(e) && /--repair-path/.test((e as Error).message);
    });
    const valid = encodeHandoverState(SAMPLE);
    await assert.rejects(controlRequest(path, 'migrate.import', { state: valid }), isMigrateError);
    // An empty state needs no helper: the tap would just be attached.
    const empty = { version: 1, guestMac: null, flows: [] };
    assert.deepEqual(await controlRequest(path, 'migrate.import', { state: empty }), {
      imported: 0,
      failed: [],
      attached: false,
    });
  });
});
