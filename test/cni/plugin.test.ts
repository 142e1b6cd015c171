// bindery-cni run as a runtime runs it (CNI_* environment, config on stdin) against real lab namespaces: ADD, CHECK, DEL, GC, STATUS, VERSION and bad input.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { HOST, Lab, labSkipReason } from '../lab/lab.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin/bindery-cni.js');
const skip =
  labSkipReason() ?? (!existsSync(join(ROOT, 'dist/cni/main.js')) && 'npm run build first');

interface Run {
  code: number | null;
  out: Record<string, unknown> | undefined;
  stdout: string;
}

/** The bridge plugin's result as containerd hands it on (cniVersion 1.0.0). */
function bridgeResult(
  netns: string,
): { cniVersion: string; interfaces: unknown[] } & Record<string, unknown> {
  return {
    cniVersion: '1.0.0',
    interfaces: [
      { name: 'cni-bdy0', mac: '0a:58:0a:58:00:01' },
      { name: 'veth1234', mac: '0a:58:0a:58:00:02' },
      { name: 'eth0', mac: '0a:58:0a:58:00:03', sandbox: netns },
    ],
    ips: [{ interface: 2, address: '10.88.7.2/24', gateway: '10.88.7.1' }],
    routes: [{ dst: '0.0.0.0/0' }],
    dns: {},
  };
}

