// Unit tests of the CNI protocol module: environment, configuration, port mappings, results, error objects.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CniError,
  CniErrorCode,
  SUPPORTED_VERSIONS,
  addResult,
  bindingSysctls,
  decodeStdin,
  errorReply,
  isValidIfName,
  parseEnv,
  parseNetConf,
  parsePortMappings,
  passtPortOptions,
  tapToCreate,
  versionReply,
} from './spec.js';

const ATTACH = {
  CNI_COMMAND: 'ADD',
  CNI_CONTAINERID: 'abc123',
  CNI_NETNS: '/var/run/netns/cni-1',
  CNI_IFNAME: 'eth0',
  CNI_PATH: '/opt/cni/bin:/usr/lib/cni',
  CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=p',
};

function code(fn: () => unknown): number {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof CniError, String(e));
    return e.code;
  }
  assert.fail('no error');
}

test('parseEnv reads an ADD request', () => {
  const env = parseEnv(ATTACH);
  assert.equal(env.command, 'ADD');
  assert.equal(env.containerId, 'abc123');
  assert.equal(env.netns, '/var/run/netns/cni-1');
  assert.equal(env.ifname, 'eth0');
  assert.deepEqual(env.path, ['/opt/cni/bin', '/usr/lib/cni']);
  assert.deepEqual(env.args, [
    ['IgnoreUnknown', '1'],
    ['K8S_POD_NAMESPACE', 'default'],
    ['K8S_POD_NAME', 'p'],
  ]);
});

test('parseEnv: what each command needs, else code 4', () => {
  assert.equal(
    code(() => parseEnv({})),
    CniErrorCode.InvalidEnv,
  );
  assert.equal(
    code(() => parseEnv({ CNI_COMMAND: 'NOPE' })),
    4,
  );
  assert.equal(
    code(() => parseEnv({ ...ATTACH, CNI_CONTAINERID: '' })),
    4,
  );
  assert.equal(
    code(() => parseEnv({ ...ATTACH, CNI_CONTAINERID: '-x' })),
    4,
  );
  assert.equal(
    code(() => parseEnv({ ...ATTACH, CNI_CONTAINERID: '../etc' })),
    4,
  );
  assert.equal(
    code(() => parseEnv({ ...ATTACH, CNI_IFNAME: 'a-very-long-name0' })),
    4,
  );
  assert.equal(
    code(() => parseEnv({ ...ATTACH, CNI_NETNS: '' })),
    4,
  );
  assert.equal(
    code(() => parseEnv({ ...ATTACH, CNI_NETNS: 'relative' })),
    4,
  );
  assert.equal(
    code(() => parseEnv({ ...ATTACH, CNI_ARGS: 'novalue' })),
    4,
  );
  // DEL may come without a netns; VERSION, STATUS and GC need no attachment.
  assert.equal(parseEnv({ ...ATTACH, CNI_COMMAND: 'DEL', CNI_NETNS: '' }).netns, undefined);
  for (const c of ['VERSION', 'STATUS', 'GC'])
    assert.equal(parseEnv({ CNI_COMMAND: c }).command, c);
});

test('isValidIfName follows the kernel', () => {
  for (const ok of ['eth0', 'tap0', 'a', '123456789012345']) assert.ok(isValidIfName(ok), ok);
  for (const no of ['', '.', '..', 'a/b', 'a b', 'a:b', '1234567890123456'])
    assert.ok(!isValidIfName(no), no);
});

test('decodeStdin: not JSON or not an object is code 6', () => {
  assert.equal(
    code(() => decodeStdin('')),
    CniErrorCode.DecodingFailure,
  );
  assert.equal(
    code(() => decodeStdin('{')),
    6,
  );
  assert.equal(
    code(() => decodeStdin('[1]')),
    6,
  );
  assert.deepEqual(decodeStdin('{"cniVersion":"1.0.0"}').cniVersion, '1.0.0');
});

const BASE = { cniVersion: '1.0.0', name: 'net', type: 'bindery-cni', binding: 'passt' };

