// `bindery migrate --keep-ip` with a real QEMU guest (TCG) keeps TCP connections: a 256 MiB upload and a 64 MiB download between the guest and the node survive the switch-over.
//
// One boot of the passt VM of examples/. A server in the node namespace (10.96.0.20) takes a
// guest → node stream (the guest sends one random MiB, fetched from the node, 256 times through
// busybox nc) and sends a node → guest stream (the guest pipes nc into sha256sum); both are
// paced by the node (8 MiB/s received, 2 MiB/s sent) so the migration happens mid-stream. The
// node's socket buffers are small (128 KiB receiving, 16 KiB sending), so a stop in the stream
// shows at the node (a gap between reads, a send that blocks) rather than being hidden by
// buffered data. `bindery migrate --keep-ip` runs once both streams are under way.
// Pass: both complete with matching SHA-256 and sizes, the guest's nc exit 0, bytes received
// before the switch-over are > 0 and < total, the hand-over moved the flows, and tcpdump in the
// node namespace (every veth, the target's included) saw no RST on the two ports. The network
// downtime (longest gap in received bytes) and the hand-over's numbers are reported, not
// asserted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, labSkipReason } from '../lab/lab.js';
import { qemuSkipReason } from '../lab/qemu.js';
import { EXAMPLES, bindery, leftovers, upSuiteLock } from '../lab/up-cli.js';
import { waitFor } from '../lab/wait.js';
import { SERVICES } from '../../src/up/names.js';
import type { MigrateReport } from '../../src/up/migrate.js';
import type { RunState } from '../../src/up/state.js';

const VM = 'vm-net-binding-passt';
const MiB = 1024 ** 2;
const UP_SIZE = 256 * MiB;
const DOWN_SIZE = 64 * MiB;
const UP_RATE = 8 * MiB;
const DOWN_RATE = 2 * MiB;
const UP_PORT = 5601;
const DOWN_PORT = 5602;

// recv: reads a stream at most `rate` B/s, printing {t, got} every MiB and at the end the
// SHA-256, size and longest gap between reads (each gap over 20 ms as it happens), and the SHA-256 of `size` bytes of the block
// file repeated (what the guest sends). send: sends the block repeated (`size` bytes) at `rate`,
// printing the SHA-256 and the longest time one 64 KiB send took (each over 20 ms as it
// happens). Times are epoch ms.
const SERVER = String.raw`
import hashlib, json, os, socket, sys, time
mode, addr, port, size, rate, blockfile = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
block = open(blockfile, 'rb').read()
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF if mode == 'recv' else socket.SO_SNDBUF, (128 if mode == 'recv' else 16) << 10)
l.bind((addr, port)); l.listen(1); print(json.dumps({'ready': mode}), flush=True)
c, _ = l.accept(); h = hashlib.sha256(); n = 0; last = None; gap = 0.0; at = 0.0; mark = 1 << 20
t0 = time.monotonic()
if mode == 'recv':
    while True:
        ahead = n / rate - (time.monotonic() - t0)
        if ahead > 0: time.sleep(ahead)
        b = c.recv(64 << 10)
        now = time.time()
        if not b: break
        if last is not None and now - last > 0.02: print(json.dumps({'gap': (now - last) * 1000, 'from': last * 1000}), flush=True)
        if last is not None and now - last > gap: gap, at = now - last, last
        last = now; h.update(b); n += len(b)
        if n >= mark: print(json.dumps({'t': now * 1000, 'got': n}), flush=True); mark += 1 << 20
else:
    while n < size:
        ahead = n / rate - (time.monotonic() - t0)
        if ahead > 0: time.sleep(ahead)
        off = n % len(block); chunk = block[off:off + min(64 << 10, size - n)]
        s0 = time.time(); c.sendall(chunk); now = time.time()
        if now - s0 > 0.02: print(json.dumps({'gap': (now - s0) * 1000, 'from': s0 * 1000}), flush=True)
        if now - s0 > gap: gap, at = now - s0, s0
        h.update(chunk); n += len(chunk)
        if n >= mark: print(json.dumps({'t': now * 1000, 'got': n}), flush=True); mark += 1 << 20
    c.shutdown(socket.SHUT_WR)
    while c.recv(65536): pass
c.close()
want = hashlib.sha256()
for _ in range(size // len(block)): want.update(block)
print(json.dumps({'done': mode, 'bytes': n, 'sha256': h.hexdigest(), 'expected': want.hexdigest(), 'maxGapMs': round(gap * 1000, 1), 'gapAt': at * 1000}), flush=True)
`;

interface Done {
  done: string;
  bytes: number;
  sha256: string;
  expected: string;
  maxGapMs: number;
  gapAt: number;
}

const skip = labSkipReason() ?? qemuSkipReason();

