// Tests of the domain XML: each binding's <interface>/<hostdev>, passt port forwards, virt-xml-validate.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import fc from 'fast-check';
import {
  planKubeVirt,
  planVirtink,
  type NetworkStatusEntry,
  type PlanOptions,
} from '../plan/plan.js';
import { hashedPodInterfaceName } from '../plan/names.js';
import type { VmNetworkPlan } from '../plan/types.js';
import type { KubeVirtInterface, KubeVirtNetwork } from '../api/types.js';
import {
  domainModel,
  passtPortForwards,
  pciAttributes,
  renderDomainNetwork,
  renderMinimalDomain,
  type DomainRenderOptions,
} from './domain-xml.js';
import {
  kubevirtCr,
  kubevirtVm,
  nad,
  seedPasstPlugin,
  seedPasstVm,
  virtinkVm,
} from '../../test/fixtures/render/manifests.js';

const RUN = process.env.BINDERY_RUN_ID ?? 'dev';
const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '',
  isArray: (name) => ['interface', 'hostdev', 'portForward', 'range'].includes(name),
});

type Node = Record<string, unknown>;

function devices(xml: string): { interface?: Node[]; hostdev?: Node[] } {
  const doc = parser.parse(xml) as { devices: { interface?: Node[]; hostdev?: Node[] } | '' };
  return doc.devices === '' ? {} : doc.devices;
}

function kv(
  ifaces: KubeVirtInterface[],
  nets: KubeVirtNetwork[],
  extra: {
    annotations?: Record<string, string>;
    options?: PlanOptions;
    cr?: ReturnType<typeof kubevirtCr>;
  } = {},
): VmNetworkPlan {
  const vm = kubevirtVm(ifaces, nets, extra.annotations ? { annotations: extra.annotations } : {});
  const r = planKubeVirt({
    vm,
    ...(extra.cr ? { kubevirt: extra.cr } : {}),
    ...(extra.options ? { options: extra.options } : {}),
  });
  if (!r.ok) assert.fail(JSON.stringify(r.errors));
  return r.plan;
}

function seedPlan(): VmNetworkPlan {
  const r = planKubeVirt({ vm: seedPasstVm, kubevirt: kubevirtCr({ passt: seedPasstPlugin }) });
  if (!r.ok) assert.fail(JSON.stringify(r.errors));
  return r.plan;
}

test('seed passt VM: <interface type=user> as the passt sidecar generates it', () => {
  const out = renderDomainNetwork(seedPlan());
  assert.deepEqual(out.warnings, []);
  assert.equal(out.memoryBackingXml, undefined);
  const [i, ...rest] = devices(out.devicesXml).interface ?? [];
  assert.equal(rest.length, 0);
  assert.ok(i);
  assert.equal(i['type'], 'user');
  assert.deepEqual(i['source'], { dev: 'eth0' });
  assert.deepEqual(i['model'], { type: 'virtio-non-transitional' });
  assert.deepEqual(i['alias'], { name: 'ua-passtnet' });
  assert.deepEqual(i['backend'], { type: 'passt', logFile: '/var/run/kubevirt/passt.log' });
  assert.deepEqual(i['portForward'], [{ proto: 'tcp', range: [{ start: '80' }] }]);
  assert.equal(i['mac'], undefined);
});

test('passt port forwards: none → everything, UDP, Istio excludes and its quirk', () => {
  const base = seedPlan().interfaces[0]!;
  assert.deepEqual(passtPortForwards({ ...base, ports: [] }, false), [
    { proto: 'tcp', ranges: [] },
    { proto: 'udp', ranges: [] },
  ]);
  assert.deepEqual(
    passtPortForwards(
      {
        ...base,
        ports: [
          { protocol: 'UDP', port: 53 },
          { protocol: 'TCP', port: 22 },
        ],
      },
      false,
    ),
    [
      { proto: 'tcp', ranges: [{ start: 22 }] },
      { proto: 'udp', ranges: [{ start: 53 }] },
    ],
  );
  const istio = passtPortForwards({ ...base, ports: [] }, true);
  assert.equal(istio.length, 1);
  assert.equal(istio[0]!.proto, 'tcp');
  assert.deepEqual(istio[0]!.ranges[0], { start: 15000, exclude: true });
  assert.equal(istio[0]!.ranges.length, 10);
  const withPort = passtPortForwards(base, true);
  assert.deepEqual(withPort[0]!.ranges.at(-1), { start: 80 });
});

