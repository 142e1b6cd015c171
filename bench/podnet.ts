// Pod-side bindings benchmark (`npm run bench -- --podnet`): TCP through KubeVirt's bridge and masquerade plumbing vs a plain veth.
//
// What is measured is the kernel's forwarding in the pod, which is all these bindings add: a
// "node" namespace and a "pod" namespace joined by a veth (the pod's eth0, 10.244.0.10/24; the
// node 10.244.0.1), and a "guest" namespace whose veth end sits in the pod where the VM's tap
// would (named tap0, enslaved to k6t-eth0). The guest is a namespace, not a VM: no virtio, no
// vhost, so the numbers are the binding's share of the path only.
//
// Setups (fresh namespaces each):
// - veth: the guest joined straight to the node by one veth (guest 10.244.0.10): the reference.
// - bridge, masquerade: `podNetUp` (src/podnet, what `bindery pod-net up` runs) on the
//   pod-net test fixtures (PODNET_FIXTURES), exactly as the suite test/podnet/plumbing.test.ts
//   checks it: KubeVirt's bridge binding (eth0 renamed eth0-nic on k6t-eth0 with learning off,
//   a dummy eth0 keeping the pod IP, arp_ignore) and masquerade binding (k6t-eth0 with
//   10.0.2.1/24, route_localnet, ip_forward and the nftables NAT ruleset bindery renders; the
//   all-ports fixture, so the inbound rows go through DNAT). The address server is replaced by
//   a recorder: the guest gets statically what it would have offered (address, router, and for
//   bridge the guest MAC), as the DHCP server is not what is measured. The tap `up` made is
//   then swapped for a veth to the guest namespace (same name, same bridge); `podNetDown` runs
//   at teardown.
//
// Workloads (median of BINDERY_BENCH_NET_REPS repetitions, default 3; setups rotate so a burst
// of other work does not land on one setup only):
// - bulk guest→node: iperf3 server in the node, client in the guest (1 stream);
// - bulk node→guest: iperf3 server in the guest, client in the node dialling the pod IP (for
//   masquerade this is the inbound DNAT path);
// - TCP RR, 1-byte round trips (bench/tcpload.py rr; 2000, median and p99), guest→node
//   (outbound) and node→guest (inbound).
// Targets (issue 13): throughput ≥ 0.8× veth, RR median ≤ 1.2× veth.
import { loadavg } from 'node:os';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Lab, type Netns } from '../test/lab/lab.js';
import { loadPlans } from '../src/cli/plan-input.js';
import type { AddressServerConfig } from '../src/podnet/address-config.js';
import { podNetDown, podNetUp } from '../src/podnet/index.js';
import { fmtNum, machineMeta, writeJson } from './matrix.js';
import { toolVersion } from './peers.js';
import { errText, firstLine, lastLine, sleep } from './setups.js';
import { median, quantile } from './stats.js';

const LOAD = ['python3', fileURLToPath(new URL('./tcpload.py', import.meta.url))];
const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));
const SECONDS = Number(process.env.BINDERY_BENCH_NET_SECONDS ?? 5);
const RR_COUNT = 2000;
const NODE_IP = '10.244.0.1';
const POD_IP = '10.244.0.10';
const PREFIX = 24;
const MTU = 1500;
/** How the bridge and masquerade setups were built (recorded in the JSON). */
export const PLUMBING =
  'bindery pod-net (podNetUp) on the pod-net test fixtures, tap swapped for a veth to the guest';
const FIXTURES = join(REPO_ROOT, 'test/fixtures/manifests');
/** The KubeVirt VMs plumbed (one pod-network interface each; their pod link is eth0). */
export const PODNET_FIXTURES = {
  bridge: 'podnet-kubevirt-bridge.yaml',
  masquerade: 'podnet-kubevirt-masquerade-ipv6.yaml',
} as const;
/** The pod link the fixtures' plans name for the pod network. */
const POD_LINK = 'eth0';

export type PodnetKind = 'veth' | 'bridge' | 'masquerade';
export const PODNET_KINDS: readonly PodnetKind[] = ['veth', 'bridge', 'masquerade'];

interface PodnetSetup {
  readonly kind: PodnetKind;
  readonly node: Netns;
  readonly guest: Netns;
  readonly pod: Netns | undefined;
}

