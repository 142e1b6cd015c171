// Value syntaxes the admission rules check: MAC (Go net.ParseMAC), PCI, IP/CIDR (Go net), port names, quantities.

/**
 * Parses a hardware address the way Go's `net.ParseMAC` does: 6, 8 or 20 bytes written as
 * `xx:xx:…`, `xx-xx-…` or `xxxx.xxxx.…`. Returns the bytes, or an error in Go's words.
 */
export function parseMac(s: string): { bytes: number[] } | { error: string } {
  const fail = { error: `address ${s}: invalid MAC address` };
  if (s.length < 14) return fail;
  const hex2 = (t: string): number | undefined =>
    /^[0-9a-fA-F]{2}$/.test(t) ? parseInt(t, 16) : undefined;
  const bytes: number[] = [];
  const sep = s[2];
  if (sep === ':' || sep === '-') {
    if ((s.length + 1) % 3 !== 0) return fail;
    const n = (s.length + 1) / 3;
    if (n !== 6 && n !== 8 && n !== 20) return fail;
    for (let i = 0; i < n; i++) {
      const b = hex2(s.slice(3 * i, 3 * i + 2));
      if (b === undefined) return fail;
      if (i < n - 1 && s[3 * i + 2] !== sep) return fail;
      bytes.push(b);
    }
    return { bytes };
  }
  if (s[4] === '.') {
    if ((s.length + 1) % 5 !== 0) return fail;
    const n = (2 * (s.length + 1)) / 5;
    if (n !== 6 && n !== 8 && n !== 20) return fail;
    for (let i = 0; i < n; i += 2) {
      const x = 5 * (i / 2);
      const hi = hex2(s.slice(x, x + 2));
      const lo = hex2(s.slice(x + 2, x + 4));
      if (hi === undefined || lo === undefined) return fail;
      if (i < n - 2 && s[x + 4] !== '.') return fail;
      bytes.push(hi, lo);
    }
    return { bytes };
  }
  return fail;
}

/** KubeVirt's PCI address syntax (`hwutil.ParsePciAddress`): `dddd:bb:ss.f`, f in 0–7. */
export function isPciAddress(s: string): boolean {
  return /^[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$/.test(s);
}

/** Parses a dotted-quad IPv4 address (Go rules: no leading zeros). */
export function parseIPv4(s: string): number[] | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  const out: number[] = [];
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out.push(n);
  }
  return out;
}

/** Parses an IPv6 address (with optional embedded IPv4 tail) into 16 bytes. */
export function parseIPv6(s: string): number[] | undefined {
  if (!/^[0-9a-fA-F:.]+$/.test(s)) return undefined;
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const groups = (part: string): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    const items = part.split(':');
    for (let i = 0; i < items.length; i++) {
      const it = items[i] ?? '';
      if (i === items.length - 1 && it.includes('.')) {
        const v4 = parseIPv4(it);
        if (!v4) return undefined;
        out.push(((v4[0] ?? 0) << 8) | (v4[1] ?? 0), ((v4[2] ?? 0) << 8) | (v4[3] ?? 0));
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(it)) return undefined;
        out.push(parseInt(it, 16));
      }
    }
    return out;
  };
  const head = groups(halves[0] ?? '');
  const tail = halves.length === 2 ? groups(halves[1] ?? '') : [];
  if (!head || !tail) return undefined;
  let all: number[];
  if (halves.length === 2) {
    const fill = 8 - head.length - tail.length;
    if (fill < 1) return undefined;
    all = [...head, ...new Array<number>(fill).fill(0), ...tail];
  } else {
    all = head;
  }
  if (all.length !== 8) return undefined;
  return all.flatMap((g) => [g >> 8, g & 0xff]);
}

/** A parsed CIDR: family, prefix length, and the address bytes as written. */
export interface Cidr {
  readonly family: 4 | 6;
  readonly prefix: number;
  readonly bytes: readonly number[];
}

/** Parses `addr/prefix` like Go's `net.ParseCIDR`; returns Go's error text on failure. */
export function parseCidr(s: string): Cidr | { error: string } {
  const fail = { error: `invalid CIDR address: ${s}` };
  const slash = s.indexOf('/');
  if (slash < 0) return fail;
  const addr = s.slice(0, slash);
  const pfx = s.slice(slash + 1);
  if (!/^[0-9]{1,3}$/.test(pfx)) return fail;
  const prefix = Number(pfx);
  const v4 = parseIPv4(addr);
  if (v4) return prefix <= 32 ? { family: 4, prefix, bytes: v4 } : fail;
  const v6 = parseIPv6(addr);
  if (v6) return prefix <= 128 ? { family: 6, prefix, bytes: v6 } : fail;
  return fail;
}

/** Kubernetes `IsValidPortName` (IANA_SVC_NAME): 1–15 of [a-z0-9-], a letter, no `--`, no edge `-`. */
export function isValidPortName(s: string): boolean {
  return (
    s.length >= 1 &&
    s.length <= 15 &&
    /^[-a-z0-9]+$/.test(s) &&
    /[a-z]/.test(s) &&
    !s.startsWith('-') &&
    !s.endsWith('-') &&
    !s.includes('--')
  );
}

/** A DNS-1123 label (Kubernetes object names of most kinds, namespaces). */
export function isDnsLabel(s: string): boolean {
  return s.length <= 63 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(s);
}

/** A DNS-1123 subdomain (NetworkAttachmentDefinition names). */
export function isDnsSubdomain(s: string): boolean {
  return (
    s.length <= 253 &&
    s.split('.').every((l) => l.length <= 63 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(l))
  );
}

/** A Kubernetes resource quantity (`500Mi`, `1G`, `0.5`, `1e3`). */
export function isQuantity(s: string): boolean {
  return /^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+|Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$/.test(
    s,
  );
}
