// TCP flow hand-over on a real kernel: a guest's streams survive moving from one translator (pod A) to another (pod B, same pod IP) through TCP_REPAIR.
//
// Topology (all lab namespaces, no QEMU):
//   guest ── persistent tap ── translator A (pod A, 10.77.0.2) ── veth ─┐
//                         └─── translator B (pod B, 10.77.0.2) ── veth ─┴─ server (10.88.0.1)
// Six streams run across the hand-over: 256 MiB each way on two connections the guest opened
// to the server over IPv4 (outbound, 48 MiB/s each), 64 MiB each way on two the server opened
// to the pod's forwarded port -t 18080:8080 (inbound) and on two over IPv6 (24 MiB/s each). The tap is created persistent (`ip tuntap add … mode tap user
// 0`) with the MTU and up state the translator asks for, so it survives A's close and B can
// attach it; openTap leaves an already matching MTU and up flag alone, so neither translator
// needs CAP_NET_ADMIN for it. The server's route to the pod IP points at A, at nothing while
// the flows move, then at B.
//
// The translators run with every capability dropped but CAP_SYS_ADMIN (`setpriv
// --bounding-set`): setns into the guest's namespace to attach its tap needs that one; TCP_REPAIR
// would need CAP_NET_ADMIN, which only the repair helper has. Pass: every stream completes with
// matching SHA-256, no endpoint exits with an error, no namespace's kernel sent an RST, and no
// connection was reset but the source's exported sockets (closed in repair mode: silently).
// The network downtime (the longest gap between reads at each receiver) is reported, not
// asserted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lab, labSkipReason, uniqueIfName, type LabProcess, type Netns } from '../lab/lab.js';
import { lastJson } from '../lab/tcp-tools.js';
import { waitFor } from '../lab/wait.js';
import { controlRequest } from '../../src/runner/control.js';
import { handOverTcp } from '../../src/runner/handover.js';

const skip = labSkipReason();
const BIN = fileURLToPath(new URL('../../bin/bindery.js', import.meta.url));
const MiB = 1024 ** 2;
const SIZE = 256 * MiB;
/** Sender pace (bytes/s): the hand-over happens mid-stream, with both streams running. */
const RATE = 48 * MiB;
const POD = '10.77.0.2';
const SERVER = '10.88.0.1';
const GUEST = '10.0.2.15';
const GW = '10.0.2.2';
const POD6 = 'fd00:77::2';
const SERVER6 = 'fd00:88::1';
const GUEST6 = 'fd00:bd::15';
const GW6 = 'fd00:bd::2';
const MTU = 65520;
/** The forwarded port (-t): the pod's, and the guest's. */
const FWD_POD = 18080;
const FWD_GUEST = 8080;

// A paced sender and a receiver that reports SHA-256 and the longest gap between reads.
const TOOL = String.raw`
import hashlib, json, socket, struct, sys, time
def sender(s, size, rate):
    base = bytes((i * 7 + 3) & 0xff for i in range(65536))
    h = hashlib.sha256(); sent = 0; i = 0; t0 = time.monotonic()
    while sent < size:
        chunk = (struct.pack('>Q', i) + base[8:])[:size - sent]
        s.sendall(chunk); h.update(chunk); sent += len(chunk); i += 1
        ahead = sent / rate - (time.monotonic() - t0)
        if ahead > 0: time.sleep(ahead)
    s.shutdown(socket.SHUT_WR)
    while s.recv(65536): pass
    return {'sent': sent, 'sha256': h.hexdigest()}
def receiver(s, tag):
    h = hashlib.sha256(); got = 0; last = None; gap = 0.0; mark = 16 << 20
    while True:
        b = s.recv(1 << 20)
        now = time.monotonic()
        if not b: break
        if last is not None: gap = max(gap, now - last)
        last = now; h.update(b); got += len(b)
        if got >= mark:
            print(json.dumps({'progress': tag, 'got': got}), flush=True); mark += 16 << 20
    return {'got': got, 'sha256': h.hexdigest(), 'maxGapMs': round(gap * 1000, 1)}
mode, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
if mode == 'serve':
    size, rate = int(sys.argv[4]), float(sys.argv[5])
    l = socket.socket(socket.AF_INET6 if ':' in addr else socket.AF_INET); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind((addr, port)); l.listen(4); print('ready', flush=True)
    up, _ = l.accept()     # the guest sends on this one
    down, _ = l.accept()   # and receives on this one
    import threading
    out = {}
    t = threading.Thread(target=lambda: out.update(down=sender(down, size, rate))); t.start()
    out['up'] = receiver(up, 'server'); up.close(); t.join(); down.close()
    print(json.dumps(out), flush=True)
else:
    size, rate = int(sys.argv[4]), float(sys.argv[5])
    up = socket.create_connection((addr, port)); down = socket.create_connection((addr, port))
    import threading
    out = {}
    t = threading.Thread(target=lambda: out.update(down=receiver(down, 'guest'))); t.start()
    out['up'] = sender(up, size, rate); t.join(); up.close(); down.close()
    print(json.dumps(out), flush=True)
`;