test('passt as vhost-user: type vhostuser and a shared memfd memoryBacking', () => {
  const out = renderDomainNetwork(seedPlan(), { passtVhostUser: true });
  const i = devices(out.devicesXml).interface?.[0];
  assert.equal(i?.['type'], 'vhostuser');
  const mb = parser.parse(out.memoryBackingXml ?? '') as { memoryBacking: Node };
  assert.deepEqual(mb.memoryBacking, { source: { type: 'memfd' }, access: { mode: 'shared' } });
});

test('masquerade and bridge: <interface type=ethernet> on the tap, MAC, MTU, rom off', () => {
  const plan = kv(
    [
      { name: 'default', masquerade: {}, macAddress: '02:aa:bb:cc:dd:ee' },
      {
        name: 'blue',
        bridge: {},
        bootOrder: 2,
        model: 'e1000e',
        pciAddress: '0000:00:0a.0',
        acpiIndex: 3,
      },
    ],
    [
      { name: 'default', pod: {} },
      { name: 'blue', multus: { networkName: 'br-blue' } },
    ],
    { options: { mtu: 1400 } },
  );
  const out = renderDomainNetwork(plan);
  const [m, b] = devices(out.devicesXml).interface ?? [];
  assert.ok(m && b);
  assert.equal(m['type'], 'ethernet');
  assert.deepEqual(m['target'], { dev: 'tap0', managed: 'no' });
  assert.deepEqual(m['mac'], { address: '02:aa:bb:cc:dd:ee' });
  assert.deepEqual(m['mtu'], { size: '1400' });
  assert.deepEqual(m['alias'], { name: 'ua-default' });
  assert.deepEqual(m['rom'], { enabled: 'no' });
  assert.deepEqual(b['target'], { dev: 'tap16477688c0e', managed: 'no' });
  assert.deepEqual(b['model'], { type: 'e1000e' });
  assert.deepEqual(b['boot'], { order: '2' });
  assert.equal(b['rom'], undefined);
  assert.deepEqual(b['acpi'], { index: '3' });
  assert.deepEqual(b['address'], {
    type: 'pci',
    domain: '0x0000',
    bus: '0x00',
    slot: '0x0a',
    function: '0x0',
  });
});

test('models: virtio (non-)transitional, others as written; PCI addresses', () => {
  assert.equal(domainModel('virtio', false), 'virtio-non-transitional');
  assert.equal(domainModel('virtio', true), 'virtio-transitional');
  assert.equal(domainModel('rtl8139', true), 'rtl8139');
  assert.deepEqual(pciAttributes('0000:81:01.2'), {
    type: 'pci',
    domain: '0x0000',
    bus: '0x81',
    slot: '0x01',
    function: '0x2',
  });
  assert.equal(pciAttributes('0000:81:01.10'), undefined);
});

test('SR-IOV: <hostdev> on the VF from the network-status, a warning without it', () => {
  const ifaces = [{ name: 'vf', sriov: {} }];
  const nets = [{ name: 'vf', multus: { networkName: 'sriov-net' } }];
  const none = renderDomainNetwork(kv(ifaces, nets));
  assert.equal(devices(none.devicesXml).hostdev, undefined);
  assert.match(none.warnings[0] ?? '', /network-status/);
  assert.match(none.devicesXml, /<!-- SR-IOV interface 'vf'/);
  const plan = kv(ifaces, nets, {
    options: {
      networkStatus: [
        {
          interface: 'pod' + hashed('vf'),
          'device-info': { pci: { 'pci-address': '0000:81:01.2' } },
        },
      ],
    },
  });
  const out = renderDomainNetwork(plan);
  assert.deepEqual(out.warnings, []);
  const h = devices(out.devicesXml).hostdev?.[0];
  assert.ok(h);
  assert.equal(h['mode'], 'subsystem');
  assert.equal(h['type'], 'pci');
  assert.equal(h['managed'], 'no');
  assert.deepEqual(h['source'], {
    address: { domain: '0x0000', bus: '0x81', slot: '0x01', function: '0x2' },
  });
  assert.deepEqual(h['alias'], { name: 'ua-sriov-vf' });
});

