// Unit tests of bindery-cni's operations and request handling over an in-memory host: rollback on failure, DEL and GC touching only bindery's own things.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CommandResult, NetnsExec } from '../podnet/exec.js';
import { commandError } from '../podnet/exec.js';
import { runCni } from './main.js';
import type { AttachmentState, CniHost } from './plugin.js';

interface FakeNs {
  sysctls: Map<string, string>;
  links: Map<string, { kind: string; mac: string }>;
}

/** A host whose namespaces are maps; `failOn` makes commands starting with it fail. */
function fakeHost(opts: { failOn?: string[]; tools?: string[] } = {}) {
  const netns = new Map<string, FakeNs>();
  const files = new Map<string, AttachmentState>();
  const logs: Array<Record<string, unknown>> = [];
  const ran: string[] = [];
  let macs = 0;
  const addNs = (path: string): FakeNs => {
    const ns: FakeNs = {
      sysctls: new Map([
        ['net.ipv4.ip_unprivileged_port_start', '1024'],
        ['net.ipv4.ping_group_range', '1 0'],
      ]),
      links: new Map([['eth0', { kind: 'veth', mac: '02:00:00:00:00:aa' }]]),
    };
    netns.set(path, ns);
    return ns;
  };
  const exec = (path: string): NetnsExec => {
    const tryRun = async (argv: readonly string[]): Promise<CommandResult> => {
      const line = argv.join(' ');
      ran.push(`${path}: ${line}`);
      if (opts.failOn?.some((f) => line.startsWith(f)))
        return { code: 1, stdout: '', stderr: 'injected' };
      const ns = netns.get(path);
      if (ns === undefined) return { code: 1, stdout: '', stderr: 'no netns' };
      const ok = (stdout = ''): CommandResult => ({ code: 0, stdout, stderr: '' });
      if (argv[0] === 'sysctl' && argv[1] === '-n') {
        const v = ns.sysctls.get(argv[2]!);
        return v === undefined
          ? { code: 255, stdout: '', stderr: 'unknown key' }
          : ok(v.replace(' ', '\t') + '\n');
      }
      if (argv[0] === 'sysctl' && argv[2] === '-w') {
        const [k, v] = argv[3]!.split('=') as [string, string];
        ns.sysctls.set(k, v);
        return ok();
      }
      if (line.startsWith('ip -j -d link show dev ')) {
        const l = ns.links.get(argv[6]!);
        if (l === undefined) return { code: 1, stdout: '', stderr: 'Device does not exist' };
        return ok(
          JSON.stringify([{ ifname: argv[6], address: l.mac, linkinfo: { info_kind: l.kind } }]),
        );
      }
      if (line.startsWith('ip tuntap add dev ')) {
        ns.links.set(argv[4]!, {
          kind: 'tun',
          mac: `02:00:00:00:00:${(++macs).toString(16).padStart(2, '0')}`,
        });
        return ok();
      }
      if (line.startsWith('ip link set dev '))
        return ns.links.has(argv[4]!) ? ok() : { code: 1, stdout: '', stderr: 'no dev' };
      if (line.startsWith('ip link del dev ')) {
        ns.links.delete(argv[4]!);
        return ok();
      }
      return { code: 127, stdout: '', stderr: `fake host does not know ${line}` };
    };
    return {
      netns: path,
      tryRun,
      async run(argv) {
        const r = await tryRun(argv);
        if (r.code !== 0) throw commandError(argv, r);
        return r.stdout;
      },
    };
  };
  const host: CniHost = {
    netnsExists: async (p) => netns.has(p),
    inNetns: exec,
    readState: async (dir, file) => files.get(`${dir}/${file}`),
    writeState: async (dir, file, s) =>
      void files.set(`${dir}/${file}`, JSON.parse(JSON.stringify(s))),
    removeState: async (dir, file) => void files.delete(`${dir}/${file}`),
    listState: async (dir) =>
      [...files.keys()].filter((k) => k.startsWith(dir + '/')).map((k) => k.slice(dir.length + 1)),
    hasTool: async (t) => (opts.tools ?? ['nsenter', 'ip', 'sysctl']).includes(t),
    log: (e) => void logs.push(e),
  };
  return { host, netns, files, logs, ran, addNs };
}

const env = (command: string, id = 'c1', netns = '/n/a', ifname = 'eth0') => ({
  CNI_COMMAND: command,
  CNI_CONTAINERID: id,
  CNI_NETNS: netns,
  CNI_IFNAME: ifname,
});
const conf = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    cniVersion: '1.0.0',
    name: 'net',
    type: 'bindery-cni',
    binding: 'passt',
    stateDir: '/s',
    ...extra,
  });

