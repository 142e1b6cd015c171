// Parses the pod's resolv.conf (nameserver and search lines) for the address server's DNS options.

/** What the guest learns about DNS. */
export interface ResolvConf {
  readonly nameservers4: readonly string[];
  readonly nameservers6: readonly string[];
  readonly search: readonly string[];
}

/**
 * Reads `nameserver` and `search` (or `domain`) lines as resolv.conf(5) does: comments start
 * with `#` or `;`, the last `search`/`domain` line wins, zone indices (`fe80::1%eth0`) are dropped
 * along with link-local servers a guest could not reach.
 * @param text - the file
 * @returns nameservers split by family, search domains
 */
export function parseResolvConf(text: string): ResolvConf {
  const v4: string[] = [];
  const v6: string[] = [];
  let search: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const [key, ...rest] = line.split(/\s+/);
    if (key === 'nameserver' && rest[0] !== undefined) {
      const ns = rest[0];
      if (ns.includes(':')) {
        if (!ns.includes('%') && !/^fe80:/i.test(ns)) v6.push(ns);
      } else if (/^\d{1,3}(\.\d{1,3}){3}$/.test(ns)) v4.push(ns);
    } else if (key === 'search' || key === 'domain') {
      search = rest.filter((d) => d !== '').map((d) => d.replace(/\.$/, ''));
    }
  }
  return { nameservers4: v4, nameservers6: v6, search };
}
