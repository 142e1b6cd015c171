// Parses `ip addr` output as the guest's busybox prints it (no `-j` there) into links with MAC and addresses (pure).

/** One guest link. */
export interface GuestLink {
  readonly name: string;
  readonly mac?: string;
  readonly up: boolean;
  /** `addr/prefix`, scope global only. */
  readonly inet: readonly string[];
  readonly inet6: readonly string[];
}

/**
 * Reads iproute2/busybox `ip addr` text: `N: NAME[@PEER]: <FLAGS> …`, then `link/ether MAC`,
 * `inet A/P … scope S`, `inet6 A/P scope S` lines. Link-local and host-scope addresses are left out.
 * @param text - the command's output
 * @returns the links in order
 */
export function parseIpAddr(text: string): GuestLink[] {
  const links: Array<{ name: string; mac?: string; up: boolean; inet: string[]; inet6: string[] }> =
    [];
  for (const line of text.split('\n')) {
    const head = /^\d+:\s+([^:@\s]+)(?:@\S+)?:\s+<([^>]*)>/.exec(line);
    if (head) {
      links.push({ name: head[1]!, up: head[2]!.split(',').includes('UP'), inet: [], inet6: [] });
      continue;
    }
    const cur = links[links.length - 1];
    if (!cur) continue;
    const ether = /^\s+link\/ether\s+([0-9a-f:]{17})/i.exec(line);
    if (ether) {
      cur.mac = ether[1]!.toLowerCase();
      continue;
    }
    const addr = /^\s+(inet6?)\s+(\S+)\s.*scope\s+(\w+)/.exec(line);
    if (addr && addr[3] === 'global') (addr[1] === 'inet' ? cur.inet : cur.inet6).push(addr[2]!);
  }
  return links;
}

/** The link with `mac` (case-insensitive), if any. */
export function linkByMac(links: readonly GuestLink[], mac: string): GuestLink | undefined {
  const m = mac.toLowerCase();
  return links.find((l) => l.mac === m);
}
