// `bindery passt` as real processes: a tap in a lab namespace (udhcpc, ping), the stream socket with --one-off, bad options, detaching.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { createSocket } from 'node:dgram';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lab, labSkipReason, uniqueIfName } from '../lab/lab.js';
import { waitFor } from '../lab/wait.js';
import { run } from '../../src/cli/main.js';
import { firstFreeSocketPath } from '../../src/runner/passt.js';
import { createServer, type AddressInfo } from 'node:net';
import { buildArpFrame } from '../../src/wire/build.js';
import { ArpOp, ArpView, parseArp } from '../../src/wire/arp.js';
import { EthernetView, EtherType } from '../../src/wire/ethernet.js';
import { formatIpv4, formatMac, isWireError, parseIpv4, parseMac } from '../../src/wire/common.js';

// Only the tap test makes a namespace (root); the others run host processes in temp dirs, which
// need no root, and never skip.
const skip = labSkipReason();
const rootless = {};
const BIN = fileURLToPath(new URL('../../bin/bindery.js', import.meta.url));
const PASST = [process.execPath, BIN, 'passt'];
const GUEST = parseMac('52:54:00:12:34:56')!;

function arpRequest(): Uint8Array {
  return buildArpFrame(GUEST, parseMac('ff:ff:ff:ff:ff:ff')!, {
    operation: ArpOp.Request,
    senderMac: GUEST,
    senderIp: parseIpv4('10.90.0.15')!,
    targetMac: new Uint8Array(6),
    targetIp: parseIpv4('10.90.0.1')!,
  });
}

/**
 * Connects to a stream socket, sends one framed ARP request, and collects the frames received
 * until one is an ARP reply (or fails at the deadline). `end()` half-closes and resolves once
 * the daemon has closed its side too.
 */
