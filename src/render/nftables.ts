// The masquerade NAT ruleset of a VM's pod, as `nft -f` text and as `nft -j` JSON, from one model.
import { kubevirtBridgeName } from '../plan/names.js';
import type { BindingPlan, MasqueradeFamily, VmNetworkPlan } from '../plan/types.js';

/** Istio's reserved proxy ports (KubeVirt `pkg/network/istio/ports.go`). */
export const ISTIO_RESERVED_PORTS: readonly number[] = [
  15000, 15001, 15004, 15006, 15008, 15009, 15020, 15021, 15053, 15090,
];
/** Ports Istio does not proxy, which KubeVirt still forwards to the guest (ssh). */
export const ISTIO_NON_PROXIED_PORTS: readonly number[] = [22];
/** The source address Envoy uses for inbound pass-through (`istio.GetLoopbackAddress`). */
export const ISTIO_LOOPBACK = '127.0.0.6';

/** nft address family of a NAT table. */
export type NftFamily = 'ip' | 'ip6';

/** A value on the right of a match: an address, a port, or an inclusive port range. */
export type NftValue = string | number | { readonly range: readonly [number, number] };

/** One expression of a rule, in the order nft evaluates them. */
export type NftExpr =
  | { readonly match: 'meta'; readonly key: 'iifname' | 'oifname'; readonly value: string }
  | {
      readonly match: 'payload';
      readonly protocol: 'ip' | 'ip6' | 'tcp' | 'udp';
      readonly field: 'saddr' | 'daddr' | 'dport';
      readonly values: readonly NftValue[];
      /** Written as an anonymous set `{ … }` (even with one element), as KubeVirt does. */
      readonly set: boolean;
    }
  | { readonly stmt: 'counter' }
  | { readonly stmt: 'masquerade' }
  | { readonly stmt: 'return' }
  | { readonly stmt: 'jump'; readonly target: string }
  | { readonly stmt: 'dnat' | 'snat'; readonly addr: string };

/** A chain; base chains carry their hook. */
export interface NftChain {
  readonly name: string;
  readonly base?: {
    readonly type: 'nat';
    readonly hook: 'prerouting' | 'input' | 'output' | 'postrouting';
    readonly priority: number;
  };
}

/** A table with its chains and its rules in insertion order. */
export interface NftTable {
  readonly family: NftFamily;
  readonly name: string;
  readonly chains: readonly NftChain[];
  readonly rules: ReadonlyArray<{ readonly chain: string; readonly exprs: readonly NftExpr[] }>;
}

/** A whole ruleset: what gets added to an empty pod network namespace. */
export interface NftRuleset {
  readonly tables: readonly NftTable[];
}

const PRE = 'KUBEVIRT_PREINBOUND';
const POST = 'KUBEVIRT_POSTINBOUND';

const KUBEVIRT_CHAINS: readonly NftChain[] = [
  { name: 'prerouting', base: { type: 'nat', hook: 'prerouting', priority: -100 } },
  { name: 'input', base: { type: 'nat', hook: 'input', priority: 100 } },
  { name: 'output', base: { type: 'nat', hook: 'output', priority: -100 } },
  { name: 'postrouting', base: { type: 'nat', hook: 'postrouting', priority: 100 } },
  { name: PRE },
  { name: POST },
];

/**
 * The masquerade ruleset of a plan, or undefined when no interface uses masquerade.
 * KubeVirt: tables `ip nat` and `ip6 nat` as virt-handler builds them
 * (`pkg/network/setup/netpod/masquerade`). Virtink: the `ip nat` table that its two iptables
 * rules make under iptables-nft (`PREROUTING`/`POSTROUTING`; all ports forwarded).
 * @param plan - the VM's network plan
 * @returns the ruleset, or undefined
 */
export function buildNftRuleset(plan: VmNetworkPlan): NftRuleset | undefined {
  const masq = plan.interfaces.filter(
    (i) =>
      i.state !== 'absent' &&
      i.binding.kind === 'core' &&
      i.binding.method === 'masquerade' &&
      i.masquerade !== undefined,
  );
  if (masq.length === 0) return undefined;
  if (plan.platform === 'virtink') return { tables: [virtinkTable(masq)] };
  const tables: NftTable[] = [];
  const v4 = masq.flatMap((i) => kubevirtRules('ip', i, i.masquerade!.ipv4, plan));
  tables.push({ family: 'ip', name: 'nat', chains: KUBEVIRT_CHAINS, rules: v4 });
  const with6 = masq.filter((i) => i.masquerade!.ipv6 !== undefined);
  if (with6.length > 0) {
    const v6 = with6.flatMap((i) => kubevirtRules('ip6', i, i.masquerade!.ipv6!, plan));
    tables.push({ family: 'ip6', name: 'nat', chains: KUBEVIRT_CHAINS, rules: v6 });
  }
  return { tables };
}