test('parseNetConf: defaults of a passt binding', () => {
  const c = parseNetConf(BASE, 'ADD');
  assert.equal(c.binding, 'passt');
  assert.equal(c.pingGroupRange, '107 107');
  assert.equal(c.owner, 107);
  assert.equal(c.stateDir, '/var/lib/cni/bindery');
  assert.deepEqual(c.portMappings, []);
  assert.equal(c.prevResult, undefined);
  assert.deepEqual(bindingSysctls(c), [
    ['net.ipv4.ip_unprivileged_port_start', '0'],
    ['net.ipv4.ping_group_range', '107 107'],
  ]);
  assert.equal(tapToCreate(c, 'eth0'), undefined);
});

test('parseNetConf: versions', () => {
  for (const v of SUPPORTED_VERSIONS)
    assert.equal(parseNetConf({ ...BASE, cniVersion: v }, 'ADD').cniVersion, v);
  assert.equal(
    code(() => parseNetConf({ ...BASE, cniVersion: '0.2.0' }, 'ADD')),
    CniErrorCode.IncompatibleVersion,
  );
  assert.equal(
    code(() => parseNetConf({ ...BASE, cniVersion: undefined }, 'ADD')),
    1,
  );
  assert.equal(
    code(() => parseNetConf({ ...BASE, cniVersion: '0.3.1', prevResult: {} }, 'CHECK')),
    1,
  );
  assert.equal(
    code(() => parseNetConf(BASE, 'STATUS')),
    1,
  );
  assert.equal(
    code(() => parseNetConf(BASE, 'GC')),
    1,
  );
  assert.equal(parseNetConf({ ...BASE, cniVersion: '1.1.0' }, 'STATUS').cniVersion, '1.1.0');
});

test('parseNetConf: bad fields are code 7', () => {
  const bad: Array<Record<string, unknown>> = [
    { binding: 'slirp' },
    { binding: undefined },
    { binding: 3 },
    { name: '' },
    { pingGroupRange: '107' },
    { pingGroupRange: 'a b' },
    { tapName: 'x/y' },
    { mtu: 10 },
    { mtu: 1500.5 },
    { owner: -1 },
    { multiQueue: 'yes' },
    { stateDir: 'relative' },
    { logFile: 'relative' },
    { runtimeConfig: [] },
    { prevResult: [] },
    { prevResult: { interfaces: [{}] } },
    { prevResult: { ips: 'x' } },
  ];
  for (const b of bad)
    assert.equal(
      code(() => parseNetConf({ ...BASE, ...b }, 'ADD')),
      CniErrorCode.InvalidConfig,
      JSON.stringify(b),
    );
  assert.equal(
    code(() => parseNetConf(BASE, 'CHECK')),
    7,
    'CHECK needs prevResult',
  );
  assert.equal(
    code(() => parseNetConf({ ...BASE, cniVersion: '1.1.0' }, 'GC')),
    7,
    'GC needs valid attachments',
  );
  assert.equal(
    code(() =>
      parseNetConf(
        { ...BASE, cniVersion: '1.1.0', 'cni.dev/valid-attachments': [{ containerID: 1 }] },
        'GC',
      ),
    ),
    7,
  );
});

test('parseNetConf: DEL reads only what locates the state (a refused binding can be deleted)', () => {
  const c = parseNetConf({ ...BASE, binding: 'slirp', pingGroupRange: 'x', stateDir: '/s' }, 'DEL');
  assert.equal(c.stateDir, '/s');
  assert.equal(
    code(() => parseNetConf({ ...BASE, cniVersion: '9' }, 'DEL')),
    1,
  );
});

test('parseNetConf: tap binding fields', () => {
  const c = parseNetConf(
    {
      ...BASE,
      binding: 'tap',
      mtu: 1400,
      owner: 0,
      multiQueue: true,
      pingGroupRange: ' 0  2147483647 ',
    },
    'ADD',
  );
  assert.equal(c.mtu, 1400);
  assert.equal(c.owner, 0);
  assert.equal(c.multiQueue, true);
  assert.equal(c.pingGroupRange, '0 2147483647');
  assert.equal(tapToCreate(c, 'eth0'), 'tap0', "KubeVirt's name for the primary");
  assert.equal(tapToCreate(c, 'net1'), 'tap1');
  assert.equal(tapToCreate({ ...c, tapName: 'vm0' }, 'eth0'), 'vm0');
  assert.equal(tapToCreate({ ...c, binding: 'managedTap' }, 'eth0'), undefined, 'libvirt opens it');
});

