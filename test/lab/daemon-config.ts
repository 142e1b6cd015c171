// Shared fixture of the daemon's unit tests and the parse benchmark: a dual-stack PasstConfig and the two MACs.
import type { PasstConfig } from '../../src/usernet/conf.js';
import { parseMac } from '../../src/wire/common.js';

/** bindery's MAC as the guest sees it. */
export const DAEMON_OUR_MAC = parseMac('9a:55:9a:55:9a:55')!;
/** The guest's MAC. */
export const DAEMON_GUEST_MAC = parseMac('52:54:00:12:34:56')!;

/** A guest at 10.88.0.15/24 and fd00:88::15/64, gateway 10.88.0.1 and fe80::1, MTU 65520. */
export const DAEMON_CONFIG: PasstConfig = {
  v4: {
    guestAddr: '10.88.0.15',
    prefixLen: 24,
    gateway: '10.88.0.1',
    mapHostLoopback: '10.88.0.1',
    hostIface: undefined,
  },
  v6: {
    guestAddr: 'fd00:88::15',
    prefixLen: 64,
    gateway: 'fe80::1',
    mapHostLoopback: undefined,
    hostIface: undefined,
  },
  mtu: 65520,
  ourMac: DAEMON_OUR_MAC,
  nameservers: ['10.88.0.53'],
  search: [],
};