function hashed(n: string): string {
  return hashedPodInterfaceName(n).slice(3);
}

test('a sidecar-defined plugin interface is a comment; a tap plugin is an ethernet interface', () => {
  const cr = kubevirtCr({
    macvtap: { domainAttachmentType: 'tap' },
    custom: { sidecarImage: 'example.com/custom-sidecar:1' },
  });
  const plan = kv(
    [
      { name: 'default', binding: { name: 'custom' } },
      { name: 'mv', binding: { name: 'macvtap' } },
    ],
    [
      { name: 'default', pod: {} },
      { name: 'mv', multus: { networkName: 'macvtap-net' } },
    ],
    { cr },
  );
  const out = renderDomainNetwork(plan);
  assert.match(
    out.devicesXml,
    /<!-- interface 'default' is defined by the sidecar of binding plugin 'custom' -->/,
  );
  const ifs = devices(out.devicesXml).interface ?? [];
  assert.equal(ifs.length, 1);
  assert.deepEqual(ifs[0]!['target'], { dev: 'tap' + hashed('mv'), managed: 'no' });
});

test('absent interfaces are left out; down interfaces get <link state=down>', () => {
  const plan = kv(
    [
      { name: 'default', masquerade: {} },
      { name: 'a', bridge: {}, state: 'absent' },
      { name: 'b', bridge: {}, state: 'down' },
    ],
    [
      { name: 'default', pod: {} },
      { name: 'a', multus: { networkName: 'na' } },
      { name: 'b', multus: { networkName: 'nb' } },
    ],
  );
  const ifs = devices(renderDomainNetwork(plan).devicesXml).interface ?? [];
  assert.deepEqual(
    ifs.map((i) => (i['alias'] as Node)['name']),
    ['ua-default', 'ua-b'],
  );
  assert.deepEqual(ifs[1]!['link'], { state: 'down' });
});

// ---- virt-xml-validate on every variant ---------------------------------------------------

const canValidate = spawnSync('virt-xml-validate', ['--help']).error === undefined;
let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), `bindery-lab-${RUN}-domxml-`));
});
after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function validate(name: string, xml: string): { ok: boolean; stderr: string } {
  const file = join(dir, `${name.replace(/[^a-z0-9]+/gi, '-')}.xml`);
  writeFileSync(file, xml);
  const r = spawnSync('virt-xml-validate', [file, 'domain'], { encoding: 'utf8' });
  return { ok: r.status === 0, stderr: `${r.stdout}${r.stderr}` };
}

const sriovStatus: PlanOptions = {
  networkStatus: [
    { interface: 'pod' + hashed('vf'), 'device-info': { pci: { 'pci-address': '0000:81:01.2' } } },
    { interface: 'net1', 'device-info': { pci: { 'pci-address': '0000:58:01.2' } } },
    { interface: 'net2', 'device-info': { vdpa: { path: '/dev/vhost-vdpa-0' } } },
  ],
};

