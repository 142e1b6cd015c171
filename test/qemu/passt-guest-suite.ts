// The basic guest-network checks (DHCP lease, ping to the gateway, UDP to the pod's loopback, one-off exit), over a stream socket or vhost-user.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lab, labSkipReason } from '../lab/lab.js';
import { bootGuest, qemuSkipReason, qemu10SkipReason, QEMU10_BINARY } from '../lab/qemu.js';
import { udhcpcLines } from '../lab/guest-shell.js';

const BIN = fileURLToPath(new URL('../../bin/bindery.js', import.meta.url));
const PASST = [process.execPath, BIN, 'passt'];
const ECHO_PORT = 7777;
const INBOUND_PORT = 7008;

// The pod's UDP "echo" server. busybox-static has no UDP netcat, so the guest talks to it with
// busybox tftp: the reply to a read request is one TFTP DATA block (block 1, < 512 bytes, so the
// transfer ends there) holding "echo:" and the request's file name; the client's ACK is ignored.
const ECHO_SERVER = `
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('127.0.0.1', ${ECHO_PORT}))
print('echo ready', flush=True)
while True:
    data, peer = s.recvfrom(2048)
    print('got', data[:2].hex(), len(data), 'from', peer, flush=True)
    if data[:2] == b'\\x00\\x01':
        name = data[2:].split(b'\\x00')[0]
        s.sendto(b'\\x00\\x03\\x00\\x01' + b'echo:' + name, peer)
`;

// The guest's udhcpc script: busybox's default one is not in the initramfs.
const GUEST_SCRIPT = `
mkdir -p /tmp
${udhcpcLines({ dns: true })}ip -4 addr show dev eth0
ip route
ping -c 3 -W 5 10.91.0.1
echo "PING-RC=$?"
tftp -g -r hello-from-guest -l /tmp/echo 10.91.0.1 ${ECHO_PORT}
echo "TFTP-RC=$?"
echo "UDP-ECHO=[$(cat /tmp/echo)]"
exit 0
`;

/**
 * Registers the suite: a QEMU guest gets a working network from `bindery passt` over `link`
 * (a stream socket on Debian's QEMU, or vhost-user on QEMU 10).
 */
export function guestNetworkSuite(link: 'stream' | 'vhost-user'): void {
  const vhost = link === 'vhost-user';
  const skip = (vhost ? qemu10SkipReason() : qemuSkipReason()) ?? labSkipReason();
  test(
    `a QEMU guest gets a working network from bindery passt over ${vhost ? 'vhost-user' : 'the stream socket'}`,
    { skip, timeout: 240_000 },
    async (t) => {
      const lab = await Lab.create(t);
      const pod = await lab.namespace('pod');
      await lab.sysctl(pod, 'net.ipv4.ping_group_range', '0 2147483647');
      const dir = await lab.tmpDir();
      const sock = join(dir, 'passt.sock');

      const echo = lab.spawn(pod, ['python3', '-u', '-c', ECHO_SERVER], { label: 'udp echo' });
      await echo.waitForOutput(/echo ready/, 20_000);

      const started = Date.now();
      const daemon = lab.spawn(
        pod,
        [
          ...PASST,
          '-f',
          '-1',
          ...(vhost ? ['--vhost-user'] : []),
          '-s',
          sock,
          '-a',
          '10.91.0.15/24',
          '-g',
          '10.91.0.1',
          '-D',
          '10.91.0.1',
          '-u',
          String(INBOUND_PORT),
        ],
        { label: 'bindery passt' },
      );
      await daemon.waitForOutput(vhost ? /vhost-user,id=/ : /addr\.path=/, 30_000);
      assert.ok(existsSync(sock), `socket bound at ${sock}`);

      const guest = await bootGuest(lab, {
        ...(vhost ? { vhostUser: sock, qemu: QEMU10_BINARY } : { socketPath: sock }),
        script: GUEST_SCRIPT,
        timeoutMs: 120_000,
      });
      const context = (): string =>
        `console:\n${guest.console.slice(-4000)}\ndaemon:\n${daemon.output.slice(-2000)}\necho:\n${echo.output}`;

      const readyMs = await guest.waitReady(120_000);
      t.diagnostic(`guest ready ${readyMs} ms after QEMU started`);
      const code = await guest.waitForExit(120_000);
      t.diagnostic(`guest script done ${Date.now() - guest.startedAt} ms after QEMU started`);
      const out = guest.console;
      assert.equal(code, 0, context());

      await t.test('DHCP: 10.91.0.15/24 with router and DNS 10.91.0.1', () => {
        assert.match(out, /UDHCPC-RC=0/, context());
        assert.match(
          out,
          /LEASE ip=10\.91\.0\.15 mask=24 router=10\.91\.0\.1 dns=10\.91\.0\.1/,
          context(),
        );
        assert.match(out, /inet 10\.91\.0\.15\/24/, context());
        assert.match(out, /default via 10\.91\.0\.1 dev eth0/, context());
      });

      await t.test('ping to the gateway: three echoes answered via ping sockets', () => {
        assert.match(out, /3 packets transmitted, 3 packets received/, context());
        assert.match(out, /PING-RC=0/, context());
      });

      await t.test(
        "UDP to the gateway reaches the pod's 127.0.0.1 and the reply comes back",
        () => {
          assert.match(out, /TFTP-RC=0/, context());
          assert.match(out, /UDP-ECHO=\[echo:hello-from-guest\]/, context());
          assert.match(echo.output, /got 0001 /, context());
        },
      );

      await t.test(
        'one-off: the daemon exits 0 after the guest left and removes the socket',
        async () => {
          let timer: NodeJS.Timeout | undefined;
          const st = await Promise.race([
            daemon.exited,
            new Promise<undefined>(
              (resolve) => (timer = setTimeout(() => resolve(undefined), 30_000)),
            ),
          ]).finally(() => clearTimeout(timer));
          assert.ok(
            st !== undefined,
            `daemon still running 30 s after the guest left\n${context()}`,
          );
          assert.equal(st.code, 0, context());
          assert.ok(!existsSync(sock), 'socket file removed');
          const q = await guest.process.exited;
          assert.equal(q.code, 0, 'QEMU exits cleanly on poweroff');
        },
      );
      t.diagnostic(`whole test ${Date.now() - started} ms from daemon start`);
    },
  );
}
