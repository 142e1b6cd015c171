// Integration (root): `bindery passt --threads 2` on a multiqueue tap — TCP, UDP, ping and inbound forwards work, and both shards carry flows.
//
// The guest namespace opens many flows of each kind; the kernel spreads them over the tap's
// two queues and shard/route.ts spreads them over the two shards. What is checked: every
// connection's data arrives intact (sha256 both ways, the echo of `many`), inbound forwards
// (shard 0's) work, and the control socket's `counters` show TCP flows on both shards and
// frames handed between them (so the cross-shard path ran, not only the lucky one).
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFile } from 'node:fs/promises';
import { Lab, labSkipReason, uniqueIfName } from '../lab/lab.js';
import {
  FAMILIES,
  FWD_GUEST_BASE,
  FWD_HOST_BASE,
  POD4,
  POD6,
  lastJson,
  startTcpLink,
} from '../lab/tcp-tools.js';
import type { Family, ManyReport, TalkReport, TcpLink } from '../lab/tcp-tools.js';
import { controlRequest } from '../../src/runner/control.js';
import type { ShardReport } from '../../src/runner/shards.js';

const skip = labSkipReason();
const MiB = 1024 ** 2;

interface ShardCounters {
  readonly daemon: { tcp: number; udp: number; ping: number; rxFrames: number };
  readonly shards: {
    readonly shard0: { forwardedOut: number; forwardedIn: number };
    readonly workers: readonly ShardReport[];
  };
}

/** A UDP echo server (pod) and a client that sends from `n` source ports and checks each echo. */
const UDP_TOOL = String.raw`
import socket, sys
def serve(addr, port):
    fam = socket.AF_INET6 if ':' in addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.bind((addr, port))
    print('ready', flush=True)
    while True:
        data, peer = s.recvfrom(65535)
        s.sendto(data, peer)
def client(addr, port, n):
    fam = socket.AF_INET6 if ':' in addr else socket.AF_INET
    ok = 0
    for i in range(n):
        s = socket.socket(fam, socket.SOCK_DGRAM)
        s.settimeout(2)
        msg = ('flow %d ' % i).encode() * 50
        for attempt in range(3):
            s.sendto(msg, (addr, port))
            try:
                data, _ = s.recvfrom(65535)
            except socket.timeout:
                continue
            if data == msg:
                ok += 1
            break
        s.close()
    print(ok, flush=True)
if sys.argv[1] == 'serve':
    serve(sys.argv[2], int(sys.argv[3]))
else:
    client(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
`;

async function counters(ctl: string): Promise<ShardCounters> {
  return (await controlRequest(ctl, 'counters')) as ShardCounters;
}

/** One bulk conversation: the client sends `size` bytes, the server sends `size` back; sha256 compared. */
async function bulk(
  lab: Lab,
  link: TcpLink,
  fam: Family,
  dir: 'out' | 'in',
  port: number,
  size: number,
): Promise<void> {
  const [srvNs, srvAddr, srvPort, cliNs, cliAddr, cliPort] =
    dir === 'out'
      ? [link.pod, fam.loopback, port, link.guest, fam.gateway, port]
      : [link.guest, fam.any, FWD_GUEST_BASE + port, link.pod, fam.loopback, FWD_HOST_BASE + port];
  const srv = lab.spawn(srvNs, [
    ...link.tool,
    ...['talk', 'listen', srvAddr, String(srvPort), String(size), 'read-then-send', '11'],
  ]);
  await srv.waitForOutput(/ready/, 10_000);
  const r = await lab.exec(
    cliNs,
    [
      ...link.tool,
      ...['talk', 'connect', cliAddr, String(cliPort), String(size), 'send-then-read', '10'],
    ],
    { timeoutMs: 120_000 },
  );
  assert.equal(r.code, 0, r.stdout + r.stderr);
  await Promise.race([srv.exited, new Promise((res) => setTimeout(res, 30_000))]);
  const server = lastJson<TalkReport>(srv.output);
  const client = lastJson<TalkReport>(r.stdout);
  assert.equal(client.error, undefined, r.stdout);
  assert.equal(server.error, undefined, srv.output);
  assert.equal(server.got.bytes, size);
  assert.equal(client.got.bytes, size);
  assert.equal(server.got.sha256, client.sent.sha256, `${dir} ${fam.name}: client→server data`);
  assert.equal(client.got.sha256, server.sent.sha256, `${dir} ${fam.name}: server→client data`);
}

