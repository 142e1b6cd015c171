// Tests of the lab itself: names, veths, processes, deadlines, and that teardown always leaves nothing behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { ErrorCode } from '../../src/errors.js';
import { HOST, Lab, NETNS_PREFIX, TMPDIR_PREFIX, labSkipReason, runId } from './lab.js';
import { execCommand } from './proc.js';

const skip = labSkipReason();

async function netnsList(): Promise<string[]> {
  const r = await execCommand(['ip', 'netns', 'list']);
  return r.stdout
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n !== '');
}

/** True while `pid` runs (a zombie, killed but not yet reaped by its new parent, is not running). */
function pidAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

test(
  'namespaces are named bdy-<runId>-<tag><n>, have lo up, and go at teardown',
  { skip },
  async () => {
    const lab = await Lab.create();
    const a = await lab.namespace('pod');
    const b = await lab.namespace('pod');
    assert.match(a, new RegExp(`^bdy-${runId}-pod\\d+$`));
    assert.notEqual(a, b);
    const lo = await lab.ip(a, ['-o', 'link', 'show', 'lo']);
    assert.match(lo, /state UNKNOWN|,UP/);
    assert.ok((await netnsList()).includes(a));
    await lab.teardown();
    await lab.teardown(); // idempotent
    const left = await netnsList();
    assert.ok(!left.includes(a) && !left.includes(b));
  },
);

test(
  'veth between host and a namespace, and between two namespaces, carry pings',
  { skip },
  async (t) => {
    const lab = await Lab.create(t);
    const ns1 = await lab.namespace('a');
    const ns2 = await lab.namespace('b');
    const hostPair = await lab.veth(HOST, ns1, {
      addrsA: ['10.251.7.1/30', 'fd00:bd::1/64'],
      addrsB: ['10.251.7.2/30', 'fd00:bd::2/64'],
      mtu: 1400,
    });
    assert.ok(hostPair.nameA.length <= 15 && hostPair.nameB.length <= 15);
    await lab.veth(ns1, ns2, { addrsA: ['10.251.8.1/30'], addrsB: ['10.251.8.2/30'] });
    // From inside the namespace only: host-side traffic stays on the lab's own link.
    await lab.run(ns1, ['ping', '-c1', '-W2', '10.251.7.1']);
    await lab.run(ns1, ['ping', '-c1', '-W2', 'fd00:bd::1']);
    await lab.run(ns2, ['ping', '-c1', '-W2', '10.251.8.1']);
    const mtu = await lab.ip(ns1, ['-o', 'link', 'show', hostPair.nameB]);
    assert.match(mtu, /mtu 1400/);
    await lab.teardown();
    const links = await execCommand(['ip', '-o', 'link', 'show']);
    assert.ok(!links.stdout.includes(hostPair.nameA), 'host end of the veth is gone');
  },
);