const variants: Array<[string, () => VmNetworkPlan, DomainRenderOptions?]> = [
  ['seed passt plugin', seedPlan],
  [
    'passt plugin, all ports',
    () =>
      kv([{ name: 'p', binding: { name: 'passt' } }], [{ name: 'p', pod: {} }], {
        cr: kubevirtCr({ passt: seedPasstPlugin }),
      }),
  ],
  [
    'passt plugin, istio, mac, pci, acpi',
    () =>
      kv(
        [
          {
            name: 'p',
            binding: { name: 'passt' },
            macAddress: '02:00:00:00:00:01',
            pciAddress: '0000:00:05.0',
            acpiIndex: 1,
            ports: [{ port: 53, protocol: 'UDP' }],
          },
        ],
        [{ name: 'p', pod: {} }],
        {
          cr: kubevirtCr({ passt: seedPasstPlugin }),
          annotations: { 'sidecar.istio.io/inject': 'true' },
        },
      ),
  ],
  [
    'core passtBinding',
    () => kv([{ name: 'default', passtBinding: {} }], [{ name: 'default', pod: {} }]),
  ],
  [
    'masquerade + bridge + sriov + tap plugin + sidecar plugin',
    () =>
      kv(
        [
          { name: 'default', masquerade: {}, macAddress: '02:aa:bb:cc:dd:ee', bootOrder: 1 },
          { name: 'blue', bridge: {}, model: 'e1000e', state: 'down' },
          { name: 'vf', sriov: {}, pciAddress: '0000:00:0b.0', bootOrder: 3 },
          { name: 'mv', binding: { name: 'macvtap' } },
          { name: 'cu', binding: { name: 'custom' } },
        ],
        [
          { name: 'default', pod: {} },
          { name: 'blue', multus: { networkName: 'br-blue' } },
          { name: 'vf', multus: { networkName: 'sriov-net' } },
          { name: 'mv', multus: { networkName: 'macvtap' } },
          { name: 'cu', multus: { networkName: 'custom' } },
        ],
        {
          options: { ...sriovStatus, mtu: 9000 },
          cr: kubevirtCr({
            macvtap: { domainAttachmentType: 'tap' },
            custom: { sidecarImage: 'x/y:1' },
          }),
        },
      ),
  ],
  [
    'sriov without network-status',
    () => kv([{ name: 'vf', sriov: {} }], [{ name: 'vf', multus: { networkName: 'sriov-net' } }]),
  ],
  [
    'transitional virtio',
    () => {
      const vm = kubevirtVm([{ name: 'default', masquerade: {} }], [{ name: 'default', pod: {} }]);
      const withTransitional = {
        ...vm,
        spec: {
          ...vm.spec,
          template: {
            spec: {
              ...vm.spec.template.spec,
              domain: {
                devices: { ...vm.spec.template.spec.domain.devices, useVirtioTransitional: true },
              },
            },
          },
        },
      };
      const r = planKubeVirt({ vm: withTransitional });
      assert.ok(r.ok);
      return r.plan;
    },
  ],
  [
    'virtink bridge + masquerade + sriov + vdpa',
    () => {
      const r = planVirtink({
        vm: virtinkVm(
          [
            { name: 'pod', masquerade: {}, mac: '52:54:00:12:34:56' },
            { name: 'sriov', sriov: {}, mac: '52:54:00:12:34:57' },
            { name: 'vdpa1', vdpa: { numQueues: 9, iommu: false }, mac: '52:54:00:12:34:58' },
            { name: 'ovs', bridge: {}, mac: '52:54:00:12:34:59' },
          ],
          [
            { name: 'pod', pod: {} },
            { name: 'sriov', multus: { networkName: 'mellanox-sriov-25g' } },
            { name: 'vdpa1', multus: { networkName: 'offload-ovn1' } },
            { name: 'ovs', multus: { networkName: 'ovs-br1' } },
          ],
        ),
        options: sriovStatus,
      });
      assert.ok(r.ok);
      return r.plan;
    },
  ],
  [
    'virtink vhost-user',
    () => {
      const r = planVirtink({
        vm: virtinkVm(
          [{ name: 'dpdk', vhostUser: {}, mac: '52:54:00:12:34:60' }],
          [{ name: 'dpdk', multus: { networkName: 'ovn-dpdk' } }],
        ),
        nads: [
          nad('ovn-dpdk', {
            type: 'kube-ovn',
            vhost_user_socket_volume_name: 'vhostuser-sockets',
            vhost_user_socket_name: 'sock',
          }),
        ],
      });
      assert.ok(r.ok);
      return r.plan;
    },
  ],
];

for (const [name, make, opts] of variants) {
  test(
    `virt-xml-validate accepts the domain: ${name}`,
    { skip: !canValidate && 'virt-xml-validate not installed' },
    () => {
      const xml = renderMinimalDomain(make(), opts);
      const r = validate(name, xml);
      assert.ok(r.ok, `${r.stderr}\n${xml}`);
    },
  );
}

// libvirt < 11.1 requires <source type='unix'> on vhostuser; passt-backed vhostuser is newer.
// Debian 12's libvirt is 9.0: scripts/setup-debian.sh installs 11.3 from bookworm-backports.
const schemaVersion = canValidate
  ? (/\d+\.\d+\.\d+/.exec(
      spawnSync('virt-xml-validate', ['--version'], { encoding: 'utf8' }).stdout,
    )?.[0] ?? '')
  : '';
const [schemaMajor = 0, schemaMinor = 0] = schemaVersion.split('.').map(Number);
const vhostUserSkip = !canValidate
  ? 'virt-xml-validate not installed'
  : schemaMajor < 11 || (schemaMajor === 11 && schemaMinor < 1)
    ? `installed libvirt schema ${schemaVersion || '(unknown)'} predates vhostuser+passt (11.1)`
    : false;