async function run(t: TestContext): Promise<void> {
  const lab = await Lab.create(t);
  const dir = await lab.tmpDir();
  const ctl = join(dir, 'ctl.sock');
  const link = await startTcpLink(lab, {
    kind: 'bindery',
    binderyArgs: ['--threads', '2', '-c', ctl],
  });
  const udpTool = join(dir, 'udptool.py');
  await writeFile(udpTool, UDP_TOOL);
  const before = await counters(ctl);
  assert.equal(before.shards.workers.length, 1, 'one worker shard');

  let port = 29000;
  for (const fam of FAMILIES) {
    // Many short connections at once (each echoes its own payload): both shards get some.
    const p = port++;
    const srv = lab.spawn(link.pod, [...link.tool, 'echo', fam.loopback, String(p)]);
    await srv.waitForOutput(/ready/, 10_000);
    const r = await lab.exec(
      link.guest,
      [...link.tool, 'many', fam.gateway, String(p), '64', '90'],
      {
        timeoutMs: 120_000,
      },
    );
    await srv.kill('SIGKILL', 0);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const rep = lastJson<ManyReport>(r.stdout);
    assert.deepEqual(rep.errors, []);
    assert.equal(rep.verified, 64, r.stdout);

    // Bulk both ways, out through the gateway and in through a -t forward (shard 0's flow).
    for (let i = 0; i < 4; i++) await bulk(lab, link, fam, 'out', port++, 8 * MiB);
    await bulk(lab, link, fam, 'in', fam.name === 'IPv4' ? 1 : 2, 8 * MiB);

    // UDP from 32 source ports, and echo requests with 8 identifiers.
    const up = port++;
    const usrv = lab.spawn(link.pod, ['python3', '-u', udpTool, 'serve', fam.loopback, String(up)]);
    await usrv.waitForOutput(/ready/, 10_000);
    const u = await lab.exec(
      link.guest,
      ['python3', '-u', udpTool, 'client', fam.gateway, String(up), '32'],
      {
        timeoutMs: 120_000,
      },
    );
    await usrv.kill('SIGKILL', 0);
    assert.equal(u.stdout.trim(), '32', u.stdout + u.stderr);
    for (let i = 0; i < 8; i++) {
      const target = fam.name === 'IPv4' ? POD4 : POD6;
      const ping = await lab.exec(link.guest, ['ping', '-c', '2', '-i', '0.2', '-W', '2', target], {
        timeoutMs: 20_000,
      });
      assert.equal(ping.code, 0, ping.stdout + ping.stderr);
    }
  }

  const after = await counters(ctl);
  const worker = after.shards.workers[0]!;
  t.diagnostic(
    `shard 0: tcp ${after.daemon.tcp} udp ${after.daemon.udp} ping ${after.daemon.ping}, ` +
      `handed ${after.shards.shard0.forwardedOut} took ${after.shards.shard0.forwardedIn}; ` +
      `shard 1: tcp ${worker.daemon.tcp} udp ${worker.daemon.udp} ping ${worker.daemon.ping}, ` +
      `handed ${worker.link.forwardedOut} took ${worker.link.forwardedIn}`,
  );
  for (const [name, c] of [
    ['shard 0', after.daemon],
    ['shard 1', worker.daemon],
  ] as const) {
    assert.ok(c.tcp > 0, `${name} carried TCP`);
    assert.ok(c.udp > 0, `${name} carried UDP`);
  }
  assert.ok(after.daemon.ping + worker.daemon.ping >= 2 * 8 * 2, 'every echo request translated');
  // Frames crossed between shards (the kernel's queue choice is not ours).
  assert.ok(
    after.shards.shard0.forwardedOut + worker.link.forwardedOut > 0,
    'some frames were handed to their owner shard',
  );
  // Every frame handed over arrives (asked again until both sides agree: a frame the guest
  // sends between the two counter reads may be in flight).
  let last = after;
  const agree = (c: ShardCounters): boolean =>
    c.shards.shard0.forwardedOut === c.shards.workers[0]!.link.forwardedIn &&
    c.shards.workers[0]!.link.forwardedOut === c.shards.shard0.forwardedIn;
  for (let i = 0; i < 50 && !agree(last); i++) {
    await new Promise((res) => setTimeout(res, 100));
    last = await counters(ctl);
  }
  assert.ok(agree(last), `frames handed over = frames taken: ${JSON.stringify(last.shards)}`);
  assert.ok(worker.daemon.rxFrames > 0 && after.daemon.rxFrames > 0);
  const st = await link.proc.kill('SIGTERM', 10_000);
  assert.equal(st.code, 0, link.proc.output);
}

test(
  '--threads 2: flows spread over two shards on a multiqueue tap',
  { skip, timeout: 600_000 },
  run,
);

test(
  '--threads 2 with a malformed BINDERY_IMPAIR: a usage error (exit 2), the started threads stopped',
  { skip, timeout: 60_000 },
  async (t) => {
    const lab = await Lab.create(t);
    const pod = await lab.namespace('pod');
    const guest = await lab.namespace('guest');
    const r = await lab.exec(
      pod,
      [
        process.execPath,
        fileURLToPath(new URL('../../bin/bindery.js', import.meta.url)),
        'passt',
        '-f',
        '--tap',
        uniqueIfName('tt'),
        '--netns',
        guest,
        '--threads',
        '2',
      ],
      { env: { BINDERY_IMPAIR: 'loss=lots' }, timeoutMs: 30_000 },
    );
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /loss/);
  },
);
