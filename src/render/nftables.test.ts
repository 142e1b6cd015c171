// Tests of the masquerade ruleset: KubeVirt's rules line by line, Istio, Virtink, and `nft -c` in a netns.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { planKubeVirt, planVirtink, type PlanOptions } from '../plan/plan.js';
import type { VmNetworkPlan } from '../plan/types.js';
import type { KubeVirtInterface } from '../api/types.js';
import { buildNftRuleset, nftJson, nftText } from './nftables.js';
import { kubevirtVm, virtinkVm } from '../../test/fixtures/render/manifests.js';

const RUN = process.env.BINDERY_RUN_ID ?? 'dev';

function masqPlan(
  iface: Partial<KubeVirtInterface> = {},
  annotations?: Record<string, string>,
  options?: PlanOptions,
): VmNetworkPlan {
  const vm = kubevirtVm(
    [{ name: 'default', masquerade: {}, ...iface }],
    [{ name: 'default', pod: {} }],
    annotations ? { annotations } : {},
  );
  const r = planKubeVirt({ vm, ...(options ? { options } : {}) });
  if (!r.ok) assert.fail(JSON.stringify(r.errors));
  return r.plan;
}

function rules(plan: VmNetworkPlan): string[] {
  const rs = buildNftRuleset(plan);
  assert.ok(rs);
  return nftText(rs)
    .split('\n')
    .filter((l) => l.startsWith('add rule ip '));
}

test('no masquerade interface: no ruleset', () => {
  const vm = kubevirtVm([{ name: 'default', bridge: {} }], [{ name: 'default', pod: {} }]);
  const r = planKubeVirt({ vm });
  assert.ok(r.ok);
  assert.equal(buildNftRuleset(r.plan), undefined);
});

test('KubeVirt masquerade without ports: tables, chains and rules as virt-handler adds them', () => {
  const rs = buildNftRuleset(masqPlan());
  assert.ok(rs);
  assert.equal(
    nftText(rs),
    [
      'add table ip nat',
      'add chain ip nat prerouting { type nat hook prerouting priority -100; }',
      'add chain ip nat input { type nat hook input priority 100; }',
      'add chain ip nat output { type nat hook output priority -100; }',
      'add chain ip nat postrouting { type nat hook postrouting priority 100; }',
      'add chain ip nat KUBEVIRT_PREINBOUND',
      'add chain ip nat KUBEVIRT_POSTINBOUND',
      'add rule ip nat postrouting ip saddr 10.0.2.2 counter masquerade',
      'add rule ip nat prerouting iifname "eth0" counter jump KUBEVIRT_PREINBOUND',
      'add rule ip nat postrouting oifname "k6t-eth0" counter jump KUBEVIRT_POSTINBOUND',
      'add rule ip nat KUBEVIRT_PREINBOUND counter dnat to 10.0.2.2',
      'add rule ip nat KUBEVIRT_POSTINBOUND ip saddr { 127.0.0.1 } counter snat to 10.0.2.1',
      'add rule ip nat output ip daddr { 127.0.0.1 } counter dnat to 10.0.2.2',
      'add table ip6 nat',
      'add chain ip6 nat prerouting { type nat hook prerouting priority -100; }',
      'add chain ip6 nat input { type nat hook input priority 100; }',
      'add chain ip6 nat output { type nat hook output priority -100; }',
      'add chain ip6 nat postrouting { type nat hook postrouting priority 100; }',
      'add chain ip6 nat KUBEVIRT_PREINBOUND',
      'add chain ip6 nat KUBEVIRT_POSTINBOUND',
      'add rule ip6 nat postrouting ip6 saddr fd10:0:2::2 counter masquerade',
      'add rule ip6 nat prerouting iifname "eth0" counter jump KUBEVIRT_PREINBOUND',
      'add rule ip6 nat postrouting oifname "k6t-eth0" counter jump KUBEVIRT_POSTINBOUND',
      'add rule ip6 nat KUBEVIRT_PREINBOUND counter dnat to fd10:0:2::2',
      'add rule ip6 nat KUBEVIRT_POSTINBOUND ip6 saddr { ::1 } counter snat to fd10:0:2::1',
      'add rule ip6 nat output ip6 daddr { ::1 } counter dnat to fd10:0:2::2',
      '',
    ].join('\n'),
  );
});

test('KubeVirt masquerade with ports: per port DNAT, SNAT of loopback, output DNAT', () => {
  const r = rules(
    masqPlan({
      ports: [
        { name: 'http', port: 80 },
        { port: 53, protocol: 'UDP' },
      ],
    }),
  );
  assert.deepEqual(r.slice(3), [
    'add rule ip nat KUBEVIRT_PREINBOUND tcp dport { 80 } counter dnat to 10.0.2.2',
    'add rule ip nat KUBEVIRT_POSTINBOUND tcp dport 80 ip saddr { 127.0.0.1 } counter snat to 10.0.2.1',
    'add rule ip nat output ip daddr { 127.0.0.1 } tcp dport 80 counter dnat to 10.0.2.2',
    'add rule ip nat KUBEVIRT_PREINBOUND udp dport { 53 } counter dnat to 10.0.2.2',
    'add rule ip nat KUBEVIRT_POSTINBOUND udp dport 53 ip saddr { 127.0.0.1 } counter snat to 10.0.2.1',
    'add rule ip nat output ip daddr { 127.0.0.1 } udp dport 53 counter dnat to 10.0.2.2',
  ]);
});

