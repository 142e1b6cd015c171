// A throwaway QEMU guest for integration tests: Debian's kernel, a busybox initramfs, virtio-net NICs on a stream socket or a tap.
//
//   const link = await StreamLink.listen({ path: `${dir}/guest.socket`, oneOff: true });
//   const guest = await bootGuest(lab, { socketPath: link.path, script: 'udhcpc -i eth0 -n -q' });
//   await guest.waitReady();
//   assert.equal(await guest.waitForExit(), 0);
//
// The guest runs `qemu-system-x86_64 -accel tcg` (no KVM needed) with the netdev QEMU 7.2
// introduced for passt: `-netdev stream,server=off,addr.type=unix,addr.path=…`, so the test's
// stream link must be listening before the guest boots. With `tap: NAME` instead, the NIC is
// `-netdev tap,ifname=NAME,script=no,downscript=no,vhost=off` on an existing tap, which QEMU
// looks up in the namespace it runs in (`netns`). A second NIC (`secondNic`) shows up as eth1
// in the guest (the script brings it up). The guest's /init (initramfs.ts) loads
// the virtio-net modules, brings up lo and eth0, prints BINDERY-GUEST-READY, runs the test's
// script, prints BINDERY-GUEST-EXIT=<code> and powers off. QEMU is killed at lab teardown, and
// also by `timeout -s KILL` at the guest's deadline, even if this process was killed first.
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { BinderyError, ErrorCode } from '../../src/errors.js';
import { findGuestKernel, newcArchive } from '../../src/guest/initramfs.js';
import type { CpioEntry, GuestKernel } from '../../src/guest/initramfs.js';
import {
  GUEST_EXIT_MARKER,
  GUEST_INSMOD_FAILED_MARKER,
  GUEST_READY_MARKER,
  buildBaseInitramfs,
  scriptArchive,
} from './initramfs.js';
import { HOST } from './lab.js';
import type { Lab, LabProcess, Netns } from './lab.js';

/** The QEMU binary the guest runs on. */
export const QEMU_BINARY = 'qemu-system-x86_64';
/** QEMU 10 from bookworm-backports, unpacked beside Debian's by scripts/setup-debian.sh (vhost-user). */
export const QEMU10_BINARY = '/opt/bindery/qemu-10/bin/qemu-system-x86_64';

/** Options of `bootGuest`. */
export interface BootGuestOptions {
  /** The unix socket the guest's NIC connects to (a StreamLink must be listening there). */
  readonly socketPath?: string;
  /** Instead of `socketPath`: an existing tap in `netns` the guest's NIC opens. */
  readonly tap?: string;
  /**
   * Instead of `socketPath`: a vhost-user server's socket (QEMU the client, reconnecting every
   * second); guest memory is then a shared memfd, as vhost-user needs. Use with `qemu`.
   */
  readonly vhostUser?: string;
  /** The QEMU binary; default QEMU_BINARY (Debian's). */
  readonly qemu?: string;
  /** vCPUs of the guest; default 1. */
  readonly smp?: number;
  /** vhost-user queue pairs (`queues=N`, and `mq=on` on the device when N > 1); default 1. */
  readonly queues?: number;
  /** MTU the device offers the guest (virtio-net `host_mtu`, as libvirt's `<mtu size=…/>`). */
  readonly hostMtu?: number;
  /** More virtio-net-pci properties of the first NIC (e.g. `guest_tso4=off,guest_tso6=off`). */
  readonly deviceProps?: string;
  /** A second NIC (eth1 in the guest, left down); its MAC defaults to 52:54:00:12:34:57. */
  readonly secondNic?: GuestNic;
  /** Shell script run by the guest once eth0 is up (busybox sh; all busybox applets exist). */
  readonly script: string;
  /** MAC address of the guest's NIC; default 52:54:00:12:34:56. */
  readonly mac?: string;
  /** Guest memory in MiB; default 256. */
  readonly memMb?: number;
  /** Hard deadline of the guest's whole life; QEMU is killed then. Default 120 000 ms. */
  readonly timeoutMs?: number;
  /** Namespace QEMU runs in; default the host (the socket is all the guest touches). */
  readonly netns?: Netns;
  /** Extra kernel command line arguments. */
  readonly append?: string;
  /** Keep the serial console's input open, so the test can type into it (`guest.write`). */
  readonly consoleInput?: boolean;
  /** More files for the initramfs (e.g. `programWithLibraries('/usr/bin/iperf3')`), appended per boot. */
  readonly extraFiles?: readonly CpioEntry[];
}

/** Where one guest NIC is attached: a stream socket or an existing tap, and its MAC. */
export type GuestNic = (
  { readonly socketPath: string } | { readonly tap: string } | { readonly vhostUser: string }
) & {
  readonly mac?: string;
  readonly hostMtu?: number;
  /** vhost-user only: queue pairs (see BootGuestOptions.queues). */
  readonly queues?: number;
};