async function arpOverStream(
  path: string,
  ms = 10_000,
): Promise<{ frames: Uint8Array[]; end(): Promise<void> }> {
  const s = createConnection({ path });
  await new Promise<void>((resolve, reject) => {
    s.once('connect', resolve);
    s.once('error', reject);
  });
  const closed = new Promise<void>((resolve) => s.once('close', () => resolve()));
  const frames: Uint8Array[] = [];
  let buf = Buffer.alloc(0);
  let timer: NodeJS.Timeout | undefined;
  await new Promise<void>((resolve, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no ARP reply within ${ms} ms (${frames.length} frames)`)),
      ms,
    );
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
        const f = buf.subarray(4, 4 + buf.readUInt32BE(0));
        buf = buf.subarray(4 + f.length);
        frames.push(f);
        if (isArpReply(f)) resolve();
      }
    });
    const f = arpRequest();
    const h = Buffer.alloc(4);
    h.writeUInt32BE(f.length);
    s.write(Buffer.concat([h, f]));
  }).finally(() => clearTimeout(timer));
  return {
    frames,
    end: () => {
      s.end();
      return closed;
    },
  };
}

function isArpReply(f: Uint8Array): boolean {
  const eth = EthernetView.checked(f);
  if (isWireError(eth) || eth.ethertype !== EtherType.Arp) return false;
  const v = ArpView.checked(eth.payload());
  if (isWireError(v)) return false;
  const a = parseArp(v);
  return !isWireError(a) && a.operation === ArpOp.Reply;
}

/** The ARP reply among `frames` (ARP requests we are sent as probes are skipped). */
function arpReply(frames: readonly Uint8Array[]): { senderMac: string; senderIp: string } {
  for (const f of frames) {
    const eth = EthernetView.checked(f);
    if (isWireError(eth) || eth.ethertype !== EtherType.Arp) continue;
    const v = ArpView.checked(eth.payload());
    if (isWireError(v)) continue;
    const a = parseArp(v);
    if (isWireError(a) || a.operation !== ArpOp.Reply) continue;
    assert.equal(formatMac(eth.dst), formatMac(GUEST));
    return { senderMac: formatMac(a.senderMac), senderIp: formatIpv4(a.senderIp) };
  }
  assert.fail(`no ARP reply among ${frames.length} frames`);
}

/** A UDP port on 127.0.0.1 that was free a moment ago. */
async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  const port = s.address().port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

test(
  'tap mode: udhcpc gets the configured address and ping reaches the gateway',
  { skip },
  async (t) => {
    const lab = await Lab.create(t);
    const ns = await lab.namespace('pd');
    const dir = await lab.tmpDir();
    const tap = uniqueIfName('pt');
    const hostPort = await freeUdpPort();
    const p = lab.spawn('host', [
      ...PASST,
      '-f',
      '--tap',
      tap,
      '--netns',
      ns,
      '-a',
      '10.90.0.15/24',
      '-g',
      '10.90.0.1',
      '-D',
      '10.90.0.1',
      '-u',
      `127.0.0.1/${hostPort}:7007`,
    ]);
    await p.waitForOutput(/serving tap/, 20_000);

    const script = join(dir, 'udhcpc.sh');
    await writeFile(script, '#!/bin/sh\necho "EVENT=$1 ip=$ip router=$router dns=$dns"\n');
    await chmod(script, 0o755);
    const r = await lab.exec(
      ns,
      ['busybox', 'udhcpc', '-i', tap, '-n', '-q', '-f', '-t', '5', '-s', script],
      { timeoutMs: 30_000 },
    );
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const bound = r.stdout.split('\n').find((l) => l.startsWith('EVENT=bound'));
    assert.ok(bound, r.stdout + r.stderr);
    assert.match(bound, / ip=10\.90\.0\.15 /);
    assert.match(bound, / router=10\.90\.0\.1 /);
    assert.match(bound, / dns=10\.90\.0\.1$/);

    await lab.ip(ns, ['addr', 'add', '10.90.0.15/24', 'dev', tap]);
    const ping = await lab.exec(ns, ['ping', '-c', '3', '-i', '0.2', '-W', '2', '10.90.0.1'], {
      timeoutMs: 20_000,
    });
    assert.equal(ping.code, 0, ping.stdout + ping.stderr);
    assert.match(ping.stdout, /3 received/);

    // UDP to the gateway reaches a host loopback server through flow/udp.ts (the gateway is the
    // default --map-host-loopback address), and the reply comes back.
    const server = createSocket('udp4');
    t.after(() => server.close());
    server.on('message', (msg, rinfo) =>
      server.send(Buffer.from(`echo:${msg.toString()}`), rinfo.port, rinfo.address),
    );
    await new Promise<void>((resolve) => server.bind(0, '127.0.0.1', resolve));
    const port = server.address().port;
    const client = [
      "const s = require('node:dgram').createSocket('udp4');",
      "s.on('message', (m) => { console.log(m.toString()); process.exit(0); });",
      `s.send('hello', ${port}, '10.90.0.1');`,
      'setTimeout(() => process.exit(3), 5000);',
    ].join(' ');
    const u = await lab.exec(ns, [process.execPath, '-e', client], { timeoutMs: 20_000 });
    assert.equal(u.code, 0, u.stdout + u.stderr + p.output);
    assert.equal(u.stdout.trim(), 'echo:hello');

    // -u: a datagram to the forwarded host port reaches a server in the guest, and its reply
    // comes back from the port the client talked to.
    const echo = lab.spawn(ns, [
      process.execPath,
      '-e',
      [
        "const s = require('node:dgram').createSocket('udp4');",
        "s.on('message', (m, r) => s.send('guest:' + m, r.port, r.address));",
        "s.bind(7007, '10.90.0.15', () => console.log('listening'));",
      ].join(' '),
    ]);
    await echo.waitForOutput(/listening/, 10_000);
    const hostClient = createSocket('udp4');
    t.after(() => hostClient.close());
    const got = new Promise<string>((resolve) =>
      hostClient.once('message', (m, r) => resolve(`${m.toString()} from ${r.port}`)),
    );
    hostClient.send('ping', hostPort, '127.0.0.1');
    const answer = await Promise.race([
      got,
      new Promise<string>((resolve) => setTimeout(() => resolve('timeout'), 5000)),
    ]);
    assert.equal(answer, `guest:ping from ${hostPort}`, p.output);

    const st = await p.kill('SIGTERM', 5000);
    assert.equal(st.code, 0, p.output);
  },
);

test(
  'stream mode: ARP over the socket; --one-off exits 0 and removes socket and pid file',
  rootless,
  async (t) => {
    const lab = await Lab.create(t);
    const dir = await lab.tmpDir();
    const sock = join(dir, 'p.sock');
    const pidFile = join(dir, 'p.pid');
    const p = lab.spawn('host', [
      ...PASST,
      '-f',
      '-1',
      '-s',
      sock,
      '-P',
      pidFile,
      '-a',
      '10.90.0.15/24',
      '-g',
      '10.90.0.1',
    ]);
    await p.waitForOutput(/addr\.path=/, 20_000);
    assert.match(p.stdout, new RegExp(`UNIX domain socket bound at ${sock}`));
    assert.equal((await readFile(pidFile, 'utf8')).trim(), String(p.pid));

    const c = await arpOverStream(sock);
    const reply = arpReply(c.frames);
    assert.equal(reply.senderMac, '9a:55:9a:55:9a:55');
    assert.equal(reply.senderIp, '10.90.0.1');
    await c.end();

    const st = await p.exited;
    assert.equal(st.code, 0, p.output);
    assert.ok(!existsSync(sock), 'socket removed');
    assert.ok(!existsSync(pidFile), 'pid file removed');
  },
);

test(
  '--fd serves a connected socketpair end (one-off): ARP answered, exit 0 when the guest leaves',
  rootless,
  async (t) => {
    const lab = await Lab.create(t);
    // python3 makes the socketpair, as QEMU >= 10.1 does, and hands one end to the daemon as fd 3.
    const script = [
      'import socket, subprocess, sys, struct, select',
      'a, b = socket.socketpair()',
      'cmd = sys.argv[2:] + ["--fd", str(b.fileno())]',
      'p = subprocess.Popen(cmd, pass_fds=[b.fileno()], stdout=subprocess.DEVNULL)',
      'b.close()',
      'frame = bytes.fromhex(sys.argv[1])',
      'a.sendall(struct.pack(">I", len(frame)) + frame)',
      'buf = b""',
      'while select.select([a], [], [], 10)[0]:',
      '    d = a.recv(65536)',
      '    if not d: break',
      '    buf += d',
      '    found = None',
      '    while len(buf) >= 4 and len(buf) >= 4 + struct.unpack(">I", buf[:4])[0]:',
      '        n = struct.unpack(">I", buf[:4])[0]',
      '        f = buf[4:4 + n]; buf = buf[4 + n:]',
      '        if f[12:14] == b"\\x08\\x06" and f[20:22] == b"\\x00\\x02": found = f',
      '    if found:',
      '        print("reply", found.hex(), flush=True); break',
      'a.close()',
      'print("exit", p.wait(timeout=20), flush=True)',
    ].join('\n');
    const hex = Buffer.from(arpRequest()).toString('hex');
    const r = await lab.exec(
      'host',
      ['python3', '-c', script, hex, ...PASST, '-a', '10.90.0.15/24', '-g', '10.90.0.1', '-q'],
      { timeoutMs: 40_000 },
    );
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const m = /reply ([0-9a-f]+)/.exec(r.stdout);
    assert.ok(m, r.stdout + r.stderr);
    const reply = arpReply([Buffer.from(m[1]!, 'hex')]);
    assert.equal(reply.senderIp, '10.90.0.1');
    assert.match(r.stdout, /exit 0/);
  },
);

test('bad options exit 2 with one line on stderr', rootless, async (t) => {
  const lab = await Lab.create(t);
  for (const args of [['--bogus'], ['-a', 'not-an-ip'], ['--tap', 'x'], ['-m', '12']]) {
    const r = await lab.exec('host', [...PASST, ...args], { timeoutMs: 20_000 });
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /^bindery: /);
  }
  // Through the CLI program too.
  let err = '';
  const code = await run(['passt', '--bogus'], { out: () => {}, err: (s) => (err += s) });
  assert.equal(code, 2);
  assert.equal(err.trim().split('\n').length, 1);
});

test(
  'without -f it detaches: the command returns 0 while the daemon keeps serving',
  rootless,
  async (t) => {
    const lab = await Lab.create(t);
    const dir = await lab.tmpDir();
    const sock = join(dir, 'd.sock');
    const pidFile = join(dir, 'd.pid');
    let pid: number | undefined;
    t.after(() => {
      if (pid !== undefined) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    });
    const r = await lab.exec(
      'host',
      [...PASST, '-s', sock, '-P', pidFile, '-a', '10.90.0.15/24', '-g', '10.90.0.1'],
      { timeoutMs: 30_000 },
    );
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`UNIX domain socket bound at ${sock}`));
    assert.ok(
      r.stdout.includes(
        `-device virtio-net-pci,netdev=s -netdev stream,id=s,server=off,addr.type=unix,addr.path=${sock}`,
      ),
    );
    pid = Number((await readFile(pidFile, 'utf8')).trim());
    assert.ok(pid > 0);
    process.kill(pid, 0); // alive

    const c = await arpOverStream(sock);
    assert.equal(arpReply(c.frames).senderIp, '10.90.0.1');
    // The daemon closes its side once it has seen the client leave.
    await c.end();
    // Not one-off: still serving after the client left.
    const again = await arpOverStream(sock);
    assert.equal(arpReply(again.frames).senderIp, '10.90.0.1');
    await again.end();

    process.kill(pid, 'SIGTERM');
    await waitFor(() => !existsSync(pidFile) && !existsSync(sock), 10_000, 'clean shutdown');
    pid = undefined;
  },
);

test(
  'the default socket path skips live sockets and non-sockets, reuses stale ones',
  rootless,
  async (t) => {
    const lab = await Lab.create(t);
    const dir = await lab.tmpDir();
    const pathOf = (n: number) => join(dir, `passt_${n}.socket`);
    const live = createServer();
    await new Promise<void>((resolve) => live.listen(pathOf(1), resolve));
    t.after(() => live.close());
    await writeFile(pathOf(2), 'not a socket');
    assert.equal(await firstFreeSocketPath(pathOf), pathOf(3));
    // A stale socket (bound, never listening, its process gone: nothing accepts) is free.
    await lab.run('host', [
      'python3',
      '-c',
      'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])',
      pathOf(3),
    ]);
    assert.ok(existsSync(pathOf(3)));
    assert.equal(await firstFreeSocketPath(pathOf), pathOf(3));
    await assert.rejects(firstFreeSocketPath(pathOf, 2), /no free socket path/);
  },
);

test(
  'a -u or -t port that cannot be bound fails start-up with exit 1 and leaves no socket',
  rootless,
  async (t) => {
    const lab = await Lab.create(t);
    const dir = await lab.tmpDir();
    const busy = createSocket('udp4');
    await new Promise<void>((resolve) => busy.bind(0, '127.0.0.1', resolve));
    t.after(() => busy.close());
    const port = busy.address().port;
    const sock = join(dir, 'u.sock');
    const r = await lab.exec('host', [...PASST, '-f', '-s', sock, '-u', `127.0.0.1/${port}`], {
      timeoutMs: 20_000,
    });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(
      r.stderr,
      /cannot bind a -t\/--tcp-ports or -u\/--udp-ports socket: bind EADDRINUSE/,
    );
    assert.ok(!existsSync(sock));
    // The same for a -t port that is taken.
    const busyTcp = createServer();
    await new Promise<void>((resolve) => busyTcp.listen(0, '127.0.0.1', resolve));
    t.after(() => busyTcp.close());
    const tport = (busyTcp.address() as AddressInfo).port;
    const rt = await lab.exec('host', [...PASST, '-f', '-s', sock, '-t', `127.0.0.1/${tport}`], {
      timeoutMs: 20_000,
    });
    assert.equal(rt.code, 1, rt.stdout + rt.stderr);
    assert.match(rt.stderr, /cannot bind .* EADDRINUSE.* 127\.0\.0\.1:\d+/);
    assert.ok(!existsSync(sock));
    // Detached: the parent reports the child's failure.
    const d = await lab.exec('host', [...PASST, '-s', sock, '-u', `127.0.0.1/${port}`], {
      timeoutMs: 20_000,
    });
    assert.equal(d.code, 1, d.stdout + d.stderr);
    assert.match(d.stderr, /cannot bind a -t\/--tcp-ports or -u\/--udp-ports socket/);
    assert.ok(!existsSync(sock));
  },
);
