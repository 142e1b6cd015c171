// Tests of the metrics endpoint: --metrics addresses (loopback only), and a scrape over a unix socket whose counters follow the daemon's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { register as globalRegistry } from 'prom-client';
import { PasstDaemon, type Clock } from '../usernet/passt.js';
import type { GuestLink } from '../usernet/link/types.js';
import type { PasstConfig } from '../usernet/conf.js';
import { parseMac } from '../wire/common.js';
import { guestFrames } from '../../test/lab/frames.js';
import { parseExposition, promValue } from '../../test/lab/prom.js';
import { parseMetricsAddr, serveMetrics, translatorRegistry } from './metrics.js';

test('--metrics takes loopback addresses and unix sockets only', () => {
  assert.deepEqual(parseMetricsAddr('127.0.0.1:9100'), {
    kind: 'tcp',
    host: '127.0.0.1',
    port: 9100,
  });
  assert.deepEqual(parseMetricsAddr('127.3.2.1:1'), { kind: 'tcp', host: '127.3.2.1', port: 1 });
  assert.deepEqual(parseMetricsAddr('[::1]:65535'), { kind: 'tcp', host: '::1', port: 65535 });
  assert.deepEqual(parseMetricsAddr('unix:/run/x.sock'), { kind: 'unix', path: '/run/x.sock' });
  for (const bad of [
    '0.0.0.0:9100',
    '10.0.0.1:9100',
    '[::]:9100',
    '[fd00::1]:9100',
    'localhost:9100',
    '127.0.0.1',
    '127.0.0.1:0',
    '127.0.0.1:70000',
    '::1:9100',
    'unix:',
    '',
  ]) {
    const r = parseMetricsAddr(bad);
    assert.equal(typeof r, 'string', bad);
    assert.doesNotMatch(r as string, /\n/);
  }
  assert.match(parseMetricsAddr('0.0.0.0:9100') as string, /not a loopback address/);
});

const cfg: PasstConfig = {
  v4: {
    guestAddr: '10.88.0.15',
    prefixLen: 24,
    gateway: '10.88.0.1',
    mapHostLoopback: undefined,
    hostIface: undefined,
  },
  v6: undefined,
  mtu: 1500,
  ourMac: parseMac('9a:55:9a:55:9a:55')!,
  nameservers: [],
  search: [],
};

function fakeLink(): GuestLink & { deliver(f: Uint8Array[]): void } {
  let l: ((f: Uint8Array[]) => void) | undefined;
  return {
    kind: 'stream',
    send: () => true,
    onFrames: (fn) => void (l = fn),
    onDrain: () => {},
    close: () => Promise.resolve(),
    deliver: (f) => l?.(f),
  } as GuestLink & { deliver(f: Uint8Array[]): void };
}

const clock: Clock = {
  now: () => 1000,
  random: () => 0.5,
  setTimer: () => undefined,
  clearTimer: () => {},
};

function scrape(socketPath: string, path = '/metrics'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('a scrape reads the counters as they are now; the global registry stays empty', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'bindery-metrics-'));
  const link = fakeLink();
  const d = new PasstDaemon(cfg, link, { clock, noRa: true });
  d.start();
  const reg = translatorRegistry({
    daemon: d,
    tcp: () => undefined,
    udp: () => undefined,
    ping: () => undefined,
    capture: () => undefined,
  });
  const sock = join(dir, 'm.sock');
  const srv = await serveMetrics({ kind: 'unix', path: sock }, reg);
  try {
    assert.equal(srv.where, `unix:${sock}`);
    const first = parseExposition((await scrape(sock)).body);
    assert.equal(promValue(first, 'bindery_guest_frames_total', { direction: 'from_guest' }), 0);
    const f = guestFrames();
    // A DHCP DISCOVER (answered: an OFFER, no lease yet), an ARP request, one truncated frame.
    link.deliver([f.dhcp, f.arp, f.arp.subarray(0, 20)]);
    const r = await scrape(sock);
    assert.equal(r.status, 200);
    const s = parseExposition(r.body);
    assert.equal(promValue(s, 'bindery_guest_frames_total', { direction: 'from_guest' }), 3);
    assert.equal(promValue(s, 'bindery_guest_frames_total', { direction: 'to_guest' }), 2);
    assert.equal(
      promValue(s, 'bindery_guest_bytes_total', { direction: 'from_guest' }),
      f.dhcp.length + f.arp.length + 20,
    );
    assert.equal(promValue(s, 'bindery_guest_events_total', { route: 'dhcp' }), 1);
    assert.equal(promValue(s, 'bindery_drops_total', { kind: 'truncated' }), 1);
    assert.equal(promValue(s, 'bindery_dhcp_leases_total', { protocol: 'dhcp' }), 0);
    assert.equal(promValue(s, 'bindery_flow_table_capacity'), d.table.maxFlows);
    assert.equal(promValue(s, 'bindery_flow_table_flows'), 0);
    assert.equal(s.types.get('bindery_tcp_rtt_seconds'), 'histogram');
    assert.ok(promValue(s, 'process_open_fds') !== undefined, 'process metrics');
    assert.equal((await scrape(sock, '/')).status, 404);
    assert.equal((await globalRegistry.metrics()).trim(), '');
  } finally {
    await srv.close();
    await d.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('a port already taken is a BINDERY_ERR_LISTEN', async () => {
  const reg = translatorRegistry(
    {
      daemon: new PasstDaemon(cfg, fakeLink(), { clock }),
      tcp: () => undefined,
      udp: () => undefined,
      ping: () => undefined,
      capture: () => undefined,
    },
    false,
  );
  const taken = createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
  const port = (taken.address() as AddressInfo).port;
  try {
    await assert.rejects(serveMetrics({ kind: 'tcp', host: '127.0.0.1', port }, reg), {
      code: 'BINDERY_ERR_LISTEN',
    });
  } finally {
    await new Promise((r) => taken.close(r));
  }
});