/** A running (or finished) guest. */
export interface Guest {
  /** The QEMU process (its stdout is the serial console). */
  readonly process: LabProcess;
  /** Date.now() when QEMU was started. */
  readonly startedAt: number;
  /** The serial console so far. */
  readonly console: string;
  /** The script's exit code once the guest printed it, else undefined. */
  readonly exitCode: number | undefined;
  /**
   * Waits until the console matches `re`.
   *
   * @param re - Pattern to wait for.
   * @param timeoutMs - Deadline; default 120 000 ms.
   * @returns The match.
   * @throws BinderyError (Timeout) at the deadline, (Lab) if QEMU exits first.
   */
  waitForConsole(re: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  /**
   * Waits for BINDERY-GUEST-READY (modules loaded, eth0 up, script starting).
   *
   * @returns Milliseconds from QEMU start to the marker.
   */
  waitReady(timeoutMs?: number): Promise<number>;
  /**
   * Waits for the script's end.
   *
   * @returns Its exit code.
   */
  waitForExit(timeoutMs?: number): Promise<number>;
  /** Kills QEMU (SIGKILL; a test guest has nothing to save). */
  kill(): Promise<void>;
  /**
   * Types into the guest's serial console (booted with `consoleInput: true`); the script reads
   * it from its stdin, e.g. `while read -r line; do …; done`.
   *
   * @param text - Characters to send.
   */
  write(text: string): void;
}

/**
 * Why QEMU guests cannot run here, or undefined when they can.
 * Use as `test('…', { skip: qemuSkipReason() }, …)`.
 */
export function qemuSkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'QEMU tests need root (lab namespaces)';
  if (findGuestKernel() === undefined) return 'no /boot/vmlinuz-*-amd64 with modules';
  if (!existsSync('/bin/busybox')) return 'busybox-static is not installed';
  const path = (process.env.PATH ?? '').split(':');
  if (!path.some((d) => existsSync(`${d}/${QEMU_BINARY}`)))
    return `${QEMU_BINARY} is not installed`;
  return undefined;
}

/** Why QEMU 10 guests (vhost-user) cannot run here, or undefined when they can. */
export function qemu10SkipReason(): string | undefined {
  const base = qemuSkipReason();
  if (base !== undefined) return base;
  if (!existsSync(QEMU10_BINARY)) return `${QEMU10_BINARY} is missing (scripts/setup-debian.sh)`;
  return undefined;
}

/** The first NIC of `opts`: exactly one of socketPath, tap and vhostUser. */
function nicOf(opts: BootGuestOptions): GuestNic {
  if (opts.vhostUser !== undefined && opts.socketPath === undefined && opts.tap === undefined)
    return {
      vhostUser: opts.vhostUser,
      ...(opts.queues !== undefined ? { queues: opts.queues } : {}),
    };
  if (opts.socketPath !== undefined && opts.tap === undefined)
    return { socketPath: opts.socketPath };
  if (opts.tap !== undefined && opts.socketPath === undefined) return { tap: opts.tap };
  throw new BinderyError(
    ErrorCode.Lab,
    'bootGuest needs exactly one of socketPath, tap and vhostUser',
  );
}

/** QEMU arguments of one virtio-net NIC: its -netdev and its -device. */
function nicArgs(id: string, nic: GuestNic, mac: string, props = ''): string[] {
  const where = 'socketPath' in nic ? nic.socketPath : 'tap' in nic ? nic.tap : nic.vhostUser;
  if (/[,=]/.test(where)) {
    throw new BinderyError(ErrorCode.Lab, `NIC path or name must not contain ',' or '=': ${where}`);
  }
  if ('vhostUser' in nic) {
    const mtu = `${nic.hostMtu !== undefined ? `,host_mtu=${nic.hostMtu}` : ''}${props ? `,${props}` : ''}`;
    const n = nic.queues ?? 1;
    // One MSI-X vector per ring, one for the control queue, one for config changes.
    const mq = n > 1 ? [`,queues=${n}`, `,mq=on,vectors=${2 * n + 2}`] : ['', ''];
    return [
      '-chardev',
      `socket,id=c${id},path=${nic.vhostUser},reconnect-ms=1000`,
      '-netdev',
      `vhost-user,id=${id},chardev=c${id}${mq[0]}`,
      '-device',
      `virtio-net-pci,netdev=${id},mac=${mac}${mtu}${mq[1]}`,
    ];
  }
  const netdev =
    'socketPath' in nic
      ? `stream,id=${id},server=off,addr.type=unix,addr.path=${nic.socketPath}`
      : // vhost=off: the guest runs under TCG, and a test needs no /dev/vhost-net.
        `tap,id=${id},ifname=${nic.tap},script=no,downscript=no,vhost=off`;
  const mtu = `${nic.hostMtu !== undefined ? `,host_mtu=${nic.hostMtu}` : ''}${props ? `,${props}` : ''}`;
  return ['-netdev', netdev, '-device', `virtio-net-pci,netdev=${id},mac=${mac}${mtu}`];
}