test(
  'migrate --keep-ip keeps the guest TCP connections (TCG)',
  { skip, timeout: 15 * 60_000 },
  async (t) => {
    const root = mkdtempSync(join(tmpdir(), 'bdy-migkeep-'));
    const env = { tmp: join(root, 'tmp'), state: join(root, 'state') };
    mkdirSync(env.tmp);
    const stateArgs = ['--state-dir', env.state];
    const lab = await Lab.create(t);
    t.after(async () => {
      await lab.teardown();
      await bindery(env, ['down', '--all', ...stateArgs], { timeoutMs: 120_000 });
      rmSync(root, { recursive: true, force: true });
    });
    // After the cleanup above (after-hooks run in order): no other up/migrate suite meanwhile.
    const release = await upSuiteLock();
    t.after(release);
    const clean = leftovers(env);
    const exec = async (cmd: string): Promise<string> => {
      const r = await bindery(env, ['exec', VM, ...stateArgs, '--', 'sh', '-c', cmd]);
      assert.equal(r.code, 0, `${cmd}: ${r.stdout}${r.stderr}`);
      return r.stdout;
    };

    const up = await bindery(env, ['up', join(EXAMPLES, 'passt-vm.yaml'), ...stateArgs]);
    assert.equal(up.code, 0, `${up.stdout}\n${up.stderr}`);
    const before = JSON.parse(readFileSync(join(env.state, VM, 'state.json'), 'utf8')) as RunState;
    assert.ok(before.repairSocket !== undefined, 'up started a repair helper');
    assert.ok(
      before.processes.some((p) => p.role === 'repair'),
      'the repair helper is in the state',
    );

    // RSTs on the two ports, anywhere in the node namespace (-i any: the target veth too).
    const pcap = join(root, 'rst.pcap');
    const dump = lab.spawn(before.node, [
      'tcpdump',
      '-i',
      'any',
      '-n',
      '-U',
      '-w',
      pcap,
      `tcp[tcpflags] & tcp-rst != 0 and (port ${UP_PORT} or port ${DOWN_PORT})`,
    ]);
    await dump.waitForOutput(/listening on/, 20_000);

    const script = join(root, 'server.py');
    writeFileSync(script, SERVER);
    // One random MiB, repeated: the guest fetches it from the node's HTTP server and sends it
    // over and over (TCG is too slow to stream /dev/urandom through sha256sum at this rate).
    const block = join(before.tmpDir, 'www', 'k.blk');
    writeFileSync(block, randomBytes(MiB));
    const server = (mode: string, port: number, size: number, rate: number) =>
      lab.spawn(before.node, [
        'python3',
        '-u',
        script,
        mode,
        SERVICES.http4,
        String(port),
        String(size),
        String(rate),
        block,
      ]);
    const recv = server('recv', UP_PORT, UP_SIZE, UP_RATE);
    const send = server('send', DOWN_PORT, DOWN_SIZE, DOWN_RATE);
    await recv.waitForOutput(/ready/, 20_000);
    await send.waitForOutput(/ready/, 20_000);
    const progress = (p: typeof recv): Array<{ t: number; got: number }> =>
      [...p.stdout.matchAll(/\{"t": ([\d.]+), "got": (\d+)\}/g)].map((m) => ({
        t: Number(m[1]),
        got: Number(m[2]),
      }));
    const got = (p: typeof recv): number => progress(p).at(-1)?.got ?? 0;
    const done = (p: typeof recv): Done => {
      const line = p.stdout.split('\n').find((l) => l.startsWith('{"done"'));
      assert.ok(line, `no result from the server: ${p.output}`);
      return JSON.parse(line) as Done;
    };

    // The guest's ends run detached from the agent (it runs one command at a time, and the
    // migration moves the VM under it); results land in /tmp/k.*. The download's nc reads a
    // FIFO held open: a half-closed connection (nc shuts down its side at stdin EOF) is a
    // closing flow, which the hand-over does not move (docs/handover.md).
    const h = SERVICES.http4;
    const reps = UP_SIZE / MiB;
    await exec(
      [
        `rm -f /tmp/k.*; wget -q -O /tmp/k.blk http://${h}/k.blk && mkfifo /tmp/k.hold || exit 1`,
        'setsid sh -c "sleep 3600 > /tmp/k.hold" </dev/null >/dev/null 2>&1 &',
        `setsid sh -c "i=0; while [ \\$i -lt ${reps} ]; do cat /tmp/k.blk; i=\\$((i+1)); done | nc ${h} ${UP_PORT}; echo \\$? > /tmp/k.uprc" </dev/null >/tmp/k.uplog 2>&1 &`,
        `setsid sh -c "{ nc ${h} ${DOWN_PORT} </tmp/k.hold; echo \\$? > /tmp/k.downrc; } | sha256sum > /tmp/k.downsum" </dev/null >/tmp/k.downlog 2>&1 &`,
        'echo started',
      ].join('\n'),
    );
    const streams = (): string =>
      `up: ${recv.output.slice(-400)}\ndown: ${send.output.slice(-400)}`;
    await waitFor(
      () => got(recv) >= 16 * MiB && got(send) >= 4 * MiB,
      120_000,
      () => `both streams under way\n${streams()}`,
      100,
    );
    t.diagnostic(`before migrating: up ${got(recv) / MiB} MiB, down ${got(send) / MiB} MiB`);

    const r = await bindery(env, ['migrate', VM, '--keep-ip', '--json', ...stateArgs]);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const rep = JSON.parse(r.stdout) as MigrateReport;
    t.diagnostic(
      `migrate --keep-ip: migration ${rep.migrationMs} ms, VM stopped ${rep.stopMs} ms, ` +
        `probe downtime ${rep.networkDowntimeMs} ms; hand-over ${JSON.stringify(rep.handover)}; ` +
        `warnings: ${rep.warnings.join(' | ')}`,
    );
    assert.equal(rep.target.podIPv4, rep.source.podIPv4);
    assert.deepEqual(
      rep.warnings.filter((w) => /hand-over/.test(w)),
      [],
      'the hand-over succeeded',
    );
    assert.ok(
      (rep.handover?.[0]?.flows ?? 0) >= 2,
      `both streams were handed over\n${r.stderr}\n${streams()}`,
    );

    const [rs, ss] = await Promise.all([recv.exited, send.exited]);
    assert.equal(rs.code, 0, streams());
    assert.equal(ss.code, 0, streams());
    const upDone = done(recv);
    const downDone = done(send);
    const guest = async (f: string): Promise<string> => {
      const end = Date.now() + 60_000;
      for (;;) {
        const out = await exec(`cat /tmp/k.${f} 2>/dev/null || true`);
        if (out.trim() !== '' || Date.now() > end) return out.trim();
        await new Promise((res) => setTimeout(res, 500));
      }
    };
    const [uprc, downrc, downsum] = [
      await guest('uprc'),
      await guest('downrc'),
      await guest('downsum'),
    ];
    assert.equal(uprc, '0', `guest nc (upload) exit: ${await exec('cat /tmp/k.uplog')}`);
    assert.equal(downrc, '0', `guest nc (download) exit: ${await exec('cat /tmp/k.downlog')}`);
    assert.equal(upDone.bytes, UP_SIZE, 'the node got every byte the guest sent');
    assert.equal(upDone.sha256, upDone.expected, 'guest → node SHA-256');
    assert.equal(downDone.bytes, DOWN_SIZE);
    assert.equal(downsum.split(/\s/)[0], downDone.sha256, 'node → guest SHA-256');

    // The switch-over happened mid-stream.
    const at = (p: typeof recv): number =>
      progress(p)
        .filter((x) => x.t <= rep.at.completed)
        .at(-1)?.got ?? 0;
    const upAt = at(recv);
    const downAt = at(send);
    assert.ok(upAt > 0 && upAt < UP_SIZE, `upload at the switch-over: ${upAt}`);
    assert.ok(downAt > 0 && downAt < DOWN_SIZE, `download at the switch-over: ${downAt}`);

    await dump.kill('SIGTERM', 5000);
    const rsts = await lab.exec('host', ['tcpdump', '-n', '-r', pcap]);
    assert.equal(rsts.stdout.trim(), '', `RSTs on the streams' ports:\n${rsts.stdout}`);
    // The stop the migration caused: the longest gap that overlaps the switch-over (a second
    // either side: the VM stops before QMP reports completion, buffers drain after it). Load on
    // the machine makes other gaps; those are reported as the longest overall.
    const switchGap = (p: typeof recv): { gap: number; from: number } | undefined =>
      [...p.stdout.matchAll(/\{"gap": ([\d.]+), "from": ([\d.]+)\}/g)]
        .map((m) => ({ gap: Number(m[1]), from: Number(m[2]) }))
        .filter((g) => g.from <= rep.at.cont + 1000 && g.from + g.gap >= rep.at.completed - 1000)
        .sort((a, b) => b.gap - a.gap)[0];
    const gapText = (g: { gap: number; from: number } | undefined): string =>
      g === undefined
        ? 'none over 20 ms'
        : `${g.gap.toFixed(0)} ms, from ${(g.from - rep.at.cont).toFixed(0)} to ${(g.from + g.gap - rep.at.cont).toFixed(0)} ms after cont`;
    t.diagnostic(
      `switch-over (migration completed) at up ${(upAt / MiB).toFixed(0)} / down ${(downAt / MiB).toFixed(0)} MiB; ` +
        `cont ${rep.at.cont - rep.at.completed} ms after completion; ` +
        `gap at the switch-over guest → node ${gapText(switchGap(recv))}, ` +
        `node → guest (send stall) ${gapText(switchGap(send))}; ` +
        `longest overall ${upDone.maxGapMs} / ${downDone.maxGapMs} ms`,
    );

    assert.equal((await bindery(env, ['down', VM, ...stateArgs])).code, 0);
    await waitFor(() => leftovers(env).procs.length === 0, 10_000, 'processes gone');
    assert.deepEqual(leftovers(env), clean, 'down left nothing behind');
  },
);