interface Stream {
  readonly sent?: number;
  readonly got?: number;
  readonly sha256: string;
  readonly maxGapMs?: number;
}

/** Tcp counters of a namespace's kernel (/proc/net/snmp). */
async function tcpStats(lab: Lab, ns: Netns): Promise<Record<string, number>> {
  const out = await lab.run(ns, ['cat', '/proc/net/snmp']);
  const lines = out.split('\n').filter((l) => l.startsWith('Tcp:'));
  const keys = lines[0]!.split(/\s+/).slice(1);
  const vals = lines[1]!.split(/\s+/).slice(1).map(Number);
  return Object.fromEntries(keys.map((k, i) => [k, vals[i]!]));
}

test(
  'guest TCP streams (outbound, inbound, IPv6) survive a hand-over between translators (TCP_REPAIR)',
  { skip, timeout: 120_000 },
  async (t) => {
    const lab = await Lab.create(t);
    const dir = await lab.tmpDir();
    const tool = join(dir, 'tool.py');
    await writeFile(tool, TOOL);
    const guest = await lab.namespace('guest');
    const podA = await lab.namespace('poda');
    const podB = await lab.namespace('podb');
    const server = await lab.namespace('srv');
    // Static IPv6: no router advertisements taken, no duplicate address detection delay.
    for (const k of ['all', 'default']) {
      await lab.sysctl(guest, `net.ipv6.conf.${k}.accept_ra`, 0);
      await lab.sysctl(guest, `net.ipv6.conf.${k}.accept_dad`, 0);
    }

    // The guest's persistent tap, owned by uid 0, configured as the translators would.
    const tap = uniqueIfName('ht');
    await lab.ip(guest, ['tuntap', 'add', 'dev', tap, 'mode', 'tap', 'user', '0']);
    await lab.ip(guest, ['link', 'set', tap, 'mtu', String(MTU), 'up']);
    await lab.ip(guest, ['addr', 'add', `${GUEST}/24`, 'dev', tap]);
    await lab.ip(guest, ['route', 'add', 'default', 'via', GW, 'dev', tap]);
    await lab.ip(guest, ['addr', 'add', `${GUEST6}/64`, 'dev', tap, 'nodad']);
    await lab.ip(guest, ['-6', 'route', 'add', 'default', 'via', GW6, 'dev', tap]);

    // Two pods with the same address, each with a veth to the server.
    await lab.ip(server, ['addr', 'add', `${SERVER}/32`, 'dev', 'lo']);
    for (const k of ['all', 'default']) await lab.sysctl(server, `net.ipv4.conf.${k}.rp_filter`, 0);
    const links: Record<string, string> = {};
    for (const [pod, tag] of [
      [podA, 'a'],
      [podB, 'b'],
    ] as const) {
      const v = await lab.veth(pod, server, { addrsA: [`${POD}/32`, `${POD6}/128`] });
      await lab.sysctl(server, `net.ipv4.conf.${v.nameB}.rp_filter`, 0);
      // IPv6 neighbour discovery answers only for addresses of the asked interface.
      await lab.ip(server, ['addr', 'add', `${SERVER6}/128`, 'dev', v.nameB, 'nodad']);
      await lab.ip(pod, ['route', 'add', `${SERVER}/32`, 'dev', v.nameA]);
      await lab.ip(pod, ['-6', 'route', 'add', `${SERVER6}/128`, 'dev', v.nameA]);
      // A default route per family: the translator serves a family only when the pod has one.
      await lab.ip(pod, [
        '-6',
        'route',
        'add',
        'default',
        'via',
        SERVER6,
        'dev',
        v.nameA,
        'onlink',
      ]);
      await lab.ip(pod, ['route', 'add', 'default', 'via', SERVER, 'dev', v.nameA, 'onlink']);
      links[tag] = v.nameB;
    }
    await lab.ip(server, ['route', 'add', `${POD}/32`, 'dev', links.a!]);
    await lab.ip(server, ['-6', 'route', 'add', `${POD6}/128`, 'dev', links.a!]);

    // The privileged helper, and the two translators without CAP_NET_ADMIN.
    const repairPath = join(dir, 'repair.sock');
    const helper = lab.spawn('host', [
      process.execPath,
      BIN,
      'repair-helper',
      '--socket',
      repairPath,
    ]);
    await helper.waitForOutput(/listening/, 20_000);
    const translator = (
      pod: Netns,
      name: string,
      extra: string[],
    ): [LabProcess, string, string] => {
      const ctl = join(dir, `${name}.ctl`);
      const log = join(dir, `${name}.log`);
      const p = lab.spawn(pod, [
        'setpriv',
        '--bounding-set=-all,+sys_admin',
        '--inh-caps=-all',
        '--',
        process.execPath,
        BIN,
        'passt',
        '-f',
        '--tap',
        tap,
        '--netns',
        guest,
        '-a',
        `${GUEST}/24`,
        '-g',
        GW,
        '-a',
        GUEST6,
        '-g',
        GW6,
        '-c',
        ctl,
        '--repair-path',
        repairPath,
        '-t',
        `${FWD_POD}:${FWD_GUEST}`,
        '--log-file',
        log,
        ...extra,
      ]);
      return [p, ctl, log];
    };
    const [a, ctlA, logA] = translator(podA, 'a', []);
    await a.waitForOutput(/serving tap/, 30_000);
    // setpriv execs the translator: the pid is the translator's.
    const capsA = (await readFile(`/proc/${a.pid}/status`, 'utf8')).match(/CapEff:\s*(\S+)/)![1]!;
    t.diagnostic(
      `translator A effective capabilities: ${capsA} (CAP_SYS_ADMIN only = 0000000000200000)`,
    );
    assert.equal(BigInt(`0x${capsA}`) & (1n << 12n), 0n, 'the translator has no CAP_NET_ADMIN');
    const [b, ctlB, logB] = translator(podB, 'b', ['--migrate-target']);
    await b.waitForOutput(/serving tap/, 30_000);
    await controlRequest(ctlB, 'ping');

    // Four streams: guest → server and server → guest on connections the guest opened
    // (outbound), the same on connections the server opened to a forwarded port (inbound).
    const progress = (p: LabProcess, tag: string) =>
      Math.max(
        0,
        ...[...p.stdout.matchAll(new RegExp(`"progress": "${tag}", "got": (\\d+)`, 'g'))].map((m) =>
          Number(m[1]),
        ),
      );
    /** One pair of connections: `lns` listens, `cns` connects; each sends `size` bytes. */
    const pair = async (
      lns: Netns,
      laddr: string,
      lport: number,
      cns: Netns,
      caddr: string,
      cport: number,
      size: number,
      rate = RATE,
    ) => {
      const l = lab.spawn(lns, [
        'python3',
        '-u',
        tool,
        'serve',
        laddr,
        String(lport),
        String(size),
        String(rate),
      ]);
      await l.waitForOutput(/ready/, 10_000);
      const c = lab.spawn(cns, [
        'python3',
        '-u',
        tool,
        'connect',
        caddr,
        String(cport),
        String(size),
        String(rate),
      ]);
      return {
        l,
        c,
        size,
        /** Bytes received so far by the listener and by the connector. */
        got: () => Math.min(progress(l, 'server'), progress(c, 'guest')),
      };
    };
    const outbound = await pair(server, SERVER, 5001, guest, SERVER, 5001, SIZE);
    const inbound = await pair(guest, GUEST, FWD_GUEST, server, POD, FWD_POD, SIZE / 4, RATE / 2);
    const v6 = await pair(server, SERVER6, 5002, guest, SERVER6, 5002, SIZE / 4, RATE / 2);
    const pairs = [outbound, inbound, v6];
    const all = () =>
      pairs.map((p) => `listener: ${p.l.output}\nconnector: ${p.c.output}`).join('\n');
    await waitFor(
      () => outbound.got() >= 48 * MiB && inbound.got() >= 16 * MiB && v6.got() >= 8 * MiB,
      60_000,
      () => `the streams to be under way before the hand-over\n${all()}\nA: ${a.output}`,
      20,
    );
    const before = pairs.map((p) => p.got());

    // Only one pod routed at a time: none while the flows move (see runner/handover.ts).
    await lab.ip(server, ['route', 'replace', 'blackhole', `${POD}/32`]);
    await lab.ip(server, ['-6', 'route', 'replace', 'blackhole', `${POD6}/128`]);
    const report = await handOverTcp({
      sourceControl: ctlA,
      targetControl: ctlB,
      log: (m) => t.diagnostic(m),
    });
    await lab.ip(server, ['route', 'replace', `${POD}/32`, 'dev', links.b!]);
    await lab.ip(server, ['-6', 'route', 'replace', `${POD6}/128`, 'dev', links.b!]);
    t.diagnostic(
      `hand-over at ${before.map((x) => `${(x / MiB) | 0} MiB`).join(' / ')} (outbound / inbound / IPv6): ${JSON.stringify(report)}`,
    );
    assert.equal(report.flows, 6, 'every connection moved');

    const dump = async (): Promise<string> => {
      const parts: string[] = [];
      for (const [n, ns] of [
        ['guest', guest],
        ['server', server],
        ['pod A', podA],
        ['pod B', podB],
      ] as const)
        parts.push(`${n}:\n${(await lab.exec(ns, ['ss', '-tinmoe'])).stdout}`);
      parts.push(
        `B counters: ${JSON.stringify(await controlRequest(ctlB, 'counters').catch((e: Error) => e.message))}`,
      );
      parts.push(
        `A log:\n${await readFile(logA, 'utf8')}\nB log:\n${await readFile(logB, 'utf8')}`,
      );
      return parts.join('\n');
    };
    try {
      await waitFor(
        () => pairs.every((p, i) => p.got() >= Math.min(before[i]! + 16 * MiB, p.size)),
        20_000,
        'every stream to go on after the hand-over',
        20,
      );
    } catch (e) {
      t.diagnostic(await dump());
      throw e;
    }
    // A malformed import now is refused, and the target goes on serving the moved flows.
    await assert.rejects(
      controlRequest(ctlB, 'migrate.import', { state: { version: 1, guestMac: null, flows: [7] } }),
      /malformed hand-over state/,
    );
    const ctx = () => `${all()}\nA: ${a.output}\nB: ${b.output}\nhelper: ${helper.output}`;
    for (const [name, p] of [
      ['outbound', outbound],
      ['inbound', inbound],
      ['IPv6 outbound', v6],
    ] as const) {
      const [cs, ls] = await Promise.all([p.c.exited, p.l.exited]);
      assert.equal(cs.code, 0, ctx());
      assert.equal(ls.code, 0, ctx());
      const c = lastJson<{ up: Stream; down: Stream }>(p.c.stdout);
      const l = lastJson<{ up: Stream; down: Stream }>(p.l.stdout);
      assert.equal(l.up.got, p.size, ctx());
      assert.equal(l.up.sha256, c.up.sha256, `${name}: the listener got what the connector sent`);
      assert.equal(c.down.got, p.size, ctx());
      assert.equal(
        c.down.sha256,
        l.down.sha256,
        `${name}: the connector got what the listener sent`,
      );
      const [up, down] =
        name !== 'inbound'
          ? ['guest → server', 'server → guest']
          : ['server → guest', 'guest → server'];
      t.diagnostic(
        `${name} network downtime (longest gap between reads): ${up} ${l.up.maxGapMs} ms, ${down} ${c.down.maxGapMs} ms`,
      );
    }

    // No resets anywhere: neither end saw one, no kernel sent one.
    await a.kill('SIGTERM', 5000);
    await b.kill('SIGTERM', 5000);
    for (const [name, ns] of [
      ['guest', guest],
      ['server', server],
      ['pod A', podA],
      ['pod B', podB],
    ] as const) {
      const st = await tcpStats(lab, ns);
      t.diagnostic(
        `${name}: OutRsts ${st.OutRsts}, EstabResets ${st.EstabResets}, RetransSegs ${st.RetransSegs}`,
      );
      assert.equal(st.OutRsts, 0, `${name} sent no RST`);
      // Pod A closed the exported sockets in repair mode: the kernel counts each such close as
      // an established connection "reset", though nothing was sent (OutRsts above).
      assert.equal(st.EstabResets, ns === podA ? report.flows : 0, `${name} saw no reset`);
    }
    const la = await readFile(logA, 'utf8');
    const lb = await readFile(logB, 'utf8');
    for (const m of `${la}${lb}`.matchAll(/migrate\.(?:export|import): .*/g)) t.diagnostic(m[0]);
    assert.match(la, /migrate\.export: 6 TCP flows/, la);
    assert.match(lb, /migrate\.import: 6 TCP flows restored, 0 failed, tap attached/, lb);
  },
);
