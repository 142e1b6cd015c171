// Seeing into a running `bindery passt --tap` in lab namespaces: the pcap of a DHCP + TCP session read by tshark, capture on demand, /metrics scraped during a transfer, `bindery flows`, --stats, flow logs, and bad control-socket input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { request } from 'node:http';
import { createConnection } from 'node:net';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Lab, labSkipReason } from '../lab/lab.js';
import { startTcpLink, lastJson, GW4, GUEST4, type TalkReport } from '../lab/tcp-tools.js';
import { FLOW_CONTROL, tsharkDecodeFile, tsharkFields, tsharkProblems } from '../lab/tshark.js';
import { parseExposition, promValue, type PromScrape } from '../lab/prom.js';
import { waitFor } from '../lab/wait.js';
import { controlRequest } from '../../src/runner/control.js';
import type { FlowRow } from '../../src/usernet/flow/view.js';
import type { CaptureStatus } from '../../src/runner/capture.js';

const skip = labSkipReason();
const run = promisify(execFile);
const BIN = fileURLToPath(new URL('../../bin/bindery.js', import.meta.url));
/** Bytes each way of the TCP session in the pcap. */
const SESSION_BYTES = 300_000;

function scrape(socketPath: string): Promise<PromScrape> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path: '/metrics' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => {
        try {
          assert.equal(res.statusCode, 200, body);
          resolve(parseExposition(body));
        } catch (e) {
          reject(e as Error);
        }
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** Sends raw bytes to the control socket and returns every response line until it closes or `lines` came. */
function rawControl(path: string, bytes: string, lines: number, end = true): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const s = createConnection({ path });
    let buf = '';
    const timer = setTimeout(() => {
      s.destroy();
      resolve(buf.split('\n').filter(Boolean));
    }, 5000);
    s.on('connect', () => {
      s.write(bytes);
      if (end) s.end();
    });
    s.on('data', (d) => {
      buf += d.toString('utf8');
      if (buf.split('\n').filter(Boolean).length >= lines) {
        clearTimeout(timer);
        s.destroy();
        resolve(buf.split('\n').filter(Boolean));
      }
    });
    s.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    s.on('close', () => {
      clearTimeout(timer);
      resolve(buf.split('\n').filter(Boolean));
    });
  });
}