let cached: { kernel: GuestKernel; base: Buffer } | undefined;

/** The kernel and base initramfs, built once per process. */
function guestImage(): { kernel: GuestKernel; base: Buffer } {
  if (cached !== undefined) return cached;
  const kernel = findGuestKernel();
  if (kernel === undefined) {
    throw new BinderyError(
      ErrorCode.Lab,
      'no /boot/vmlinuz-*-amd64 with modules under /lib/modules',
    );
  }
  cached = { kernel, base: buildBaseInitramfs(kernel) };
  return cached;
}

/**
 * Boots a guest whose NIC is connected to `socketPath` (or opens `tap`), running `script`. QEMU is registered
 * in the lab (killed at teardown).
 *
 * @param lab - The lab that owns the guest.
 * @param opts - Socket, script, MAC, memory, deadline.
 * @returns The guest handle, as soon as QEMU has started.
 */
export async function bootGuest(lab: Lab, opts: BootGuestOptions): Promise<Guest> {
  const { kernel, base } = guestImage();
  const dir = await lab.tmpDir();
  const initrd = `${dir}/initrd.cpio`;
  const extra = opts.extraFiles?.length ? [newcArchive(opts.extraFiles)] : [];
  await writeFile(initrd, Buffer.concat([base, ...extra, scriptArchive(opts.script)]));
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const first = nicOf(opts);
  const nics = [
    nicArgs('n0', first, opts.mac ?? '52:54:00:12:34:56', opts.deviceProps),
    ...(opts.secondNic !== undefined
      ? [nicArgs('n1', opts.secondNic, opts.secondNic.mac ?? '52:54:00:12:34:57')]
      : []),
  ];
  const append = ['console=ttyS0', 'panic=-1', 'quiet', opts.append ?? ''].join(' ').trim();
  const argv = [
    // The hard deadline survives this process: QEMU dies even if nobody is left to kill it.
    'timeout',
    '-s',
    'KILL',
    String(Math.ceil(timeoutMs / 1000) + 5),
    opts.qemu ?? QEMU_BINARY,
    '-accel',
    'tcg',
    '-smp',
    String(opts.smp ?? 1),
    '-m',
    String(opts.memMb ?? 256),
    // vhost-user: the back-end maps guest memory, so it must be a shared fd.
    ...(nics.flat().some((a) => a.startsWith('vhost-user,'))
      ? [
          '-object',
          `memory-backend-memfd,id=mem,size=${opts.memMb ?? 256}M,share=on`,
          '-numa',
          'node,memdev=mem',
        ]
      : []),
    '-nographic',
    '-nodefaults',
    '-no-user-config',
    '-serial',
    'stdio',
    '-monitor',
    'none',
    '-no-reboot',
    '-kernel',
    kernel.vmlinuz,
    '-initrd',
    initrd,
    '-append',
    append,
    ...nics.flat(),
  ];
  const startedAt = Date.now();
  const proc = lab.spawn(opts.netns ?? HOST, argv, {
    label: 'qemu guest',
    ...(opts.consoleInput === true ? { stdin: true } : {}),
  });
  const deadline = setTimeout(() => void proc.kill('SIGKILL', 0), timeoutMs);
  deadline.unref();
  void proc.exited.then(() => clearTimeout(deadline));

  const wait = (re: RegExp, ms = timeoutMs): Promise<RegExpExecArray> => proc.waitForOutput(re, ms);
  const exitRe = new RegExp(`${GUEST_EXIT_MARKER}(\\d+)`);
  const guest: Guest = {
    process: proc,
    startedAt,
    get console() {
      return proc.output;
    },
    get exitCode() {
      const m = exitRe.exec(proc.stdout);
      return m === null ? undefined : Number(m[1]);
    },
    waitForConsole: wait,
    async waitReady(ms = timeoutMs) {
      await wait(new RegExp(`${GUEST_READY_MARKER}|${GUEST_INSMOD_FAILED_MARKER}`), ms);
      if (proc.output.includes(GUEST_INSMOD_FAILED_MARKER)) {
        throw new BinderyError(ErrorCode.Lab, `guest could not load its modules:\n${proc.output}`);
      }
      if (!proc.output.includes(GUEST_READY_MARKER)) await wait(new RegExp(GUEST_READY_MARKER), ms);
      return Date.now() - startedAt;
    },
    async waitForExit(ms = timeoutMs) {
      return Number((await wait(exitRe, ms))[1]);
    },
    async kill() {
      await proc.kill('SIGKILL', 0);
    },
    write(text: string) {
      proc.write(text);
    },
  };
  return guest;
}
