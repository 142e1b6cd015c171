// The shim's vhost-user syscalls against a real peer (python3's socket.send_fds): fds over SCM_RIGHTS, a memfd mapped and unmapped (views empty afterwards), eventfd kicks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { readdirSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { vhostShim } from '../../src/native/vhost.js';
import { waitFor } from '../lab/wait.js';

// The peer: connects, sends "hello" with a 64 KiB memfd (holding a marker at 4096) and an
// eventfd, then signals the eventfd once and waits for the shim's write to it.
const PEER = `
import os, socket, sys, struct
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
m = os.memfd_create('bdy-test')
os.ftruncate(m, 65536)
os.pwrite(m, b'guest-memory', 4096)
e = os.eventfd(0, os.EFD_NONBLOCK)
socket.send_fds(s, [b'hello'], [m, e])
os.eventfd_write(e, 1)
s.recv(1)
# After the shim wrote 1 (its "interrupt") and read our 1 (its "kick"), the count is 1.
print('eventfd', os.eventfd_read(e), flush=True)
print('memfd', os.pread(m, 12, 8192).decode(errors='replace'), flush=True)
`;

/** This process's fds of the kinds the shim opens (pipes to children and the like excluded). */
function ours(): number {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (/^socket:|eventfd|memfd:/.test(readlinkSync(`/proc/self/fd/${fd}`))) n++;
    } catch {
      // closed while listing
    }
  }
  return n;
}

test('vhost shim: fds arrive with their message; a mapping reads the memfd and is gone after unmap', async (t) => {
  const s = vhostShim();
  const dir = await mkdtemp(join(tmpdir(), 'bdy-vhost-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'v.sock');
  const fdsBefore = ours();
  const listener = s.vhostListen(path);
  let readable = 0;
  assert.equal(
    s.vhostWatch(listener, () => readable++),
    0,
  );
  const peer = spawn('python3', ['-u', '-c', PEER, path], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  peer.stdout.on('data', (d: Buffer) => (out += d.toString()));
  await waitFor(() => readable > 0, 10_000, 'the listener readable');
  const conn = s.vhostAccept(listener);
  assert.notEqual(typeof conn, 'number');
  if (typeof conn === 'number') return;
  const buf = new Uint8Array(64);
  let got: [number, ReturnType<typeof s.vhostRecv>[1]] = [-11, []];
  await waitFor(
    () => {
      got = s.vhostRecv(conn, buf);
      return got[0] !== -11;
    },
    10_000,
    'the message',
  );
  const [n, fds] = got;
  assert.equal(Buffer.from(buf.subarray(0, n)).toString(), 'hello');
  assert.equal(fds.length, 2);
  const [memfd, efd] = fds as [(typeof fds)[0], (typeof fds)[0]];

  const [map, ab] = s.vhostMmap(memfd, 65536 - 4096, 4096);
  s.vhostClose(memfd);
  const view = new Uint8Array(ab);
  assert.equal(Buffer.from(view.subarray(0, 12)).toString(), 'guest-memory');
  view.set(Buffer.from('from-bindery'), 4096); // memfd offset 8192
  assert.throws(() => s.vhostMmap(memfd, 4096, 0), /EBADF/);

  await waitFor(() => s.vhostEventRead(efd) === 1, 10_000, "the peer's kick");
  assert.equal(s.vhostEventRead(efd), -11); // EAGAIN: nothing more
  assert.equal(s.vhostEventWrite(efd), 0);
  assert.equal(s.vhostSend(conn, new Uint8Array([1])), 1);
  await waitFor(
    () => /memfd [^\n]*\n/.test(out),
    10_000,
    () => `the peer's report: ${out}`,
  );
  assert.match(out, /eventfd 1/);
  assert.match(out, /memfd from-bindery/);

  s.vhostUnmap(map);
  assert.equal(view.length, 0, 'the view is empty after unmap');
  assert.equal(view[0], undefined);
  s.vhostUnmap(map); // idempotent
  for (const h of [efd, conn, listener]) s.vhostClose(h);
  s.vhostClose(conn); // idempotent
  assert.equal(s.vhostEventRead(efd), -9); // EBADF
  const maps = (await import('node:fs')).readFileSync('/proc/self/maps', 'utf8');
  assert.doesNotMatch(maps, /memfd:bdy-test/, 'no mapping left');
  if (peer.exitCode === null) await new Promise((r) => peer.on('close', r));
  await waitFor(
    () => ours() === fdsBefore,
    10_000,
    () => `socket, eventfd and memfd fds back to ${fdsBefore}: ${ours()}`,
  );
});
