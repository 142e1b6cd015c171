// Integration (root): a device-bound broadcast UDP socket (DHCP-server style) across a veth pair of our namespaces.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { openDeviceUdpSocket, SyscallError } from '../../src/native/index.js';
import type { Datagram, DatagramEndpoint } from '../../src/native/index.js';

const run = promisify(execFile);
const RUN_ID = process.env.BINDERY_RUN_ID ?? 'dev';
const SERVER = `bdy-${RUN_ID}-nudp-srv-${process.pid}`;
const CLIENT = `bdy-${RUN_ID}-nudp-cli-${process.pid}`;

/** A DHCP-client stand-in: no address, SO_BINDTODEVICE, broadcasts from :68 and prints the answer. */
const CLIENT_PY = `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b'bdyvb')
s.bind(('0.0.0.0', 68))
s.settimeout(8)
s.sendto(b'DISCOVER', ('255.255.255.255', 67))
d, a = s.recvfrom(1500)
print(d.decode(), a[0], a[1], flush=True)
`;

describe('device-bound UDP socket', () => {
  const open: DatagramEndpoint[] = [];

  before(async () => {
    await run('ip', ['netns', 'add', SERVER]);
    await run('ip', ['netns', 'add', CLIENT]);
    await run('ip', [
      '-n',
      SERVER,
      'link',
      'add',
      'bdyva',
      'type',
      'veth',
      'peer',
      'name',
      'bdyvb',
      'netns',
      CLIENT,
    ]);
    await run('ip', ['-n', SERVER, 'addr', 'add', '10.201.0.1/24', 'dev', 'bdyva']);
    await run('ip', ['-n', SERVER, 'link', 'set', 'bdyva', 'up']);
    await run('ip', ['-n', CLIENT, 'link', 'set', 'bdyvb', 'up']);
  });

  after(async () => {
    for (const ep of open) ep.close();
    for (const n of [SERVER, CLIENT]) await run('ip', ['netns', 'del', n]).catch(() => undefined);
  });

  it('receives a broadcast on port 67 from an unconfigured client and broadcasts the answer', async () => {
    const server = openDeviceUdpSocket({ device: 'bdyva', port: 67, netns: SERVER });
    open.push(server);
    assert.equal(server.localPort, 67);
    assert.equal(server.family, 4);
    const got: Datagram[] = [];
    const errors: Error[] = [];
    const sent: boolean[] = [];
    server.onError((e) => errors.push(e));
    server.onMessages((msgs) => {
      for (const m of msgs) {
        got.push({ ...m, data: m.data.slice() });
        sent.push(server.send('255.255.255.255', m.port, new TextEncoder().encode('OFFER')));
      }
    });

    const client = spawn('ip', [
      'netns',
      'exec',
      CLIENT,
      'timeout',
      '10',
      'python3',
      '-c',
      CLIENT_PY,
    ]);
    try {
      let out = '';
      let err = '';
      client.stdout.on('data', (d: Buffer) => (out += d.toString()));
      client.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const code = await new Promise<number | null>((resolve) => client.on('close', resolve));
      assert.equal(code, 0, `client failed: ${err}`);
      assert.equal(out.trim(), 'OFFER 10.201.0.1 67');
    } finally {
      client.kill('SIGKILL');
    }
    assert.deepEqual(errors, []);
    assert.deepEqual(sent, [true]);
    assert.equal(got.length, 1);
    assert.equal(new TextDecoder().decode(got[0]!.data), 'DISCOVER');
    assert.equal(got[0]!.addr, '0.0.0.0');
    assert.equal(got[0]!.port, 68);
  });

  it('shares the port with SO_REUSEADDR and names the errno for a missing device', () => {
    const again = openDeviceUdpSocket({
      device: 'bdyva',
      port: 6767,
      addr: '0.0.0.0',
      netns: SERVER,
    });
    open.push(again);
    open.push(openDeviceUdpSocket({ device: 'bdyva', port: 6767, netns: SERVER }));
    assert.throws(
      () => open.push(openDeviceUdpSocket({ device: 'bdynope', port: 67, netns: SERVER })),
      (e: unknown) =>
        e instanceof SyscallError &&
        e.errno === 'ENODEV' &&
        e.syscall === 'setsockopt(SO_BINDTODEVICE)',
    );
    assert.throws(
      () => again.send('not-an-address', 68, new Uint8Array(1)),
      (e: unknown) => e instanceof SyscallError && e.errno === 'EINVAL',
    );
  });
});