test(
  'exec returns code and output, feeds stdin, and kills at its deadline',
  { skip },
  async (t) => {
    const lab = await Lab.create(t);
    const ns = await lab.namespace('x');
    const r = await lab.exec(ns, ['sh', '-c', 'cat; echo err >&2; exit 3'], { input: 'hello' });
    assert.deepEqual([r.code, r.stdout, r.stderr], [3, 'hello', 'err\n']);
    await assert.rejects(lab.run(ns, ['false']), { code: ErrorCode.Lab });
    const started = Date.now();
    let sleeper = 0;
    await assert.rejects(
      // 1.5 s: under a loaded CI machine the child's pid line must have been printed by then
      lab.exec(ns, ['sh', '-c', 'sleep 30 & echo "child=$!"; wait'], { timeoutMs: 1500 }),
      (e: { code?: string; message: string }) => {
        assert.equal(e.code, ErrorCode.Timeout);
        sleeper = Number(/child=(\d+)/.exec(e.message)?.[1]);
        return true;
      },
    );
    assert.ok(Date.now() - started < 5000);
    assert.ok(sleeper > 0, 'the child printed its pid before the deadline');
    // SIGKILL is delivered asynchronously: allow the kernel a moment before checking.
    for (let i = 0; i < 40 && pidAlive(sleeper); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(!pidAlive(sleeper), 'the whole process group was killed');
  },
);

test('spawn: waitForOutput, early exit, kill, and teardown kills the rest', { skip }, async (t) => {
  const lab = await Lab.create(t);
  const ns = await lab.namespace('p');
  const p = lab.spawn(ns, ['sh', '-c', 'echo ready; echo oops >&2; sleep 1000']);
  const m = await p.waitForOutput(/re(a)dy/, 5000);
  assert.equal(m[1], 'a');
  await p.waitForOutput(/oops/, 5000);
  assert.equal(p.stderr, 'oops\n');
  await assert.rejects(p.waitForOutput(/never/, 200), { code: ErrorCode.Timeout });
  const quick = lab.spawn(ns, ['sh', '-c', 'echo bye; exit 4']);
  await assert.rejects(
    quick.waitForOutput(/never/, 5000),
    (e: { code?: string; message: string }) => {
      assert.equal(e.code, ErrorCode.Lab);
      assert.match(e.message, /code 4[\s\S]*bye/);
      return true;
    },
  );
  // A process that ignores SIGTERM is killed after the grace period.
  const stubborn = lab.spawn(HOST, ['sh', '-c', "trap '' TERM; echo armed; sleep 1000"]);
  await stubborn.waitForOutput(/armed/);
  const st = await stubborn.kill('SIGTERM', 300);
  assert.equal(st.signal, 'SIGKILL');
  const survivor = lab.spawn(HOST, ['sleep', '1000']);
  await lab.teardown();
  assert.ok(!pidAlive(p.pid) && !pidAlive(survivor.pid));
  assert.notEqual(p.exitStatus, undefined);
});

test('tmpDir and sysctl', { skip }, async (t) => {
  const lab = await Lab.create(t);
  const dir = await lab.tmpDir();
  assert.ok(basename(dir).startsWith(TMPDIR_PREFIX));
  await writeFile(`${dir}/f`, 'x');
  const ns = await lab.namespace('s');
  await lab.sysctl(ns, 'net.ipv4.ip_forward', 1);
  assert.equal((await lab.run(ns, ['cat', '/proc/sys/net/ipv4/ip_forward'])).trim(), '1');
  await assert.rejects(lab.sysctl(HOST, 'net.ipv4.ip_forward', 1), { code: ErrorCode.Lab });
  await lab.teardown();
  assert.equal(existsSync(dir), false);
});

test(
  'after teardown nothing can be created, and a late resource is released at once',
  { skip },
  async () => {
    const lab = await Lab.create();
    await lab.teardown();
    await assert.rejects(lab.namespace('late'), { code: ErrorCode.Lab });
    assert.throws(() => lab.spawn(HOST, ['true']), { code: ErrorCode.Lab });
    // A namespace whose creation was under way when teardown began is deleted, not leaked.
    const lab2 = await Lab.create();
    const pending = lab2.namespace('race');
    const down = lab2.teardown();
    await assert.rejects(pending, { code: ErrorCode.Lab });
    await down;
    assert.ok(!(await netnsList()).some((n) => n.startsWith(`${NETNS_PREFIX}race`)));
  },
);

test('tap: frames the namespace sends arrive through the native shim', { skip }, async (t) => {
  const lab = await Lab.create(t);
  const ns = await lab.namespace('tap');
  let tap;
  try {
    tap = await lab.tap(ns, { addrs: ['10.251.9.1/24'], mtu: 1500 });
  } catch (e) {
    if ((e as { code?: string }).code === ErrorCode.NativeUnavailable) {
      t.skip('native shim not built');
      return;
    }
    throw e;
  }
  const arp = new Promise<Uint8Array>((resolve) => {
    tap.onFrames((frames) => {
      const f = frames.find((x) => x[12] === 0x08 && x[13] === 0x06);
      if (f !== undefined) resolve(f);
    });
  });
  // Nobody answers: the kernel keeps sending ARP requests for 10.251.9.2 on the tap.
  await lab.exec(ns, ['ping', '-c1', '-W1', '10.251.9.2']);
  const f = await arp;
  assert.deepEqual([...f.subarray(38, 42)], [10, 251, 9, 2], 'ARP target is the pinged address');
});

// The registry must clean up a process that never reaches its teardown.
const childScript = (labUrl: string, end: string): string => `
import { Lab, HOST } from ${JSON.stringify(labUrl)};
const lab = await Lab.create();
const ns = await lab.namespace('orphan');
const dir = await lab.tmpDir();
const p = lab.spawn(ns, ['sleep', '1000']);
const h = lab.spawn(HOST, ['sleep', '1000']);
console.log(JSON.stringify({ ns, dir, pids: [p.pid, h.pid] }));
${end}
`;

for (const [how, end] of [
  ['SIGTERM', 'setInterval(() => {}, 1000);'],
  ['SIGINT', 'setInterval(() => {}, 1000);'],
  ['an uncaught error', 'setTimeout(() => { throw new Error("boom"); }, 100);'],
] as const) {
  test(`a process ending by ${how} without teardown leaves nothing behind`, { skip }, async (t) => {
    const lab = await Lab.create(t);
    const dir = await lab.tmpDir();
    const script = `${dir}/child.mts`;
    const labUrl = new URL('./lab.ts', import.meta.url).href;
    await writeFile(script, childScript(labUrl, end));
    const child = lab.spawn(HOST, [process.execPath, '--import', 'tsx', script], {
      env: { BINDERY_RUN_ID: runId },
    });
    const m = await child.waitForOutput(/^(\{.*\})$/m, 30_000);
    const info = JSON.parse(m[1]!) as { ns: string; dir: string; pids: number[] };
    assert.ok((await netnsList()).includes(info.ns));
    if (how !== 'an uncaught error') process.kill(child.pid, how);
    const st = await child.exited;
    assert.notEqual(st.code, 0);
    assert.ok(!(await netnsList()).includes(info.ns), 'namespace removed');
    assert.equal(existsSync(info.dir), false, 'temp dir removed');
    for (const pid of info.pids) assert.ok(!pidAlive(pid), `process ${pid} killed`);
  });
}