async function setup(t: Parameters<typeof Lab.create>[0]) {
  const lab = await Lab.create(t);
  const stateDir = join(await lab.tmpDir(), 'state');
  const cni = async (
    command: string,
    conf: unknown,
    env: Record<string, string> = {},
    argv0: string[] = [process.execPath, BIN],
  ): Promise<Run> => {
    const r = await lab.exec(HOST, argv0, {
      input: typeof conf === 'string' ? conf : JSON.stringify(conf),
      env: { CNI_COMMAND: command, CNI_PATH: '/usr/lib/cni', ...env },
      timeoutMs: 30_000,
    });
    let out: Record<string, unknown> | undefined;
    if (r.stdout.trim() !== '') out = JSON.parse(r.stdout) as Record<string, unknown>;
    return { code: r.code, out, stdout: r.stdout };
  };
  const sysctls = async (ns: string): Promise<string[]> =>
    (
      await lab.run(ns, [
        'sysctl',
        '-n',
        'net.ipv4.ip_unprivileged_port_start',
        'net.ipv4.ping_group_range',
      ])
    )
      .trim()
      .split('\n')
      .map((l) => l.trim().split(/\s+/).join(' '));
  const links = async (ns: string): Promise<string[]> =>
    (JSON.parse(await lab.ip(ns, ['-j', 'link', 'show'])) as Array<{ ifname: string }>).map(
      (l) => l.ifname,
    );
  const attach = (ns: string, id: string, ifname = 'eth0'): Record<string, string> => ({
    CNI_CONTAINERID: id,
    CNI_NETNS: `/run/netns/${ns}`,
    CNI_IFNAME: ifname,
    CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=${id};K8S_POD_INFRA_CONTAINER_ID=${id}`,
  });
  return { lab, stateDir, cni, sysctls, links, attach };
}

test('VERSION lists every supported version', { skip }, async (t) => {
  const { cni } = await setup(t);
  const r = await cni('VERSION', { cniVersion: '1.1.0' });
  assert.equal(r.code, 0);
  assert.deepEqual(r.out, {
    cniVersion: '1.1.0',
    supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'],
  });
});

test(
  'passt: ADD sets the sysctls and returns prevResult; CHECK; DEL puts them back, twice',
  { skip },
  async (t) => {
    const { lab, stateDir, cni, sysctls, attach } = await setup(t);
    const ns = await lab.namespace('pod');
    const before = await sysctls(ns);
    assert.notDeepEqual(before, ['0', '107 107']);
    const netns = `/run/netns/${ns}`;
    const prevResult = bridgeResult(netns);
    const conf = {
      cniVersion: '1.0.0',
      name: 'bdy-net',
      type: 'bindery-cni',
      binding: 'passt',
      stateDir,
      runtimeConfig: {
        portMappings: [
          { HostPort: 8080, ContainerPort: 80, Protocol: 'tcp', HostIP: '' },
          { hostPort: 5353, containerPort: 53, protocol: 'udp' },
        ],
      },
    };
    const env = attach(ns, 'c0ffee01');
    const add = await cni('ADD', { ...conf, prevResult }, env);
    assert.equal(add.code, 0, add.stdout);
    assert.deepEqual(add.out, prevResult, 'prevResult passed on unchanged');
    assert.deepEqual(await sysctls(ns), ['0', '107 107']);
    const state = JSON.parse(
      await readFile(join(stateDir, 'c0ffee01-eth0.json'), 'utf8'),
    ) as Record<string, unknown>;
    assert.deepEqual(state.passtOptions, ['-t', '80', '-u', '53']);
    assert.deepEqual(state.portMappings, [
      { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
      { hostPort: 5353, containerPort: 53, protocol: 'udp' },
    ]);

    assert.equal((await cni('CHECK', { ...conf, prevResult: add.out }, env)).code, 0);
    await lab.sysctl(ns, 'net.ipv4.ping_group_range', '0 0');
    const drift = await cni('CHECK', { ...conf, prevResult: add.out }, env);
    assert.equal(drift.code, 1);
    assert.equal(drift.out?.code, 101);
    assert.match(String(drift.out?.msg), /ping_group_range is "0 0"/);
    await lab.sysctl(ns, 'net.ipv4.ping_group_range', '107 107');

    const del = await cni('DEL', { ...conf, prevResult: add.out }, env);
    assert.equal(del.code, 0, del.stdout);
    assert.equal(del.stdout, '');
    assert.deepEqual(await sysctls(ns), before, 'DEL put the sysctls back');
    assert.deepEqual(await readdir(stateDir), []);
    assert.equal((await cni('DEL', conf, env)).code, 0, 'a second DEL succeeds');
    const gone = { ...env, CNI_NETNS: '/run/netns/bdy-no-such-namespace' };
    assert.equal((await cni('DEL', conf, gone)).code, 0, 'DEL in a missing netns succeeds');
  },
);

test(
  'tap: ADD makes the tap and lists it; CHECK sees it missing; DEL removes it',
  { skip },
  async (t) => {
    const { lab, stateDir, cni, links, attach } = await setup(t);
    const ns = await lab.namespace('pod');
    const netns = `/run/netns/${ns}`;
    const conf = {
      cniVersion: '1.1.0',
      name: 'bdy-net',
      type: 'bindery-cni',
      binding: 'tap',
      mtu: 1400,
      stateDir,
    };
    const env = attach(ns, 'c0ffee02');
    const prevResult = { ...bridgeResult(netns), cniVersion: '1.1.0' };
    const add = await cni('ADD', { ...conf, prevResult }, env);
    assert.equal(add.code, 0, add.stdout);
    const ifaces = add.out?.interfaces as Array<Record<string, unknown>>;
    assert.equal(ifaces.length, 4);
    assert.deepEqual(ifaces.slice(0, 3), prevResult.interfaces);
    const tap = ifaces[3]!;
    assert.equal(tap.name, 'tap0');
    assert.equal(tap.sandbox, netns);
    assert.equal(tap.mtu, 1400);
    assert.match(String(tap.mac), /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    const [link] = JSON.parse(
      await lab.ip(ns, ['-j', '-d', 'link', 'show', 'dev', 'tap0']),
    ) as Array<{
      mtu: number;
      address: string;
      linkinfo: { info_kind: string; info_data: { type: string; user?: number } };
    }>;
    assert.equal(link!.linkinfo.info_kind, 'tun');
    assert.equal(link!.linkinfo.info_data.type, 'tap');
    assert.equal(link!.linkinfo.info_data.user, 107);
    assert.equal(link!.mtu, 1400);
    assert.equal(link!.address, tap.mac);

    assert.equal((await cni('CHECK', { ...conf, prevResult: add.out }, env)).code, 0);
    const noTap = await cni('CHECK', { ...conf, prevResult }, env);
    assert.equal(noTap.out?.code, 101, 'prevResult without the tap');

    const del = await cni('DEL', { ...conf, prevResult: add.out }, env);
    assert.equal(del.code, 0, del.stdout);
    assert.ok(!(await links(ns)).includes('tap0'), 'tap gone');
    assert.deepEqual(await readdir(stateDir), []);
    const check = await cni('CHECK', { ...conf, prevResult: add.out }, env);
    assert.equal(check.code, 1);
    assert.equal(check.out?.code, 101);
  },
);

test(
  'tap: a link of that name bindery did not make is left alone and ADD fails',
  { skip },
  async (t) => {
    const { lab, stateDir, cni, sysctls, attach } = await setup(t);
    const ns = await lab.namespace('pod');
    await lab.tap(ns, { name: 'tap0', up: false });
    const before = await sysctls(ns);
    const conf = {
      cniVersion: '1.0.0',
      name: 'bdy-net',
      binding: 'tap',
      stateDir,
      type: 'bindery-cni',
    };
    const env = attach(ns, 'c0ffee03');
    const add = await cni('ADD', conf, env);
    assert.equal(add.code, 1);
    assert.equal(add.out?.code, 100);
    assert.match(String(add.out?.msg), /tap0 already exists/);
    assert.deepEqual(await sysctls(ns), before, 'sysctls put back');
    assert.equal(existsSync(stateDir) ? (await readdir(stateDir)).length : 0, 0);
    assert.equal((await cni('DEL', conf, env)).code, 0);
    assert.equal(
      JSON.parse(await lab.ip(ns, ['-j', 'link', 'show', 'dev', 'tap0'])).length,
      1,
      'not ours: kept',
    );
  },
);

test(
  'bad input: CNI error object with the spec code, exit 1, nothing changed',
  { skip },
  async (t) => {
    const { lab, stateDir, cni, sysctls, attach } = await setup(t);
    const ns = await lab.namespace('pod');
    const before = await sysctls(ns);
    const env = attach(ns, 'c0ffee04');
    const good = {
      cniVersion: '1.0.0',
      name: 'bdy-net',
      type: 'bindery-cni',
      binding: 'passt',
      stateDir,
    };
    const cases: Array<[string, string, unknown, Record<string, string>, number, RegExp]> = [
      ['bad JSON', 'ADD', '{"cniVersion": "1.0.0",', env, 6, /not JSON/],
      [
        'unknown version',
        'ADD',
        { ...good, cniVersion: '9.9.9' },
        env,
        1,
        /incompatible CNI version "9\.9\.9"/,
      ],
      ['no version', 'ADD', { ...good, cniVersion: undefined }, env, 1, /cniVersion is missing/],
      ['unknown binding', 'ADD', { ...good, binding: 'slirp' }, env, 7, /unknown binding "slirp"/],
      ['bad pingGroupRange', 'ADD', { ...good, pingGroupRange: '107' }, env, 7, /pingGroupRange/],
      [
        'bad portMappings',
        'ADD',
        { ...good, runtimeConfig: { portMappings: [{ HostPort: 1 }] } },
        env,
        7,
        /containerPort/,
      ],
      [
        'missing netns',
        'ADD',
        good,
        { ...env, CNI_NETNS: '/run/netns/bdy-no-such' },
        3,
        /does not exist/,
      ],
      ['no container id', 'ADD', good, { ...env, CNI_CONTAINERID: '' }, 4, /CNI_CONTAINERID/],
      ['bad ifname', 'ADD', good, { ...env, CNI_IFNAME: 'a/b' }, 4, /CNI_IFNAME/],
      ['unknown command', 'FROB', good, env, 4, /not a CNI command/],
      ['CHECK without prevResult', 'CHECK', good, env, 7, /prevResult/],
      [
        'CHECK on 0.3.1',
        'CHECK',
        { ...good, cniVersion: '0.3.1', prevResult: {} },
        env,
        1,
        /0\.4\.0/,
      ],
      [
        'GC without valid attachments',
        'GC',
        { ...good, cniVersion: '1.1.0' },
        {},
        7,
        /valid-attachments/,
      ],
      ['STATUS on 1.0.0', 'STATUS', good, {}, 1, /1\.1\.0/],
    ];
    for (const [what, command, conf, e, code, msg] of cases) {
      const r = await cni(command, conf, e);
      assert.equal(r.code, 1, `${what}: exit 1`);
      assert.equal(r.out?.code, code, `${what}: code (${r.stdout})`);
      assert.match(String(r.out?.msg), msg, what);
      assert.equal(typeof r.out?.cniVersion, 'string', `${what}: cniVersion`);
    }
    assert.deepEqual(await sysctls(ns), before);
    assert.ok(!existsSync(stateDir), 'no state written');
  },
);

test('GC removes only the stale attachments of its network', { skip }, async (t) => {
  const { lab, stateDir, cni, links, attach } = await setup(t);
  const a = await lab.namespace('pod');
  const b = await lab.namespace('pod');
  const c = await lab.namespace('pod');
  const conf = {
    cniVersion: '1.1.0',
    name: 'bdy-net',
    type: 'bindery-cni',
    binding: 'tap',
    stateDir,
  };
  for (const [ns, id, name] of [
    [a, 'keep01', 'bdy-net'],
    [b, 'stale01', 'bdy-net'],
    [c, 'other01', 'bdy-other'],
  ] as const)
    assert.equal((await cni('ADD', { ...conf, name }, attach(ns, id))).code, 0);
  const gc = await cni('GC', {
    ...conf,
    'cni.dev/valid-attachments': [{ containerID: 'keep01', ifname: 'eth0' }],
  });
  assert.equal(gc.code, 0, gc.stdout);
  assert.equal(gc.stdout, '');
  assert.ok((await links(a)).includes('tap0'), 'valid attachment kept');
  assert.ok(!(await links(b)).includes('tap0'), 'stale attachment removed');
  assert.ok((await links(c)).includes('tap0'), "another network's attachment kept");
  assert.deepEqual((await readdir(stateDir)).sort(), ['keep01-eth0.json', 'other01-eth0.json']);
});

test('STATUS: ready with the tools on PATH, 50 without them', { skip }, async (t) => {
  const { cni } = await setup(t);
  const conf = { cniVersion: '1.1.0', name: 'bdy-net', type: 'bindery-cni', binding: 'passt' };
  const ok = await cni('STATUS', conf);
  assert.equal(ok.code, 0, ok.stdout);
  assert.equal(ok.stdout, '');
  const bad = await cni('STATUS', conf, { PATH: '/nonexistent' });
  assert.equal(bad.code, 1);
  assert.equal(bad.out?.code, 50);
  assert.match(String(bad.out?.msg), /nsenter/);
});
