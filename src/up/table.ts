// Text tables of `bindery up` and `bindery status` (pure): aligned columns, one row per VM interface.

/**
 * Renders rows under a header, columns padded to their widest cell, two spaces apart.
 * @param header - column titles
 * @param rows - cells (missing ones are blank)
 * @returns the lines, each ending in a newline
 */
export function renderTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    widths
      .map((w, i) => (i === widths.length - 1 ? (cells[i] ?? '') : (cells[i] ?? '').padEnd(w)))
      .join('  ')
      .trimEnd() + '\n';
  return line(header) + rows.map(line).join('');
}

/** One interface as the status table shows it. */
export interface InterfaceRow {
  readonly vm: string;
  readonly name: string;
  readonly binding: string;
  readonly ipv4?: string;
  readonly ipv6?: string;
  readonly mac: string;
  /** `80/tcp, 53/udp`, `all` or `-`. */
  readonly ports: string;
  /** `passt 1234`, `dhcp 1234` or `-`. */
  readonly pid: string;
  readonly reach: string;
}

/** The status table's header. */
export const STATUS_HEADER = [
  'VM',
  'IFACE',
  'BINDING',
  'GUEST IPV4',
  'GUEST IPV6',
  'MAC',
  'PORTS',
  'PID',
  'REACH',
] as const;

/** The status table of some interfaces. */
export function statusTable(rows: readonly InterfaceRow[]): string {
  return renderTable(
    STATUS_HEADER,
    rows.map((r) => [
      r.vm,
      r.name,
      r.binding,
      r.ipv4 ?? '-',
      r.ipv6 ?? '-',
      r.mac,
      r.ports,
      r.pid,
      r.reach,
    ]),
  );
}

/** Declared ports as `80/tcp, 53/udp`; `all` when none are declared and all are forwarded. */
export function portsText(
  ports: readonly { protocol: 'TCP' | 'UDP'; port: number }[],
  allWhenNone: boolean,
): string {
  if (ports.length === 0) return allWhenNone ? 'all' : '-';
  return ports.map((p) => `${p.port}/${p.protocol.toLowerCase()}`).join(', ');
}