test('KubeVirt masquerade with port ranges', () => {
  const r = rules(masqPlan({ portRanges: [{ protocol: 'TCP', start: 8000, end: 8080 }] }));
  assert.deepEqual(r.slice(3), [
    'add rule ip nat KUBEVIRT_PREINBOUND tcp dport { 8000-8080 } counter dnat to 10.0.2.2',
    'add rule ip nat KUBEVIRT_POSTINBOUND tcp dport 8000-8080 ip saddr { 127.0.0.1 } counter snat to 10.0.2.1',
    'add rule ip nat output ip daddr { 127.0.0.1 } tcp dport 8000-8080 counter dnat to 10.0.2.2',
  ]);
});

test('Istio without ports: reserved ports return, only ssh is DNATed, 127.0.0.6 and pod IP', () => {
  const r = rules(masqPlan({}, { 'sidecar.istio.io/inject': 'true' }, { podIPv4: '10.244.1.7' }));
  assert.deepEqual(r.slice(3), [
    'add rule ip nat output tcp dport { 15000, 15001, 15004, 15006, 15008, 15009, 15020, 15021, 15053, 15090 } ip saddr 127.0.0.1 counter return',
    'add rule ip nat KUBEVIRT_POSTINBOUND tcp dport { 15000, 15001, 15004, 15006, 15008, 15009, 15020, 15021, 15053, 15090 } ip saddr 127.0.0.1 counter return',
    'add rule ip nat KUBEVIRT_PREINBOUND tcp dport { 22 } counter dnat to 10.0.2.2',
    'add rule ip nat KUBEVIRT_POSTINBOUND ip saddr { 127.0.0.1, 127.0.0.6 } counter snat to 10.0.2.1',
    'add rule ip nat output ip daddr { 127.0.0.1, 10.244.1.7 } counter dnat to 10.0.2.2',
  ]);
});

test('Istio with ports: only a declared ssh port is DNATed in PREINBOUND', () => {
  const r = rules(
    masqPlan({ ports: [{ port: 22 }, { port: 8080 }] }, { 'sidecar.istio.io/inject': 'true' }),
  );
  assert.deepEqual(
    r.filter((l) => l.includes('KUBEVIRT_PREINBOUND') && l.includes('dnat')),
    ['add rule ip nat KUBEVIRT_PREINBOUND tcp dport { 22 } counter dnat to 10.0.2.2'],
  );
  assert.ok(
    r.includes(
      'add rule ip nat KUBEVIRT_POSTINBOUND tcp dport 8080 ip saddr { 127.0.0.1, 127.0.0.6 } counter snat to 10.0.2.1',
    ),
  );
});

test('Virtink masquerade: the ip nat table of its two iptables rules', () => {
  const vm = virtinkVm([{ name: 'pod', masquerade: {} }], [{ name: 'pod', pod: {} }]);
  const r = planVirtink({ vm });
  assert.ok(r.ok);
  const rs = buildNftRuleset(r.plan);
  assert.ok(rs);
  assert.equal(
    nftText(rs),
    [
      'add table ip nat',
      'add chain ip nat PREROUTING { type nat hook prerouting priority -100; }',
      'add chain ip nat POSTROUTING { type nat hook postrouting priority 100; }',
      'add rule ip nat POSTROUTING oifname "eth0" counter masquerade',
      'add rule ip nat PREROUTING iifname "eth0" counter dnat to 10.0.2.2',
      '',
    ].join('\n'),
  );
});

test('JSON and text carry the same commands', () => {
  const rs = buildNftRuleset(masqPlan({ ports: [{ port: 80 }] }));
  assert.ok(rs);
  const json = nftJson(rs);
  const cmds = json.nftables.slice(1) as Array<{ add: Record<string, unknown> }>;
  const text = nftText(rs).trim().split('\n');
  assert.equal(cmds.length, text.length);
  cmds.forEach((c, i) => assert.ok(text[i]!.startsWith(`add ${Object.keys(c.add)[0]} `)));
  assert.deepEqual(json.nftables[0], { metainfo: { json_schema_version: 1 } });
  const first = cmds.find((c) => 'rule' in c.add)!.add['rule'];
  assert.deepEqual(first, {
    family: 'ip',
    table: 'nat',
    chain: 'postrouting',
    expr: [
      {
        match: {
          op: '==',
          left: { payload: { protocol: 'ip', field: 'saddr' } },
          right: '10.0.2.2',
        },
      },
      { counter: null },
      { masquerade: null },
    ],
  });
});

// ---- nft -c in a lab namespace --------------------------------------------------------------

const canLab =
  process.getuid?.() === 0 &&
  spawnSync('nft', ['--version']).status === 0 &&
  spawnSync('ip', ['netns', 'list']).status === 0;