type Rule = NftTable['rules'][number];

function addrMatch(
  family: NftFamily,
  field: 'saddr' | 'daddr',
  values: readonly string[],
  set: boolean,
): NftExpr {
  return { match: 'payload', protocol: family, field, values, set };
}

function dportMatch(proto: 'tcp' | 'udp', values: readonly NftValue[], set: boolean): NftExpr {
  return { match: 'payload', protocol: proto, field: 'dport', values, set };
}

const COUNTER: NftExpr = { stmt: 'counter' };

function kubevirtRules(
  family: NftFamily,
  iface: BindingPlan,
  addrs: MasqueradeFamily,
  plan: VmNetworkPlan,
): Rule[] {
  const rules: Rule[] = [];
  const add = (chain: string, ...exprs: NftExpr[]) => rules.push({ chain, exprs });
  const guest = addrs.guest;
  const gw = addrs.gateway;
  const loopback = family === 'ip' ? '127.0.0.1' : '::1';
  const istio = plan.istio;

  add('postrouting', addrMatch(family, 'saddr', [guest], false), COUNTER, { stmt: 'masquerade' });
  add('prerouting', { match: 'meta', key: 'iifname', value: iface.podInterfaceName }, COUNTER, {
    stmt: 'jump',
    target: PRE,
  });
  const bridge = iface.bridgeName ?? kubevirtBridgeName(iface.podInterfaceName);
  add('postrouting', { match: 'meta', key: 'oifname', value: bridge }, COUNTER, {
    stmt: 'jump',
    target: POST,
  });

  const dnatAddrs = [loopback];
  if (istio && family === 'ip' && plan.podIPv4 !== undefined) dnatAddrs.push(plan.podIPv4);
  const snatAddrs = [loopback];
  if (istio && family === 'ip') snatAddrs.push(ISTIO_LOOPBACK);

  const entries: Array<{ proto: 'tcp' | 'udp'; value: NftValue; covers: (p: number) => boolean }> =
    [
      ...iface.ports.map((p) => ({
        proto: p.protocol === 'UDP' ? ('udp' as const) : ('tcp' as const),
        value: p.port as NftValue,
        covers: (x: number) => x === p.port,
      })),
      ...iface.portRanges.map((r) => ({
        proto: r.protocol === 'UDP' ? ('udp' as const) : ('tcp' as const),
        value: { range: [r.start, r.end] as const } as NftValue,
        covers: (x: number) => x >= r.start && x <= r.end,
      })),
    ];

  for (const e of entries) {
    if (istio) {
      const fwd = ISTIO_NON_PROXIED_PORTS.filter((p) => e.covers(p));
      if (fwd.length > 0)
        add(PRE, dportMatch('tcp', fwd, true), COUNTER, { stmt: 'dnat', addr: guest });
    } else {
      add(PRE, dportMatch(e.proto, [e.value], true), COUNTER, { stmt: 'dnat', addr: guest });
    }
    add(
      POST,
      dportMatch(e.proto, [e.value], false),
      addrMatch(family, 'saddr', snatAddrs, true),
      COUNTER,
      { stmt: 'snat', addr: gw },
    );
    add(
      'output',
      addrMatch(family, 'daddr', dnatAddrs, true),
      dportMatch(e.proto, [e.value], false),
      COUNTER,
      { stmt: 'dnat', addr: guest },
    );
  }

  if (entries.length === 0) {
    if (istio) {
      for (const chain of ['output', POST])
        add(
          chain,
          dportMatch('tcp', ISTIO_RESERVED_PORTS, true),
          addrMatch(family, 'saddr', [loopback], false),
          COUNTER,
          { stmt: 'return' },
        );
      add(PRE, dportMatch('tcp', ISTIO_NON_PROXIED_PORTS, true), COUNTER, {
        stmt: 'dnat',
        addr: guest,
      });
    } else {
      add(PRE, COUNTER, { stmt: 'dnat', addr: guest });
    }
    add(POST, addrMatch(family, 'saddr', snatAddrs, true), COUNTER, { stmt: 'snat', addr: gw });
    add('output', addrMatch(family, 'daddr', dnatAddrs, true), COUNTER, {
      stmt: 'dnat',
      addr: guest,
    });
  }
  return rules;
}