interface Row {
  readonly key: string;
  readonly name: string;
  readonly unit: string;
  /** The target against veth: bulk ≥ 0.8×, rr ≤ 1.2×; none for p99. */
  readonly target?: 'bulk' | 'rr';
}

const ROWS: readonly Row[] = [
  { key: 'g2n', name: 'bulk guest→node, 1 stream', unit: 'Gbit/s', target: 'bulk' },
  { key: 'n2g', name: 'bulk node→guest, 1 stream', unit: 'Gbit/s', target: 'bulk' },
  { key: 'rrOutMed', name: 'TCP RR 1 B guest→node median', unit: 'µs', target: 'rr' },
  { key: 'rrOutP99', name: 'TCP RR 1 B guest→node p99', unit: 'µs' },
  { key: 'rrInMed', name: 'TCP RR 1 B node→guest median', unit: 'µs', target: 'rr' },
  { key: 'rrInP99', name: 'TCP RR 1 B node→guest p99', unit: 'µs' },
];

type Sample = number | { readonly failed: string };

/** What a run produced (also what its JSON holds). */
export interface PodnetResult {
  readonly meta: Record<string, unknown>;
  readonly kinds: readonly PodnetKind[];
  readonly rows: ReadonlyArray<
    Row & {
      readonly samples: Record<PodnetKind, Sample[]>;
      readonly value: Record<PodnetKind, number | undefined>;
      readonly ratio: Partial<Record<PodnetKind, number>>;
      readonly met: Partial<Record<PodnetKind, boolean>>;
    }
  >;
  readonly notes: string[];
}

// ---- the setups ----------------------------------------------------------------------------

const SILENT = { out: (): void => {}, err: (): void => {} };

/**
 * `bindery pod-net up` on the fixture in a pod whose eth0 is plumbed as the CNI leaves it, with
 * the address server replaced by a recorder (the guest is configured statically with what it
 * would hand out); the VM's tap is then swapped for a veth to the guest namespace. `down` runs
 * first at teardown.
 */
async function plumbPodNet(
  lab: Lab,
  kind: 'bridge' | 'masquerade',
  pod: Netns,
  guest: Netns,
): Promise<void> {
  const [loaded] = await loadPlans(
    [join(FIXTURES, PODNET_FIXTURES[kind])],
    { for: 'kubevirt', naming: 'hashed', command: 'bench', nothingDone: '-' },
    SILENT,
  );
  const { plan, paths, interfaceIndex } = loaded!;
  const stateDir = join(await lab.tmpDir(), 'state');
  const offers: AddressServerConfig[] = [];
  const deps = {
    startAddressServer: async (file: string): Promise<number> => {
      offers.push(JSON.parse(await readFile(file, 'utf8')) as AddressServerConfig);
      return process.pid;
    },
    stopAddressServer: async (): Promise<void> => {},
  };
  const r = await podNetUp({
    plan,
    paths,
    interfaceIndex,
    netns: pod,
    stateDir,
    resolvConf: '/dev/null',
    deps,
  });
  lab.defer(async () => {
    const d = await podNetDown({ netns: pod, stateDir, deps });
    if (d.warnings.length > 0) throw new Error(`pod-net down: ${d.warnings.join('; ')}`);
  });
  const iface = r.interfaces[0]!;
  const offer = offers[0]?.v4;
  if (iface.tap === undefined || iface.bridge === undefined || offer === undefined)
    throw new Error(`pod-net up: no tap, bridge or DHCPv4 offer (${JSON.stringify(iface)})`);
  // The VM's tap: a veth whose pod end takes the tap's place on the bridge.
  await lab.ip(pod, ['link', 'del', iface.tap]);
  const vm = await lab.veth(guest, pod, { nameB: iface.tap, mtu: MTU });
  await lab.ip(pod, ['link', 'set', iface.tap, 'master', iface.bridge]);
  // What DHCP would give the guest: the offered address and router; bridge: the guest MAC too.
  await lab.ip(guest, ['link', 'set', vm.nameA, 'down']);
  if (iface.guestMac !== undefined)
    await lab.ip(guest, ['link', 'set', vm.nameA, 'address', iface.guestMac]);
  await lab.ip(guest, ['link', 'set', vm.nameA, 'up']);
  await lab.ip(guest, ['addr', 'add', `${offer.address}/${offer.prefixLength}`, 'dev', vm.nameA]);
  if (offer.router === undefined) throw new Error('pod-net up: the offer has no router');
  await lab.ip(guest, ['route', 'add', 'default', 'via', offer.router]);
}