test('parsePortMappings takes both spellings', () => {
  assert.deepEqual(
    parsePortMappings([
      { HostPort: 8080, ContainerPort: 80, Protocol: 'tcp', HostIP: '' },
      { hostPort: 5353, containerPort: 53, protocol: 'UDP', hostIP: '127.0.0.1' },
      { containerPort: 9000 },
    ]),
    [
      { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
      { hostPort: 5353, containerPort: 53, protocol: 'udp', hostIP: '127.0.0.1' },
      { hostPort: 0, containerPort: 9000, protocol: 'tcp' },
    ],
  );
  assert.deepEqual(parsePortMappings(undefined), []);
  for (const bad of [
    {},
    [{ ContainerPort: 0 }],
    [{ containerPort: 80, protocol: 'icmp' }],
    [{ containerPort: 80, hostPort: 70000 }],
    [1],
  ])
    assert.equal(
      code(() => parsePortMappings(bad)),
      7,
      JSON.stringify(bad),
    );
});

test('passtPortOptions: -t/-u lists of container ports, sorted, deduplicated', () => {
  assert.deepEqual(passtPortOptions([]), []);
  assert.deepEqual(
    passtPortOptions([
      { hostPort: 1, containerPort: 443, protocol: 'tcp' },
      { hostPort: 2, containerPort: 80, protocol: 'tcp' },
      { hostPort: 3, containerPort: 80, protocol: 'tcp' },
      { hostPort: 4, containerPort: 53, protocol: 'udp' },
      { hostPort: 5, containerPort: 9, protocol: 'sctp' },
    ]),
    ['-t', '80,443', '-u', '53'],
  );
});

test('addResult: prevResult unchanged but for cniVersion; the tap appended', () => {
  const prevResult = {
    cniVersion: '1.0.0',
    interfaces: [{ name: 'eth0', sandbox: '/n' }],
    ips: [{ address: '10.0.0.2/24', interface: 0 }],
    dns: { nameservers: ['10.0.0.1'] },
    custom: { kept: true },
  };
  const c = parseNetConf({ ...BASE, prevResult }, 'ADD');
  assert.deepEqual(addResult(c), prevResult);
  assert.deepEqual(
    addResult(parseNetConf(BASE, 'ADD')),
    { cniVersion: '1.0.0' },
    'first in its list',
  );
  const tap = { name: 'tap0', mac: '02:00:00:00:00:01', sandbox: '/n', mtu: 1400 };
  const r = addResult(c, tap);
  assert.deepEqual(r.interfaces, [
    ...prevResult.interfaces,
    { name: 'tap0', mac: '02:00:00:00:00:01', sandbox: '/n' },
  ]);
  assert.deepEqual(prevResult.interfaces.length, 1, 'prevResult not mutated');
  const r11 = addResult(parseNetConf({ ...BASE, cniVersion: '1.1.0', prevResult }, 'ADD'), tap);
  assert.equal(r11.cniVersion, '1.1.0');
  assert.equal(r11.interfaces?.[1]?.mtu, 1400, 'mtu is a 1.1.0 field');
});

test('errorReply and versionReply', () => {
  const e = new CniError(CniErrorCode.InvalidConfig, 'bad', 'more');
  assert.deepEqual(errorReply(e, '0.4.0'), {
    cniVersion: '0.4.0',
    code: 7,
    msg: 'bad',
    details: 'more',
  });
  assert.deepEqual(errorReply(new CniError(1, 'v'), '9.9.9'), {
    cniVersion: '1.1.0',
    code: 1,
    msg: 'v',
  });
  assert.deepEqual(errorReply(new CniError(6, 'j')), { cniVersion: '1.1.0', code: 6, msg: 'j' });
  assert.deepEqual(versionReply(), {
    cniVersion: '1.1.0',
    supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'],
  });
});
