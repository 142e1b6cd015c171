// The `up --check` list (pure): which network facts to prove for each interface, the command that proves each, and how its output is judged.
//
// Guest checks run through the guest agent (a shell line); node checks run in the node
// namespace (an argv). Each check's judge turns {code, output} into a verdict with a detail.
import { linkByMac, parseIpAddr } from './guest-addrs.js';
import { SERVICES } from './names.js';

/** What the run knows about one interface, for its checks. */
export interface CheckedInterface {
  readonly name: string;
  readonly binding: string;
  readonly mac: string;
  /** The address the guest must lease, `a.b.c.d/len`. */
  readonly expect4: string;
  /** The IPv4 gateway the guest pings. */
  readonly gateway4: string;
  /** IPv6, when the binding gives the guest one: the address (prefix optional) and the gateway. */
  readonly ipv6?: { readonly expect: string; readonly gateway: string };
  /** The URL the node fetches to reach the guest's :80, when the binding forwards it. */
  readonly inboundUrl?: string;
}

/** The outcome of one command. */
export interface CommandResult {
  readonly code: number;
  readonly output: string;
}

/** One check's verdict. */
export interface Verdict {
  readonly ok: boolean;
  readonly detail: string;
}

/** One check. */
export type Check = {
  readonly id: string;
  readonly title: string;
  readonly judge: (r: CommandResult) => Verdict;
} & (
  | { readonly where: 'guest'; readonly cmd: string }
  | { readonly where: 'node'; readonly argv: readonly string[] }
);

/** The text the node's HTTP server serves at `/`. */
export const HTTP_MARKER = 'bindery-up-service-ok';

const firstLine = (s: string): string => s.trim().split('\n').slice(-1)[0]?.slice(0, 160) ?? '';

const byCode =
  (what: string) =>
  (r: CommandResult): Verdict =>
    r.code === 0
      ? { ok: true, detail: what }
      : { ok: false, detail: `exit ${r.code}: ${firstLine(r.output)}` };

const bare = (cidr: string): string => cidr.split('/')[0]!;

/**
 * The checks of one interface, in order: lease, ping v4 (v6), HTTP by IP and by name, inbound.
 * @param i - the interface
 * @returns the checks
 */
export function interfaceChecks(i: CheckedInterface): Check[] {
  const checks: Check[] = [];
  // busybox-static's wget crashes with -T: the deadline is timeout(1)'s.
  const http = (url: string): string => `timeout 20 wget -qO- ${url}`;
  const served =
    (what: string) =>
    (r: CommandResult): Verdict =>
      r.code === 0 && r.output.includes(HTTP_MARKER)
        ? { ok: true, detail: what }
        : { ok: false, detail: `exit ${r.code}: ${firstLine(r.output)}` };
  checks.push({
    id: `${i.name}/dhcp4`,
    title: `${i.name}: DHCP gave the guest ${i.expect4}`,
    where: 'guest',
    cmd: 'ip addr',
    judge: (r) => {
      const link = linkByMac(parseIpAddr(r.output), i.mac);
      if (!link) return { ok: false, detail: `no guest link with MAC ${i.mac}` };
      const want = i.expect4.includes('/') ? i.expect4 : undefined;
      const hit = link.inet.find((a) => (want ? a === want : bare(a) === i.expect4));
      return hit
        ? { ok: true, detail: `${link.name} ${hit}` }
        : { ok: false, detail: `${link.name} has ${link.inet.join(', ') || 'no IPv4 address'}` };
    },
  });
  checks.push({
    id: `${i.name}/ping4`,
    title: `${i.name}: ping the gateway ${i.gateway4}`,
    where: 'guest',
    cmd: `ping -c 2 -W 5 ${i.gateway4}`,
    judge: byCode('2 replies'),
  });
  if (i.ipv6) {
    const v6 = i.ipv6;
    checks.push({
      id: `${i.name}/dhcp6`,
      title: `${i.name}: the guest has ${bare(v6.expect)}`,
      where: 'guest',
      cmd: 'ip addr',
      judge: (r) => {
        const link = linkByMac(parseIpAddr(r.output), i.mac);
        const hit = link?.inet6.find((a) => bare(a) === bare(v6.expect));
        return hit
          ? { ok: true, detail: `${link!.name} ${hit}` }
          : { ok: false, detail: `has ${link?.inet6.join(', ') || 'no global IPv6 address'}` };
      },
    });
    checks.push({
      id: `${i.name}/ping6`,
      title: `${i.name}: ping the gateway ${v6.gateway}`,
      where: 'guest',
      cmd: `ping -6 -c 2 -W 5 ${v6.gateway}`,
      judge: byCode('2 replies'),
    });
  }
  checks.push({
    id: `${i.name}/http-ip`,
    title: `${i.name}: HTTP from the node's service http://${SERVICES.http4}/`,
    where: 'guest',
    cmd: http(`http://${SERVICES.http4}/`),
    judge: served('served'),
  });
  checks.push({
    id: `${i.name}/http-dns`,
    title: `${i.name}: HTTP by name http://${SERVICES.httpName}/ (DNS ${SERVICES.dns4})`,
    where: 'guest',
    cmd: http(`http://${SERVICES.httpName}/`),
    judge: served('resolved and served'),
  });
  if (i.inboundUrl !== undefined)
    checks.push({
      id: `${i.name}/inbound`,
      title: `${i.name}: the node reaches the guest's :80 at ${i.inboundUrl}`,
      where: 'node',
      argv: [
        'curl',
        '-sS',
        '-f',
        '-m',
        '15',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        i.inboundUrl,
      ],
      judge: (r) =>
        r.code === 0
          ? { ok: true, detail: `HTTP ${r.output.trim()}` }
          : { ok: false, detail: `curl exit ${r.code}: ${firstLine(r.output)}` },
    });
  return checks;
}

/** The overall verdict line. */
export function overall(results: readonly Verdict[]): { ok: boolean; line: string } {
  const failed = results.filter((r) => !r.ok).length;
  return failed === 0
    ? { ok: true, line: `PASS: all ${results.length} checks passed` }
    : { ok: false, line: `FAIL: ${failed} of ${results.length} checks failed` };
}