async function makeSetup(lab: Lab, kind: PodnetKind): Promise<PodnetSetup> {
  const tag = kind[0]!;
  const node = await lab.namespace(`${tag}node`);
  const guest = await lab.namespace(`${tag}guest`);
  let pod: Netns | undefined;
  if (kind === 'veth') {
    await lab.veth(guest, node, {
      addrsA: [`${POD_IP}/${PREFIX}`],
      addrsB: [`${NODE_IP}/${PREFIX}`],
      mtu: MTU,
    });
  } else {
    pod = await lab.namespace(`${tag}pod`);
    // The pod's eth0 as the CNI leaves it: a veth to the node with the pod IP and a default route.
    await lab.veth(pod, node, {
      nameA: POD_LINK,
      addrsA: [`${POD_IP}/${PREFIX}`],
      addrsB: [`${NODE_IP}/${PREFIX}`],
      mtu: MTU,
    });
    await lab.ip(pod, ['route', 'add', 'default', 'via', NODE_IP]);
    await plumbPodNet(lab, kind, pod, guest);
  }
  // Ready once the guest reaches the node and the node reaches the guest's address.
  for (const [from, to] of [
    [guest, NODE_IP],
    [node, POD_IP],
  ] as const) {
    const end = Date.now() + 20_000;
    for (;;) {
      const r = await lab.exec(from, ['ping', '-c', '1', '-W', '1', to], { timeoutMs: 5000 });
      if (r.code === 0) break;
      if (Date.now() > end)
        throw new Error(`${kind}: ${from} cannot reach ${to}: ${lastLine(r.stdout + r.stderr)}`);
      await sleep(100);
    }
  }
  return { kind, node, guest, pod };
}

// ---- the workloads --------------------------------------------------------------------------

let nextPort = 61000;
function port(): number {
  nextPort = nextPort >= 65535 ? 61000 : nextPort + 1;
  return nextPort;
}

/** iperf3 from `client` to `server` (listening on all addresses), 1 stream; receiver Gbit/s. */
async function iperf(lab: Lab, server: Netns, client: Netns, dial: string): Promise<number> {
  const p = String(port());
  const srv = lab.spawn(server, ['iperf3', '-s', '-1', '--forceflush', '-p', p]);
  try {
    await srv.waitForOutput(/Server listening/, 10_000);
    const r = await lab.exec(
      client,
      ['iperf3', '-c', dial, '-p', p, '-t', String(SECONDS), '-J', '--connect-timeout', '3000'],
      { timeoutMs: (SECONDS + 25) * 1000 },
    );
    let j: { error?: string; end?: { sum_received?: { bits_per_second?: number } } };
    try {
      j = JSON.parse(r.stdout) as typeof j;
    } catch {
      throw new Error(`iperf3 exit ${r.code}: ${lastLine(r.stderr + r.stdout)}`);
    }
    if (j.error !== undefined) throw new Error(`iperf3: ${j.error}`);
    const bps = j.end?.sum_received?.bits_per_second;
    if (typeof bps !== 'number') throw new Error('iperf3: no end.sum_received');
    return bps / 1e9;
  } finally {
    await srv.kill('SIGKILL', 500);
  }
}

/** 1-byte round trips from `client` to an echo server in `server`; µs [median, p99]. */
async function rr(lab: Lab, server: Netns, client: Netns, dial: string): Promise<[number, number]> {
  const p = port();
  const srv = lab.spawn(server, [...LOAD, 'serve', '0.0.0.0', String(p)]);
  try {
    await srv.waitForOutput(/ready/, 10_000);
    const r = await lab.exec(client, [...LOAD, 'rr', dial, String(p), String(RR_COUNT)], {
      timeoutMs: 60_000,
    });
    if (r.code !== 0) throw new Error(lastLine(r.stderr) || `exit ${r.code}`);
    const us = r.stdout
      .trim()
      .split(/\s+/)
      .map((x) => Number(x) / 1000);
    if (us.length !== RR_COUNT || us.some((x) => !Number.isFinite(x)))
      throw new Error(`rr printed ${us.length} samples, want ${RR_COUNT}`);
    return [median(us), quantile(us, 0.99)];
  } finally {
    await srv.kill('SIGKILL', 500);
  }
}