test('operators see into a running translator', { skip, timeout: 240_000 }, async (t) => {
  const lab = await Lab.create(t);
  const dir = await lab.tmpDir();
  const pcap = join(dir, 'session.pcap');
  const ctl = join(dir, 'passt.ctl');
  const metricsSock = join(dir, 'metrics.sock');
  // Full checksums on the tap both ways, so tshark can validate every one.
  const link = await startTcpLink(lab, {
    kind: 'bindery',
    binderyArgs: [
      '--no-tap-offload',
      '-p',
      pcap,
      '-c',
      ctl,
      '--metrics',
      `unix:${metricsSock}`,
      '--stats',
      '1',
      '-d',
    ],
  });
  const alive = (): void => assert.equal(link.proc.exitStatus, undefined, link.proc.output);
  let port = 21_000;

  /** One TCP conversation guest → pod loopback (through the gateway), `n` bytes each way, FIN both ways. */
  const session = async (n: number): Promise<number> => {
    const p = port++;
    const srv = lab.spawn(link.pod, [
      ...link.tool,
      'talk',
      'listen',
      '127.0.0.1',
      String(p),
      String(n),
      'send-then-read',
      '2',
      '30',
    ]);
    await srv.waitForOutput(/ready/, 10_000);
    const r = await lab.exec(
      link.guest,
      [...link.tool, 'talk', 'connect', GW4, String(p), String(n), 'send-then-read', '1', '30'],
      { timeoutMs: 60_000 },
    );
    const mine = lastJson<TalkReport>(r.stdout);
    await srv.exited;
    const theirs = lastJson<TalkReport>(srv.output);
    assert.equal(mine.error, undefined, r.stdout + r.stderr);
    assert.equal(theirs.error, undefined, srv.output);
    assert.equal(mine.got.sha256, theirs.sent.sha256);
    assert.equal(theirs.got.sha256, mine.sent.sha256);
    assert.equal(mine.got.bytes, n);
    return p;
  };

  let sessionPort = 0;
  await t.test('-p: the pcap of a DHCP + TCP session reads clean in tshark', async () => {
    const script = join(dir, 'udhcpc.sh');
    await lab.run(link.guest, [
      'sh',
      '-c',
      `printf '#!/bin/sh\\nexit 0\\n' > ${script}; chmod +x ${script}`,
    ]);
    const d = await lab.exec(
      link.guest,
      ['busybox', 'udhcpc', '-i', link.tap, '-n', '-q', '-f', '-t', '3', '-s', script],
      { timeoutMs: 30_000 },
    );
    assert.equal(d.code, 0, d.stdout + d.stderr);
    sessionPort = await session(SESSION_BYTES);
    // capture.stop returns once the file is flushed and closed.
    const st = (await controlRequest(ctl, 'capture.stop')) as CaptureStatus;
    assert.equal(st.active, false);
    assert.equal(st.path, pcap);
    assert.ok(st.frames > 20, JSON.stringify(st));
    assert.equal(st.dropped, 0);

    const frames = await tsharkDecodeFile(pcap);
    assert.equal(frames.length, st.frames);
    // Flow control at work is no defect: tshark warns of a full receive window, and of a zero
    // window when a side's kernel has buffered all it will take — each side sends all before it
    // reads, so under load the guest's socket fills and its segments advertise 0 (seen in CI).
    assert.deepEqual(tsharkProblems(frames, FLOW_CONTROL), []);
    // The DHCP exchange: DISCOVER, OFFER, REQUEST, ACK (option 53 values 1, 2, 3, 5).
    const dhcp = (await tsharkFields(pcap, ['dhcp.option.dhcp'], 'dhcp')).map((r) => r[0]);
    assert.deepEqual(dhcp, ['1', '2', '3', '5']);
    // The TCP conversation: handshake, data and FIN each way.
    const segs = await tsharkFields(
      pcap,
      ['ip.src', 'tcp.flags.syn', 'tcp.flags.ack', 'tcp.flags.fin', 'tcp.len'],
      `tcp.port == ${sessionPort}`,
    );
    const from = (src: string) => segs.filter((s) => s[0] === src);
    const g = from(GUEST4);
    const h = from(GW4);
    assert.ok(
      g.some((s) => s[1] === '1' && s[2] === '0'),
      'SYN from the guest',
    );
    assert.ok(
      h.some((s) => s[1] === '1' && s[2] === '1'),
      'SYN-ACK to the guest',
    );
    const bytes = (ss: string[][]): number => ss.reduce((n, s) => n + Number(s[4]), 0);
    assert.ok(bytes(g) >= SESSION_BYTES, `guest sent ${bytes(g)}`);
    assert.ok(bytes(h) >= SESSION_BYTES, `gateway sent ${bytes(h)}`);
    assert.ok(
      g.some((s) => s[3] === '1'),
      'FIN from the guest',
    );
    assert.ok(
      h.some((s) => s[3] === '1'),
      'FIN to the guest',
    );
  });

  await t.test('capture on demand through the control socket', async () => {
    const second = join(dir, 'on-demand.pcap');
    const st = (await controlRequest(ctl, 'capture.start', { path: second })) as CaptureStatus;
    assert.equal(st.active, true);
    await assert.rejects(controlRequest(ctl, 'capture.start', { path: join(dir, 'x.pcap') }), {
      code: 'BINDERY_ERR_CAPTURE',
    });
    const ping = await lab.exec(link.guest, ['ping', '-c', '2', '-i', '0.2', '-W', '2', GW4], {
      timeoutMs: 10_000,
    });
    assert.equal(ping.code, 0, ping.stdout + ping.stderr);
    assert.equal(((await controlRequest(ctl, 'capture.status')) as CaptureStatus).active, true);
    const done = (await controlRequest(ctl, 'capture.stop')) as CaptureStatus;
    assert.equal(done.stopped, 'stopped');
    const frames = await tsharkDecodeFile(second);
    assert.equal(frames.length, done.frames);
    assert.deepEqual(tsharkProblems(frames), []);
    const icmp = await tsharkFields(second, ['icmp.type'], 'icmp');
    assert.ok(icmp.filter((r) => r[0] === '8').length >= 2, 'echo requests');
    assert.ok(icmp.filter((r) => r[0] === '0').length >= 2, 'echo replies');
  });

  await t.test('/metrics during a transfer, and bindery flows shows its flow', async () => {
    const before = await scrape(metricsSock);
    const p = port++;
    const srv = lab.spawn(link.pod, [
      ...link.tool,
      'talk',
      'listen',
      '127.0.0.1',
      String(p),
      '1000000',
      'hold',
    ]);
    await srv.waitForOutput(/ready/, 10_000);
    const cli = lab.spawn(link.guest, [
      ...link.tool,
      'talk',
      'connect',
      GW4,
      String(p),
      '2000000',
      'hold',
    ]);
    await cli.waitForOutput(/holding/, 30_000);
    // "holding" means the guest's kernel took the bytes: wait until the translator passed them on.
    const flowOf = async (): Promise<FlowRow | undefined> =>
      (
        (await controlRequest(ctl, 'flows.list', { proto: 'tcp' })) as { flows: FlowRow[] }
      ).flows.find((r) => r.host === `127.0.0.1:${p}`);
    for (const end = Date.now() + 20_000; Date.now() < end;) {
      const f = await flowOf();
      // The guest never reads: what reaches it is what its receive window takes.
      if (f?.bytesFromGuest === 2_000_000 && f.bytesToGuest > 0 && f.rttGuestUs !== undefined)
        break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const during = await scrape(metricsSock);
    const v = (s: PromScrape, n: string, l: Record<string, string> = {}): number =>
      promValue(s, n, l) ?? NaN;
    for (const dirn of ['from_guest', 'to_guest']) {
      assert.ok(
        v(during, 'bindery_guest_frames_total', { direction: dirn }) >
          v(before, 'bindery_guest_frames_total', { direction: dirn }),
        dirn,
      );
    }
    assert.ok(
      v(during, 'bindery_guest_bytes_total', { direction: 'from_guest' }) -
        v(before, 'bindery_guest_bytes_total', { direction: 'from_guest' }) >=
        2_000_000,
      'bytes from the guest',
    );
    assert.ok(
      v(during, 'bindery_flows', { protocol: 'tcp', state: 'established' }) >= 1,
      'an established TCP flow',
    );
    assert.ok(v(during, 'bindery_flow_table_flows') >= 1, 'table occupancy');
    assert.ok(
      v(during, 'bindery_flow_table_events_total', { event: 'created' }) >
        v(before, 'bindery_flow_table_events_total', { event: 'created' }),
      'flows created',
    );
    assert.equal(v(during, 'bindery_dhcp_leases_total', { protocol: 'dhcp' }), 1);
    assert.ok(v(during, 'bindery_tcp_rtt_seconds_count', { side: 'host' }) >= 1, 'host RTTs');
    assert.ok(v(during, 'bindery_tcp_rtt_seconds_count', { side: 'guest' }) >= 1, 'guest RTTs');

    const json = await run(process.execPath, [BIN, 'flows', ctl, '--json', '--proto', 'tcp']);
    const rows = (JSON.parse(json.stdout) as { flows: FlowRow[] }).flows;
    const mine = rows.find((r) => r.host === `127.0.0.1:${p}`);
    assert.ok(mine, json.stdout);
    t.diagnostic(`flows.list row: ${JSON.stringify(mine)}`);
    assert.equal(mine.protocol, 'tcp');
    assert.equal(mine.direction, 'outbound');
    assert.equal(mine.state, 'established');
    assert.match(mine.guest, new RegExp(`^${GUEST4.replace(/\./g, '\\.')}:\\d+$`));
    assert.equal(mine.guestPeer, `${GW4}:${p}`);
    assert.equal(mine.bytesFromGuest, 2_000_000);
    assert.ok(mine.bytesToGuest > 0, 'bytes to the guest');
    assert.ok(mine.rttGuestUs !== undefined && mine.rttHostUs !== undefined, 'both RTTs known');
    assert.ok(mine.ageMs >= 0 && mine.idleMs >= 0);
    assert.ok(rows.every((r) => r.protocol === 'tcp'));
    const table = await run(process.execPath, [BIN, 'flows', ctl]);
    const lines = table.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^PROTO\s+DIR\s+STATE\s+GUEST\s+GUEST-PEER\s+HOST\s+FROM-GUEST/);
    assert.ok(
      lines.some((l) => /^tcp\s+out\s+established\s/.test(l) && l.includes(`127.0.0.1:${p} `)),
      table.stdout,
    );
    await cli.kill();
    await srv.kill();
  });

  await t.test(
    'bad control-socket input gets errors; the translator keeps forwarding',
    async () => {
      const garbage = await rawControl(ctl, 'hello\n', 1, false);
      assert.match(garbage[0]!, /"ok":false.*BINDERY_ERR_CONTROL/);
      const version = await rawControl(ctl, '{"v":99,"id":3,"op":"ping"}\n', 1, false);
      assert.match(version[0]!, /"id":3,"ok":false.*unsupported protocol version 99/);
      const unknown = await rawControl(ctl, '{"v":1,"id":4,"op":"no.such"}\n', 1, false);
      assert.match(unknown[0]!, /"id":4,"ok":false.*unknown operation no\.such/);
      // A truncated request: never answered, the connection just ends.
      assert.deepEqual(await rawControl(ctl, '{"v":1,"id":5,"op":"pi', 1), []);
      for (const [op, args, re] of [
        ['flows.list', { proto: 'sctp' }, /"proto" must be one of/],
        ['flows.list', [1, 2], /args must be a JSON object/],
        ['capture.start', { path: 'relative.pcap' }, /must be absolute/],
        ['capture.start', { path: join(dir, 'y.pcap'), maxBytes: -1 }, /positive integer/],
        ['capture.start', { path: join(dir, 'y.pcap'), bogus: 1 }, /unknown argument "bogus"/],
        ['capture.start', { path: join(dir, 'no', 'dir.pcap') }, /capture .*ENOENT/],
        ['capture.stop', 'now', /args must be a JSON object/],
      ] as const) {
        await assert.rejects(controlRequest(ctl, op, args), (e: Error) => re.test(e.message), op);
      }
      const c = (await controlRequest(ctl, 'counters')) as {
        control: { bad: Record<string, number>; truncated: number; failed: number };
      };
      assert.ok(c.control.bad['not-json']! >= 1);
      assert.ok(c.control.bad['bad-version']! >= 1);
      assert.ok(c.control.truncated >= 1);
      alive();
      await session(10_000);
      assert.equal(((await controlRequest(ctl, 'capture.status')) as CaptureStatus).active, false);
    },
  );

  await t.test('--stats prints event counts; -d logs flow open and close', async () => {
    await waitFor(
      () => /stats: rx=\d+ tx=\d+ .* tcp=\d+ .* flows=\d+ drops=\d+/.test(link.proc.output),
      10_000,
      'a stats line',
    );
    // The log file is written asynchronously: read it until the line is there (or the deadline).
    const closed = new RegExp(`flow close .*guestPeer=${GW4}:${sessionPort} .*reason=fin`);
    let log = '';
    for (const end = Date.now() + 10_000; !closed.test(log) && Date.now() < end;) {
      log = await readFile(link.logFile!, 'utf8');
      if (!closed.test(log)) await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(log, closed);
    assert.match(
      log,
      new RegExp(`flow open .*proto=tcp dir=outbound .*host=127\\.0\\.0\\.1:${sessionPort}`),
    );
    assert.match(log, /flow close .*bytesFromGuest=300000 bytesToGuest=300000 durationMs=\d+/);
    assert.match(log, /capturing guest frames to /);
  });
  alive();
  const st = await link.proc.kill('SIGTERM', 5000);
  assert.equal(st.code, 0, link.proc.output);
});
