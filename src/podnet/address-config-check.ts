// Checks an address server configuration read from JSON: every field present with the right shape, addresses that parse and fit together.
//
// Pure. The first problem found is thrown as one BinderyError (Input) naming the field, so the
// daemon can print it on one line.
import { BinderyError, ErrorCode } from '../errors.js';
import { isLinkLocal6 } from '../wire/ipv6.js';
import { parseIpv4, parseIpv6, parseMac } from '../wire/common.js';
import type {
  AddressRoute4,
  AddressServer4,
  AddressServer6,
  AddressServerConfig,
} from './address-config.js';

type Obj = Record<string, unknown>;

function bad(field: string, why: string): never {
  throw new BinderyError(ErrorCode.Input, `address server config: ${field}: ${why}`);
}

function obj(v: unknown, field: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) bad(field, 'must be an object');
  return v as Obj;
}

function str(o: Obj, k: string, field: string): string {
  const v = o[k];
  if (typeof v !== 'string' || v.length === 0) bad(`${field}${k}`, 'must be a non-empty string');
  return v;
}

function optStr(o: Obj, k: string, field: string): string | undefined {
  return o[k] === undefined ? undefined : str(o, k, field);
}

function strs(o: Obj, k: string, field: string, check?: (s: string) => boolean): string[] {
  const v = o[k];
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string'))
    bad(`${field}${k}`, 'must be an array of strings');
  const out = v as string[];
  const wrong = check ? out.find((s) => !check(s)) : undefined;
  if (wrong !== undefined) bad(`${field}${k}`, `not an address: ${wrong}`);
  return out;
}

function int(o: Obj, k: string, field: string, min: number, max: number): number {
  const v = o[k];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    bad(`${field}${k}`, `must be an integer in [${min}, ${max}]`);
  return v;
}

const is4 = (s: string): boolean => parseIpv4(s) !== undefined;
const is6 = (s: string): boolean => parseIpv6(s) !== undefined;

/** Splits `a.b.c.d/n` or `x::/n`; undefined when malformed. */
export function parseCidr(
  s: string,
  family: 4 | 6,
): { addr: Uint8Array; prefixLen: number } | undefined {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const addr = family === 4 ? parseIpv4(m[1]!) : parseIpv6(m[1]!);
  const prefixLen = Number(m[2]);
  if (!addr || prefixLen > (family === 4 ? 32 : 128)) return undefined;
  return { addr, prefixLen };
}

/** Whether the first `bits` bits of `a` and `b` agree. */
export function inPrefix(a: Uint8Array, b: Uint8Array, bits: number): boolean {
  for (let i = 0; i < a.length && bits > 0; i++, bits -= 8) {
    const m = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((a[i]! & m) !== (b[i]! & m)) return false;
  }
  return true;
}

function route4(v: unknown, field: string): AddressRoute4 {
  const o = obj(v, field);
  const dst = str(o, 'dst', `${field}.`);
  const via = str(o, 'via', `${field}.`);
  if (!parseCidr(dst, 4)) bad(`${field}.dst`, `not an IPv4 CIDR: ${dst}`);
  if (!is4(via)) bad(`${field}.via`, `not an IPv4 address: ${via}`);
  return { dst, via };
}

function side4(v: unknown): AddressServer4 {
  const o = obj(v, 'v4');
  const address = str(o, 'address', 'v4.');
  if (!is4(address)) bad('v4.address', `not an IPv4 address: ${address}`);
  const prefixLength = int(o, 'prefixLength', 'v4.', 1, 32);
  const router = optStr(o, 'router', 'v4.');
  if (router !== undefined && !is4(router)) bad('v4.router', `not an IPv4 address: ${router}`);
  const serverAddress = str(o, 'serverAddress', 'v4.');
  if (!is4(serverAddress)) bad('v4.serverAddress', `not an IPv4 address: ${serverAddress}`);
  if (!Array.isArray(o.routes)) bad('v4.routes', 'must be an array');
  const routes = (o.routes as unknown[]).map((r, i) => route4(r, `v4.routes[${i}]`));
  const dns = strs(o, 'dns', 'v4.', is4);
  return { address, prefixLength, ...(router ? { router } : {}), serverAddress, routes, dns };
}

function side6(v: unknown): AddressServer6 {
  const o = obj(v, 'v6');
  const address = str(o, 'address', 'v6.');
  const a = parseIpv6(address);
  if (!a) bad('v6.address', `not an IPv6 address: ${address}`);
  const onLinkPrefix = str(o, 'onLinkPrefix', 'v6.');
  const p = parseCidr(onLinkPrefix, 6);
  if (!p) bad('v6.onLinkPrefix', `not an IPv6 CIDR: ${onLinkPrefix}`);
  if (!inPrefix(a, p.addr, p.prefixLen))
    bad('v6.address', `${address} is not inside onLinkPrefix ${onLinkPrefix}`);
  const routerLinkLocal = str(o, 'routerLinkLocal', 'v6.');
  const ll = parseIpv6(routerLinkLocal);
  if (!ll || !isLinkLocal6(ll))
    bad('v6.routerLinkLocal', `not a link-local IPv6 address: ${routerLinkLocal}`);
  const dns = strs(o, 'dns', 'v6.', is6);
  return { address, onLinkPrefix, routerLinkLocal, dns };
}

/**
 * Checks parsed JSON as an AddressServerConfig.
 *
 * @throws BinderyError (Input) naming the first wrong field.
 */
export function checkAddressServerConfig(json: unknown): AddressServerConfig {
  const o = obj(json, '(config)');
  const netns = str(o, 'netns', '');
  const device = str(o, 'device', '');
  if (device.length > 15) bad('device', `interface name too long: ${device}`);
  const serverMac = str(o, 'serverMac', '');
  if (!parseMac(serverMac)) bad('serverMac', `not a MAC address: ${serverMac}`);
  const clientMac = optStr(o, 'clientMac', '');
  if (clientMac !== undefined && !parseMac(clientMac))
    bad('clientMac', `not a MAC address: ${clientMac}`);
  const mtu = o.mtu === undefined ? undefined : int(o, 'mtu', '', 68, 65535);
  const search = strs(o, 'search', '');
  const hostname = optStr(o, 'hostname', '');
  const v4 = o.v4 === undefined ? undefined : side4(o.v4);
  const v6 = o.v6 === undefined ? undefined : side6(o.v6);
  if (!v4 && !v6) bad('v4/v6', 'at least one family must be configured');
  const leaseFile = str(o, 'leaseFile', '');
  const pidFile = str(o, 'pidFile', '');
  const logFile = optStr(o, 'logFile', '');
  return {
    netns,
    device,
    serverMac,
    ...(clientMac !== undefined ? { clientMac } : {}),
    ...(mtu !== undefined ? { mtu } : {}),
    search,
    ...(hostname !== undefined ? { hostname } : {}),
    ...(v4 ? { v4 } : {}),
    ...(v6 ? { v6 } : {}),
    leaseFile,
    pidFile,
    ...(logFile !== undefined ? { logFile } : {}),
  };
}