test(
  'virt-xml-validate: passt as vhost-user (libvirt ≥ 11.1 schema only)',
  { skip: vhostUserSkip },
  () => {
    const xml = renderMinimalDomain(seedPlan(), { passtVhostUser: true });
    const r = validate('passt vhostuser', xml);
    assert.ok(r.ok, `${r.stderr}\n${xml}`);
  },
);

test(
  'virt-xml-validate accepts random KubeVirt interface mixes (property)',
  { skip: !canValidate && 'virt-xml-validate not installed' },
  () => {
    const hex2 = fc.integer({ min: 0, max: 255 }).map((b) => b.toString(16).padStart(2, '0'));
    const mac = fc.tuple(hex2, hex2, hex2, hex2, hex2).map((b) => `02:${b.join(':')}`);
    const pci = fc
      .tuple(
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 0, max: 31 }),
        fc.integer({ min: 0, max: 7 }),
      )
      .map(
        ([b, s, f]) =>
          `0000:${b.toString(16).padStart(2, '0')}:${s.toString(16).padStart(2, '0')}.${f}`,
      );
    const port = fc.record({
      port: fc.integer({ min: 1, max: 65535 }),
      protocol: fc.constantFrom('TCP', 'UDP'),
    });
    const secondary = fc.record({
      kind: fc.constantFrom('bridge', 'sriov', 'tapPlugin', 'sidecarPlugin'),
      mac: fc.option(mac, { nil: undefined }),
      pci: fc.option(pci, { nil: undefined }),
      model: fc.constantFrom('virtio', 'e1000e', 'rtl8139'),
      state: fc.constantFrom(undefined, 'up', 'down', 'absent'),
      acpi: fc.option(fc.integer({ min: 1, max: 100 }), { nil: undefined }),
    });
    const arb = fc.record({
      primary: fc.constantFrom('masquerade', 'bridge', 'passtPlugin', 'passtBinding'),
      ports: fc.array(port, { maxLength: 4 }),
      istio: fc.boolean(),
      vhost: fc.boolean(),
      secondaries: fc.array(secondary, { maxLength: 4 }),
    });
    let k = 0;
    fc.assert(
      fc.property(arb, (a) => {
        const ifaces: KubeVirtInterface[] = [];
        const nets: KubeVirtNetwork[] = [{ name: 'default', pod: {} }];
        const method =
          a.primary === 'passtPlugin' ? { binding: { name: 'passt' } } : { [a.primary]: {} };
        ifaces.push({ name: 'default', ...method, ports: a.ports });
        const status: NetworkStatusEntry[] = [];
        a.secondaries.forEach((s, i) => {
          const name = `net-${i}`;
          nets.push({ name, multus: { networkName: `nad${i}` } });
          const m =
            s.kind === 'tapPlugin'
              ? { binding: { name: 'tapper' } }
              : s.kind === 'sidecarPlugin'
                ? { binding: { name: 'side' } }
                : { [s.kind]: {} };
          ifaces.push({
            name,
            ...m,
            model: s.model,
            ...(s.mac ? { macAddress: s.mac } : {}),
            ...(s.pci ? { pciAddress: s.pci } : {}),
            ...(s.state ? { state: s.state } : {}),
            ...(s.acpi ? { acpiIndex: s.acpi } : {}),
          });
          status.push({
            interface: hashedPodInterfaceName(name),
            'device-info': { pci: { 'pci-address': `0000:81:0${i}.1` } },
          });
        });
        const plan = kv(ifaces, nets, {
          cr: kubevirtCr({
            passt: seedPasstPlugin,
            tapper: { domainAttachmentType: 'tap' },
            side: { sidecarImage: 'x/y:1' },
          }),
          ...(a.istio ? { annotations: { 'sidecar.istio.io/inject': 'true' } } : {}),
          options: { networkStatus: status, mtu: 1500 },
        });
        const xml = renderMinimalDomain(plan, { passtVhostUser: false });
        const r = validate(`property-${k++}`, xml);
        assert.ok(r.ok, `${r.stderr}\n${xml}`);
      }),
      { numRuns: 30 },
    );
  },
);
