// Shared fixture of the flow translators' unit tests: one guest, its gateway and our MAC.
import type { PasstConfig } from '../../src/usernet/conf.js';
import { parseIpv4, parseIpv6, parseMac } from '../../src/wire/common.js';

/** bindery's MAC as the guest sees it. */
export const OUR_MAC = parseMac('9a:55:9a:55:9a:55')!;
/** The guest's MAC. */
export const GUEST_MAC = parseMac('02:00:00:00:00:05')!;
/** Guest 10.0.0.5/24 and fd00::5/64; gateways 10.0.0.1 and fe80::1, both mapped to host loopback. */
export const FLOW_CFG: PasstConfig = {
  v4: {
    guestAddr: '10.0.0.5',
    prefixLen: 24,
    gateway: '10.0.0.1',
    mapHostLoopback: '10.0.0.1',
    hostIface: undefined,
  },
  v6: {
    guestAddr: 'fd00::5',
    prefixLen: 64,
    gateway: 'fe80::1',
    mapHostLoopback: 'fe80::1',
    hostIface: undefined,
  },
  mtu: 65520,
  ourMac: OUR_MAC,
  nameservers: [],
  search: [],
};
/** The guest's and gateway's addresses as bytes. */
export const G4 = parseIpv4('10.0.0.5')!;
export const GW4 = parseIpv4('10.0.0.1')!;
export const G6 = parseIpv6('fd00::5')!;
export const GW6 = parseIpv6('fe80::1')!;