const ns = `bdy-${RUN}-nft${process.pid}`;
let dir = '';

before(() => {
  dir = mkdtempSync(join(tmpdir(), `bindery-lab-${RUN}-nft-`));
  if (canLab) execFileSync('ip', ['netns', 'add', ns]);
});

after(() => {
  if (canLab) spawnSync('ip', ['netns', 'del', ns]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function nftCheck(file: string, json: boolean): void {
  const args = ['netns', 'exec', ns, 'nft', ...(json ? ['-j'] : []), '-c', '-f', file];
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  assert.equal(r.status, 0, `nft -c ${json ? '-j ' : ''}rejected ${file}:\n${r.stderr}`);
}

const variants: Array<[string, () => VmNetworkPlan]> = [
  ['masquerade, all ports', () => masqPlan()],
  ['masquerade, ports', () => masqPlan({ ports: [{ port: 80 }, { port: 53, protocol: 'UDP' }] })],
  [
    'masquerade, port ranges',
    () => masqPlan({ portRanges: [{ protocol: 'UDP', start: 5000, end: 5100 }] }),
  ],
  [
    'masquerade, istio',
    () => masqPlan({}, { 'sidecar.istio.io/inject': 'true' }, { podIPv4: '10.244.0.9' }),
  ],
  [
    'masquerade, istio, ports',
    () => masqPlan({ ports: [{ port: 22 }, { port: 80 }] }, { 'sidecar.istio.io/inject': 'true' }),
  ],
  [
    'masquerade, custom CIDR',
    () => {
      const vm = kubevirtVm(
        [{ name: 'default', masquerade: {} }],
        [
          {
            name: 'default',
            pod: { vmNetworkCIDR: '172.16.9.0/29', vmIPv6NetworkCIDR: 'fd00:abcd::/64' },
          },
        ],
      );
      const r = planKubeVirt({ vm });
      assert.ok(r.ok);
      return r.plan;
    },
  ],
  [
    'virtink masquerade',
    () => {
      const r = planVirtink({
        vm: virtinkVm(
          [{ name: 'pod', masquerade: { cidr: '10.9.0.0/30' } }],
          [{ name: 'pod', pod: {} }],
        ),
      });
      assert.ok(r.ok);
      return r.plan;
    },
  ],
];

for (const [name, make] of variants) {
  test(
    `nft -c accepts the ruleset (text and JSON): ${name}`,
    { skip: !canLab && 'needs root, nft and ip netns' },
    () => {
      const rs = buildNftRuleset(make());
      assert.ok(rs);
      const base = join(dir, name.replace(/[^a-z0-9]+/gi, '-'));
      writeFileSync(`${base}.nft`, nftText(rs, [`bindery test: ${name}`]));
      writeFileSync(`${base}.json`, JSON.stringify(nftJson(rs)));
      nftCheck(`${base}.nft`, false);
      nftCheck(`${base}.json`, true);
    },
  );
}

test(
  'nft -c accepts random port sets, ranges, CIDRs and Istio (property)',
  { skip: !canLab && 'needs root, nft and ip netns' },
  () => {
    const port = fc.integer({ min: 1, max: 65535 });
    const arb = fc.record({
      ports: fc.array(fc.record({ port, protocol: fc.constantFrom('TCP', 'UDP') }), {
        maxLength: 5,
      }),
      ranges: fc.array(
        fc
          .tuple(port, port, fc.constantFrom('TCP', 'UDP'))
          .map(([a, b, p]) => ({ protocol: p, start: Math.min(a, b), end: Math.max(a, b) })),
        { maxLength: 3 },
      ),
      istio: fc.boolean(),
      net: fc.tuple(
        fc.integer({ min: 1, max: 223 }),
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 8, max: 30 }),
      ),
      pfx6: fc.integer({ min: 64, max: 126 }),
    });
    let k = 0;
    fc.assert(
      fc.property(arb, (a) => {
        const useRanges = a.ranges.length > 0 && a.ports.length === 0;
        const vm = kubevirtVm(
          [
            {
              name: 'default',
              masquerade: {},
              ...(useRanges ? { portRanges: a.ranges } : { ports: a.ports }),
            },
          ],
          [
            {
              name: 'default',
              pod: {
                vmNetworkCIDR: `${a.net[0]}.${a.net[1]}.0.0/${a.net[2]}`,
                vmIPv6NetworkCIDR: `fd00:1::/${a.pfx6}`,
              },
            },
          ],
          a.istio ? { annotations: { 'sidecar.istio.io/inject': 'true' } } : {},
        );
        const r = planKubeVirt({ vm, options: { podIPv4: '10.1.2.3' } });
        assert.ok(r.ok, JSON.stringify(r));
        const rs = buildNftRuleset(r.plan);
        assert.ok(rs);
        const base = join(dir, `property-${k++}`);
        writeFileSync(`${base}.nft`, nftText(rs));
        writeFileSync(`${base}.json`, JSON.stringify(nftJson(rs)));
        nftCheck(`${base}.nft`, false);
        nftCheck(`${base}.json`, true);
      }),
      { numRuns: 20 },
    );
  },
);