function virtinkTable(masq: readonly BindingPlan[]): NftTable {
  const rules: Rule[] = [];
  for (const i of masq) {
    rules.push({
      chain: 'POSTROUTING',
      exprs: [
        { match: 'meta', key: 'oifname', value: i.podInterfaceName },
        COUNTER,
        { stmt: 'masquerade' },
      ],
    });
    rules.push({
      chain: 'PREROUTING',
      exprs: [
        { match: 'meta', key: 'iifname', value: i.podInterfaceName },
        COUNTER,
        { stmt: 'dnat', addr: i.masquerade!.ipv4.guest },
      ],
    });
  }
  return {
    family: 'ip',
    name: 'nat',
    chains: [
      { name: 'PREROUTING', base: { type: 'nat', hook: 'prerouting', priority: -100 } },
      { name: 'POSTROUTING', base: { type: 'nat', hook: 'postrouting', priority: 100 } },
    ],
    rules,
  };
}

function valueText(v: NftValue): string {
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return v;
  return `${v.range[0]}-${v.range[1]}`;
}

function exprText(e: NftExpr): string {
  if ('match' in e) {
    if (e.match === 'meta') return `${e.key} ${JSON.stringify(e.value)}`;
    const vals = e.values.map(valueText);
    const right = e.set ? `{ ${vals.join(', ')} }` : vals.join(', ');
    return `${e.protocol} ${e.field} ${right}`;
  }
  switch (e.stmt) {
    case 'counter':
    case 'masquerade':
    case 'return':
      return e.stmt;
    case 'jump':
      return `jump ${e.target}`;
    case 'dnat':
    case 'snat':
      return `${e.stmt} to ${e.addr}`;
  }
}

/**
 * The ruleset as an `nft -f` script of `add` commands, in the order KubeVirt issues them.
 * @param rs - the ruleset
 * @param header - comment lines to put first (without `#`)
 * @returns the script text
 */
export function nftText(rs: NftRuleset, header: readonly string[] = []): string {
  const lines = header.map((h) => `# ${h}`);
  for (const t of rs.tables) {
    lines.push(`add table ${t.family} ${t.name}`);
    for (const c of t.chains) {
      const spec = c.base
        ? ` { type ${c.base.type} hook ${c.base.hook} priority ${c.base.priority}; }`
        : '';
      lines.push(`add chain ${t.family} ${t.name} ${c.name}${spec}`);
    }
    for (const r of t.rules)
      lines.push(`add rule ${t.family} ${t.name} ${r.chain} ${r.exprs.map(exprText).join(' ')}`);
  }
  return lines.join('\n') + '\n';
}

function valueJson(v: NftValue): unknown {
  if (typeof v === 'number' || typeof v === 'string') return v;
  return { range: [v.range[0], v.range[1]] };
}

function exprJson(e: NftExpr): unknown {
  if ('match' in e) {
    if (e.match === 'meta')
      return { match: { op: '==', left: { meta: { key: e.key } }, right: e.value } };
    const vals = e.values.map(valueJson);
    const right = e.set || vals.length > 1 ? { set: vals } : vals[0];
    return {
      match: { op: '==', left: { payload: { protocol: e.protocol, field: e.field } }, right },
    };
  }
  switch (e.stmt) {
    case 'counter':
    case 'masquerade':
    case 'return':
      return { [e.stmt]: null };
    case 'jump':
      return { jump: { target: e.target } };
    case 'dnat':
    case 'snat':
      return { [e.stmt]: { addr: e.addr } };
  }
}

/**
 * The ruleset in libnftables' JSON schema (`nft -j -f`), as the same `add` commands.
 * @param rs - the ruleset
 * @returns `{ nftables: [...] }`
 */
export function nftJson(rs: NftRuleset): { nftables: unknown[] } {
  const cmds: unknown[] = [{ metainfo: { json_schema_version: 1 } }];
  for (const t of rs.tables) {
    cmds.push({ add: { table: { family: t.family, name: t.name } } });
    for (const c of t.chains) {
      const chain: Record<string, unknown> = { family: t.family, table: t.name, name: c.name };
      if (c.base) {
        chain['type'] = c.base.type;
        chain['hook'] = c.base.hook;
        chain['prio'] = c.base.priority;
      }
      cmds.push({ add: { chain } });
    }
    for (const r of t.rules)
      cmds.push({
        add: {
          rule: { family: t.family, table: t.name, chain: r.chain, expr: r.exprs.map(exprJson) },
        },
      });
  }
  return { nftables: cmds };
}