async function run(f: ReturnType<typeof fakeHost>, e: Record<string, string>, stdin: string) {
  const r = await runCni(e, stdin, () => f.host);
  return {
    ...r,
    out: r.stdout === '' ? undefined : (JSON.parse(r.stdout) as Record<string, unknown>),
  };
}

test('VERSION answers without reading a configuration', async () => {
  const f = fakeHost();
  const r = await run(f, { CNI_COMMAND: 'VERSION' }, '');
  assert.equal(r.code, 0);
  assert.deepEqual(r.out?.supportedVersions, ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0']);
});

test('ADD passt then DEL: sysctls set and put back, state recorded and removed', async () => {
  const f = fakeHost();
  const ns = f.addNs('/n/a');
  const prevResult = {
    cniVersion: '1.0.0',
    interfaces: [{ name: 'eth0', sandbox: '/n/a' }],
    ips: [],
  };
  const add = await run(f, env('ADD'), conf({ prevResult }));
  assert.equal(add.code, 0, add.stdout);
  assert.deepEqual(add.out, prevResult);
  assert.equal(ns.sysctls.get('net.ipv4.ping_group_range'), '107 107');
  const state = f.files.get('/s/c1-eth0.json')!;
  assert.deepEqual(state.sysctls['net.ipv4.ping_group_range'], { was: '1 0', set: '107 107' });
  assert.equal((await run(f, env('DEL'), conf())).code, 0);
  assert.equal(ns.sysctls.get('net.ipv4.ping_group_range'), '1 0');
  assert.equal(ns.sysctls.get('net.ipv4.ip_unprivileged_port_start'), '1024');
  assert.equal(f.files.size, 0);
});

test('DEL leaves a sysctl someone changed after ADD', async () => {
  const f = fakeHost();
  const ns = f.addNs('/n/a');
  await run(f, env('ADD'), conf());
  ns.sysctls.set('net.ipv4.ping_group_range', '5 5');
  assert.equal((await run(f, env('DEL'), conf())).code, 0);
  assert.equal(ns.sysctls.get('net.ipv4.ping_group_range'), '5 5');
  assert.equal(ns.sysctls.get('net.ipv4.ip_unprivileged_port_start'), '1024');
});

test('ADD that fails on the second sysctl puts the first back (code 100)', async () => {
  const f = fakeHost({ failOn: ['sysctl -q -w net.ipv4.ping_group_range'] });
  const ns = f.addNs('/n/a');
  const r = await run(f, env('ADD'), conf());
  assert.equal(r.code, 1);
  assert.equal(r.out?.code, 100);
  assert.match(String(r.out?.msg), /sysctls/);
  assert.equal(ns.sysctls.get('net.ipv4.ip_unprivileged_port_start'), '1024');
  assert.equal(f.files.size, 0);
});

test('ADD tap that fails after creating the tap removes it, the state and the sysctls', async () => {
  const f = fakeHost({ failOn: ['ip link set dev tap0 up'] });
  const ns = f.addNs('/n/a');
  const r = await run(f, env('ADD'), conf({ binding: 'tap' }));
  assert.equal(r.out?.code, 100);
  assert.match(String(r.out?.msg), /making tap tap0/);
  assert.ok(!ns.links.has('tap0'));
  assert.equal(ns.sysctls.get('net.ipv4.ip_unprivileged_port_start'), '1024');
  assert.equal(f.files.size, 0);
});

test('ADD tap: multiQueue, owner and mtu reach ip; the tap is in the result', async () => {
  const f = fakeHost();
  f.addNs('/n/a');
  const r = await run(
    f,
    env('ADD', 'c1', '/n/a', 'net1'),
    conf({ binding: 'tap', cniVersion: '1.1.0', owner: 0, mtu: 9000, multiQueue: true }),
  );
  assert.equal(r.code, 0, r.stdout);
  assert.ok(f.ran.includes('/n/a: ip tuntap add dev tap1 mode tap user 0 multi_queue'));
  assert.ok(f.ran.includes('/n/a: ip link set dev tap1 mtu 9000'));
  assert.deepEqual(r.out?.interfaces, [
    { name: 'tap1', mac: '02:00:00:00:00:01', sandbox: '/n/a', mtu: 9000 },
  ]);
  // A repeated ADD finds its own tap and keeps the original sysctl values to put back.
  const again = await run(f, env('ADD', 'c1', '/n/a', 'net1'), conf({ binding: 'tap' }));
  assert.equal(again.code, 0, again.stdout);
  assert.equal(
    f.files.get('/s/c1-net1.json')!.sysctls['net.ipv4.ip_unprivileged_port_start']!.was,
    '1024',
  );
});

test('DEL without state or netns succeeds; a link bindery recorded but that is no tap stays', async () => {
  const f = fakeHost();
  assert.equal((await run(f, env('DEL'), conf())).code, 0);
  assert.equal((await run(f, { ...env('DEL'), CNI_NETNS: '' }, conf())).code, 0);
  const ns = f.addNs('/n/a');
  await run(f, env('ADD'), conf({ binding: 'tap' }));
  ns.links.set('tap0', { kind: 'veth', mac: '02:00:00:00:00:99' }); // replaced behind our back
  assert.equal((await run(f, env('DEL'), conf({ binding: 'tap' }))).code, 0);
  assert.ok(ns.links.has('tap0'));
  assert.equal(f.files.size, 0);
});

test('DEL that cannot remove the tap is code 102 and keeps the state', async () => {
  const f = fakeHost({ failOn: ['ip link del'] });
  f.addNs('/n/a');
  await run(f, env('ADD'), conf({ binding: 'tap' }));
  const r = await run(f, env('DEL'), conf());
  assert.equal(r.out?.code, 102);
  assert.equal(f.files.size, 1);
});

test('GC removes stale attachments of its network, reports failures together', async () => {
  const f = fakeHost({ failOn: ['ip link del dev tap9'] });
  for (const p of ['/n/a', '/n/b', '/n/c']) f.addNs(p);
  await run(f, env('ADD', 'keep', '/n/a'), conf({ binding: 'tap' }));
  await run(f, env('ADD', 'stale', '/n/b'), conf({ binding: 'tap' }));
  await run(f, env('ADD', 'stuck', '/n/c', 'net9'), conf({ binding: 'tap' }));
  await run(f, env('ADD', 'other', '/n/c'), conf({ binding: 'tap', name: 'net2' }));
  const gc = await run(
    f,
    { CNI_COMMAND: 'GC' },
    conf({
      cniVersion: '1.1.0',
      'cni.dev/valid-attachments': [{ containerID: 'keep', ifname: 'eth0' }],
    }),
  );
  assert.equal(gc.out?.code, 102);
  assert.match(String(gc.out?.details), /stuck-net9\.json/);
  assert.deepEqual([...f.files.keys()].sort(), [
    '/s/keep-eth0.json',
    '/s/other-eth0.json',
    '/s/stuck-net9.json',
  ]);
  assert.ok(!f.netns.get('/n/b')!.links.has('tap0'));
});

test('CHECK compares sysctls, tap and prevResult', async () => {
  const f = fakeHost();
  const ns = f.addNs('/n/a');
  const add = await run(f, env('ADD'), conf({ binding: 'tap' }));
  const check = (prevResult: unknown) => run(f, env('CHECK'), conf({ binding: 'tap', prevResult }));
  assert.equal((await check(add.out)).code, 0);
  assert.equal((await check({})).out?.code, 101);
  ns.links.delete('tap0');
  assert.match(String((await check(add.out)).out?.msg), /tap tap0 is missing/);
  assert.equal(
    (await run(f, env('CHECK', 'c1', '/n/gone'), conf({ prevResult: {} }))).out?.code,
    3,
  );
});

test('STATUS: 50 when a tool is missing', async () => {
  const ok = await run(fakeHost(), { CNI_COMMAND: 'STATUS' }, conf({ cniVersion: '1.1.0' }));
  assert.deepEqual([ok.code, ok.stdout], [0, '']);
  const bad = await run(
    fakeHost({ tools: ['ip'] }),
    { CNI_COMMAND: 'STATUS' },
    conf({ cniVersion: '1.1.0' }),
  );
  assert.equal(bad.out?.code, 50);
  assert.match(String(bad.out?.msg), /nsenter, sysctl/);
});

test('a failed state write undoes ADD (100); an unexpected failure is still an error object (5)', async () => {
  const f = fakeHost();
  const ns = f.addNs('/n/a');
  f.host.writeState = async () => {
    throw new Error('EROFS: read-only file system');
  };
  const r = await run(f, env('ADD'), conf());
  assert.equal(r.code, 1);
  assert.equal(r.out?.code, 100);
  assert.match(String(r.out?.msg), /EROFS/);
  assert.equal(ns.sysctls.get('net.ipv4.ip_unprivileged_port_start'), '1024');
  f.host.readState = async () => {
    throw new Error('EACCES: permission denied');
  };
  const r2 = await run(f, env('ADD'), conf());
  assert.equal(r2.out?.code, 5);
  assert.match(String(r2.out?.msg), /EACCES/);
});
