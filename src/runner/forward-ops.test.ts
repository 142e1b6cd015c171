// forwards.* on a real control socket with a stand-in translator: specs kept in order, failed changes rolled back, bad specs refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { BinderyError, ErrorCode } from '../errors.js';
import { formatPortSpec, parsePortSpec, type PortSpec } from '../usernet/fwd/portspec.js';
import { ControlServer, controlRequest } from './control.js';
import { registerForwardOps } from './forward-ops.js';
import type { ControlContext } from './control-ops.js';
import type { FlowTranslators } from './passt.js';

const sp = (t: string): PortSpec => {
  const r = parsePortSpec(t);
  if (!r.ok) assert.fail(r.error);
  return r.spec;
};

test('forwards.add / delete / clear / show, and a failed change is rolled back', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'bdy-fwdops-'));
  const path = join(dir, 'ctl.sock');
  const ctl = await ControlServer.listen(path);
  const applied: string[][] = [];
  const translators = {
    tcpTranslator: { listeners: 3 },
    udpTranslator: { sockets: 4 },
    setForwards(t: readonly PortSpec[], u: readonly PortSpec[]): Promise<void> {
      applied.push([...t, ...u].map(formatPortSpec));
      // A forward that cannot open its socket (as a port in use would).
      if (t.some((s) => formatPortSpec(s) === '666')) {
        return Promise.reject(new BinderyError(ErrorCode.Syscall, 'listen EADDRINUSE: [::]:666'));
      }
      return Promise.resolve();
    },
  } as unknown as FlowTranslators;
  const ctx = {
    opts: { tcpPorts: [sp('80')], udpPorts: [sp('none')] },
    translators: () => translators,
    logger: pino({ level: 'silent' }),
  } as unknown as ControlContext;
  registerForwardOps(ctl, ctx);
  try {
    assert.deepEqual(await controlRequest(path, 'forwards.show'), {
      tcp: ['80'],
      udp: [],
      sockets: { tcp: 3, udp: 4 },
    });
    const added = (await controlRequest(path, 'forwards.add', {
      tcp: ['8080:80', '0.0.0.0/5000:192.0.2.5/6000'],
      udp: ['53'],
    })) as { tcp: string[]; udp: string[] };
    assert.deepEqual(added.tcp, ['80', '8080:80', '0.0.0.0/5000:192.0.2.5/6000']);
    assert.deepEqual(added.udp, ['53']);
    await assert.rejects(controlRequest(path, 'forwards.add', { tcp: ['666'] }), (e) => {
      assert.ok(e instanceof BinderyError);
      assert.equal(e.code, ErrorCode.Syscall);
      return true;
    });
    // Rolled back: the last applied set is the one before the failed change.
    assert.deepEqual(applied.at(-1), ['80', '8080:80', '0.0.0.0/5000:192.0.2.5/6000', '53']);
    assert.deepEqual(((await controlRequest(path, 'forwards.show')) as { tcp: string[] }).tcp, [
      '80',
      '8080:80',
      '0.0.0.0/5000:192.0.2.5/6000',
    ]);
    await assert.rejects(
      controlRequest(path, 'forwards.delete', { tcp: ['81'] }),
      /no tcp forward '81'/,
    );
    await assert.rejects(
      controlRequest(path, 'forwards.add', { tcp: ['70000'] }),
      /invalid port specifier/,
    );
    await assert.rejects(controlRequest(path, 'forwards.add', { tcp: 'x' }), /must be a list/);
    const del = (await controlRequest(path, 'forwards.delete', { tcp: ['8080:80'] })) as {
      tcp: string[];
    };
    assert.deepEqual(del.tcp, ['80', '0.0.0.0/5000:192.0.2.5/6000']);
    const cleared = (await controlRequest(path, 'forwards.clear', { udp: true })) as {
      tcp: string[];
      udp: string[];
    };
    assert.deepEqual(cleared, { tcp: del.tcp, udp: [], sockets: { tcp: 3, udp: 4 } });
    const all = await controlRequest(path, 'forwards.clear');
    assert.deepEqual(all, { tcp: [], udp: [], sockets: { tcp: 3, udp: 4 } });
  } finally {
    await ctl.close();
    await rm(dir, { recursive: true, force: true });
  }
});
