// Names and addresses of one `bindery up` run (pure): namespaces, the node's veth, the pod CIDR, the service stand-ins.
//
// Every address lives only inside the two namespaces a run creates, so runs never meet: the
// pod network is 10.244.<n>.0/24 and fd00:10:244:<n>::/64 (the node .1/::1, the pod .2/::2),
// the services are 10.96.0.10 (DNS, as kube-dns) and 10.96.0.20 (HTTP) on the node's lo.

/** Namespace and link names of one VM's run. */
export interface RunNames {
  /** The node network namespace (a name under /run/netns). */
  readonly node: string;
  /** The pod network namespace. */
  readonly pod: string;
  /** The node end of the veth (the pod end is `eth0`). */
  readonly nodeVeth: string;
  /** The short unique suffix all names share. */
  readonly suffix: string;
}

/** Prefix of every namespace `bindery up` creates (`down --all` removes strays by it). */
export const NETNS_PREFIX = 'bdy-up-';

/** A VM name as a namespace-name fragment: lower case, [a-z0-9-], at most 32 characters. */
export function slug(vm: string): string {
  const s = vm
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 32);
  return s === '' ? 'vm' : s;
}

/**
 * The names of a run.
 * @param vm - the VM name
 * @param suffix - a short unique hex string (6 characters)
 */
export function runNames(vm: string, suffix: string): RunNames {
  if (!/^[0-9a-f]{4,8}$/.test(suffix)) throw new RangeError(`suffix "${suffix}" is not 4–8 hex`);
  const base = `${NETNS_PREFIX}${slug(vm)}`;
  return {
    node: `${base}-node-${suffix}`,
    pod: `${base}-pod-${suffix}`,
    nodeVeth: `bdy${suffix}`,
    suffix,
  };
}

/** The pod network of run index `n` (1…250). */
export interface PodNetwork {
  readonly index: number;
  readonly node4: string;
  readonly pod4: string;
  readonly prefix4: number;
  readonly node6: string;
  readonly pod6: string;
  readonly prefix6: number;
  /** The pod's eth0 MAC: 0a:58 and the IPv4 address, as Kubernetes bridge CNIs make it. */
  readonly podMac: string;
}

/** The service stand-ins on the node's lo, the same in every run (each node is its own). */
export const SERVICES = {
  dns4: '10.96.0.10',
  http4: '10.96.0.20',
  /** The name the DNS server answers with `http4`. */
  httpName: 'web.bindery.test',
  /** The search domain the pod's resolv.conf lists. */
  search: 'bindery.test',
} as const;

/** The smallest index in 1…250 that `used` lacks. */
export function allocateIndex(used: Iterable<number>): number {
  const taken = new Set(used);
  for (let n = 1; n <= 250; n++) if (!taken.has(n)) return n;
  throw new RangeError('no free pod network index (250 runs up)');
}

const hex2 = (n: number): string => n.toString(16).padStart(2, '0');

/** The pod network of index `n`. */
export function podNetwork(n: number): PodNetwork {
  if (!Number.isInteger(n) || n < 1 || n > 250) throw new RangeError(`index ${n} not in 1…250`);
  const h = n.toString(16);
  return {
    index: n,
    node4: `10.244.${n}.1`,
    pod4: `10.244.${n}.2`,
    prefix4: 24,
    node6: `fd00:10:244:${h}::1`,
    pod6: `fd00:10:244:${h}::2`,
    prefix6: 64,
    podMac: `0a:58:0a:f4:${hex2(n)}:02`,
  };
}

/**
 * A locally administered unicast MAC for guest NIC `nic` of run `suffix` (bindings whose plan has
 * no MAC: passt; pod-net picks the pod's MAC itself for the others).
 */
export function guestMac(suffix: string, nic: number): string {
  const s = suffix.padEnd(6, '0').slice(0, 6);
  return `52:54:${s.slice(0, 2)}:${s.slice(2, 4)}:${s.slice(4, 6)}:${hex2(nic & 0xff)}`;
}

/** The resolv.conf the pod (and so the guest) gets. */
export function podResolvConf(): string {
  return `nameserver ${SERVICES.dns4}\nsearch ${SERVICES.search}\noptions ndots:2\n`;
}