const WORKLOADS: ReadonlyArray<{
  readonly name: string;
  readonly rows: readonly string[];
  run(lab: Lab, s: PodnetSetup): Promise<number[]>;
}> = [
  {
    name: 'bulk guest→node',
    rows: ['g2n'],
    run: async (l, s) => [await iperf(l, s.node, s.guest, NODE_IP)],
  },
  {
    name: 'bulk node→guest',
    rows: ['n2g'],
    run: async (l, s) => [await iperf(l, s.guest, s.node, POD_IP)],
  },
  {
    name: 'RR guest→node',
    rows: ['rrOutMed', 'rrOutP99'],
    run: (l, s) => rr(l, s.node, s.guest, NODE_IP),
  },
  {
    name: 'RR node→guest',
    rows: ['rrInMed', 'rrInP99'],
    run: (l, s) => rr(l, s.guest, s.node, POD_IP),
  },
];

// ---- the run ---------------------------------------------------------------------------------

/**
 * Builds the three setups once and runs every workload `reps` times on each, rotating the
 * order; everything is removed at the end, also on failure.
 * @param reps - repetitions
 * @returns the samples, medians, ratios to veth and targets
 */
export async function benchPodnet(reps = 3): Promise<PodnetResult> {
  const started = new Date();
  const loadStart = loadavg();
  const kinds = PODNET_KINDS;
  const samples = new Map<string, Record<PodnetKind, Sample[]>>(
    ROWS.map((r) => [r.key, { veth: [], bridge: [], masquerade: [] }]),
  );
  const notes: string[] = [];
  const lab = await Lab.create();
  const onSignal = (): void => {
    void lab.teardown().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  try {
    const setups = new Map<PodnetKind, PodnetSetup | string>();
    for (const k of kinds) {
      console.error(`  podnet bench: building ${k}`);
      try {
        setups.set(k, await makeSetup(lab, k));
      } catch (e) {
        setups.set(k, `setup: ${firstLine(e)}`);
        notes.push(`${k}, setup: ${errText(e)}`);
      }
    }
    for (let rep = 0; rep < reps; rep++) {
      const order = kinds.map((_, i) => kinds[(i + rep) % kinds.length]!);
      for (const w of WORKLOADS) {
        console.error(`  podnet bench: repetition ${rep + 1}/${reps}, ${w.name}`);
        for (const k of order) {
          const s = setups.get(k)!;
          const put = (vals: Sample[]): void => {
            w.rows.forEach((key, i) => samples.get(key)![k].push(vals[i]!));
          };
          if (typeof s === 'string') {
            put(w.rows.map(() => ({ failed: s })));
            continue;
          }
          try {
            put(await w.run(lab, s));
          } catch (e) {
            put(w.rows.map(() => ({ failed: firstLine(e) })));
            notes.push(`${k}, ${w.name}, repetition ${rep + 1}: ${errText(e)}`);
          }
        }
      }
    }
    // Proof the masquerade rows went through NAT: the rule counters of the pod's ruleset.
    const masq = setups.get('masquerade');
    if (typeof masq === 'object' && masq.pod !== undefined) {
      const r = await lab.exec(masq.pod, ['nft', 'list', 'table', 'ip', 'nat']);
      const count = (re: RegExp): string => re.exec(r.stdout)?.[1] ?? '?';
      notes.push(
        `masquerade NAT counters after the run: masquerade ${count(/counter packets (\d+) bytes \d+ masquerade/)} packets, ` +
          `inbound DNAT ${count(/KUBEVIRT_PREINBOUND \{\s*counter packets (\d+)/)} packets (first packets of each connection)`,
      );
    }
  } finally {
    process.removeListener('SIGINT', onSignal);
    await lab.teardown();
  }
  const rows = ROWS.map((r) => {
    const per = samples.get(r.key)!;
    const value = Object.fromEntries(
      kinds.map((k) => {
        const nums = per[k].filter((v): v is number => typeof v === 'number');
        return [k, nums.length > 0 ? median(nums) : undefined];
      }),
    ) as Record<PodnetKind, number | undefined>;
    const ratio: Partial<Record<PodnetKind, number>> = {};
    const met: Partial<Record<PodnetKind, boolean>> = {};
    for (const k of kinds) {
      const a = value[k];
      const v = value.veth;
      if (k === 'veth' || a === undefined || v === undefined || v === 0) continue;
      ratio[k] = a / v;
      if (r.target === 'bulk') met[k] = a / v >= 0.8;
      if (r.target === 'rr') met[k] = a / v <= 1.2;
    }
    return { ...r, samples: per, value, ratio, met };
  });
  const meta = {
    ...machineMeta(started, loadStart),
    reps,
    seconds: SECONDS,
    rrCount: RR_COUNT,
    mtu: MTU,
    plumbing: PLUMBING,
    fixtures: PODNET_FIXTURES,
    commit: toolVersion(['git', '-C', REPO_ROOT, 'log', '-1', '--format=%h %s']),
    iperf3: toolVersion(['iperf3', '--version']),
    nft: toolVersion(['nft', '--version']),
  };
  return { meta, kinds, rows, notes };
}

/** Prints the table: each setup's median (ok/n), the ratios to veth and the targets. */
export function printPodnetTable(res: PodnetResult): void {
  const title = `Pod-side bindings (kernel forwarding in the pod) vs a plain veth, median of ${String(res.meta.reps)}`;
  const header = ['workload', ...res.kinds, 'bridge/veth', 'masq/veth', 'target (vs veth)'];
  const lines = res.rows.map((r) => {
    const cells = [`${r.name} (${r.unit})`];
    for (const k of res.kinds) {
      const ok = r.samples[k].filter((v) => typeof v === 'number').length;
      const v = r.value[k];
      cells.push(
        v === undefined
          ? `0/${r.samples[k].length} failed`
          : `${fmtNum(v)} ${ok}/${r.samples[k].length}`,
      );
    }
    for (const k of ['bridge', 'masquerade'] as const)
      cells.push(r.ratio[k] === undefined ? '—' : r.ratio[k].toFixed(2));
    const goal = r.target === 'bulk' ? '≥0.8×' : r.target === 'rr' ? '≤1.2×' : '';
    cells.push(
      goal === ''
        ? ''
        : (['bridge', 'masquerade'] as const)
            .map(
              (k) => `${k} ${goal} ${r.met[k] === undefined ? '?' : r.met[k] ? 'met' : 'MISSED'}`,
            )
            .join(', '),
    );
    return cells;
  });
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const row = (cells: string[]): string =>
    cells
      .map((c, i) =>
        i === 0 || i === cells.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!),
      )
      .join('  ')
      .trimEnd();
  console.log(`\n${title}`);
  console.log(row(header));
  for (const l of lines) console.log(row(l));
  const la = (x: unknown): string =>
    Array.isArray(x) ? x.map((v) => Number(v).toFixed(2)).join(' ') : '?';
  console.log(
    `(cells: median, successful/taken; Gbit/s higher is better, µs lower is better; plumbing ${PLUMBING}; ` +
      `load average at start ${la(res.meta.loadavgStart)}, at end ${la(res.meta.loadavgEnd)} on ${String(res.meta.cpus)} CPUs: other work skews every column)`,
  );
  if (res.notes.length > 0) {
    console.log('\nnotes:');
    for (const n of res.notes) console.log(`  - ${n.split('\n').slice(0, 4).join('\n    ')}`);
  }
}

/** Writes the run to bench/results/podnet-<ISO start>.json (or BINDERY_BENCH_RESULTS_DIR). */
export function writePodnetJson(res: PodnetResult): string {
  return writeJson('podnet', res);
}

/** `node --import tsx bench/podnet.ts`: this bench alone. */
async function main(): Promise<void> {
  const res = await benchPodnet(Number(process.env.BINDERY_BENCH_NET_REPS ?? 3));
  printPodnetTable(res);
  console.log(`\nresults: ${writePodnetJson(res)}`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
