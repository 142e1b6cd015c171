// Shared fixture of the configuration tests: what a typical pod's network looks like from inside (routes, addresses, MTU, resolv.conf).
import type { HostInfo } from '../../src/usernet/hostinfo.js';

/** eth0 with 10.244.0.17/24 (gateway 10.244.0.1), fd10:244::17/128 and fe80::17 (gateway fe80::1), MTU 1450, cluster DNS. */
export const POD: HostInfo = {
  routes4: [{ iface: 'eth0', gateway: '10.244.0.1', metric: 0 }],
  routes6: [{ iface: 'eth0', gateway: 'fe80::1', metric: 1024 }],
  addrs: new Map([
    [
      'eth0',
      [
        { family: 4, address: '10.244.0.17', prefixLen: 24, linkLocal: false },
        { family: 6, address: 'fd10:244::17', prefixLen: 128, linkLocal: false },
        { family: 6, address: 'fe80::17', prefixLen: 64, linkLocal: true },
      ],
    ],
  ]),
  mtus: new Map([['eth0', 1450]]),
  nameservers: ['10.96.0.10', '127.0.0.53'],
  search: ['default.svc.cluster.local'],
};
