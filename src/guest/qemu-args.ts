// The qemu-system-x86_64 argv that boots the bundled guest: kernel and initramfs, virtio-net NICs on taps or stream sockets, the agent port, QMP.
import { BinderyError, ErrorCode } from '../errors.js';
import { AGENT_PORT_NAME, HOSTNAME_PARAM } from './scripts.js';

/** One guest NIC: an existing tap QEMU opens, or a unix stream socket (passt) QEMU connects to. */
export type GuestNic =
  | { kind: 'tap'; ifname: string; mac: string; mtu?: number }
  | { kind: 'stream'; socketPath: string; mac: string; mtu?: number };

/** What `guestQemuArgs` needs. */
export interface GuestQemuOptions {
  kernel: string;
  initrd: string;
  /** Guest memory in MiB; default 256. */
  memMb?: number;
  /** The guest's host name (kernel command line `bindery.hostname=`). */
  hostname: string;
  /** Unix socket QEMU listens on for the agent channel (GuestAgent.connect). */
  agentSocket: string;
  /** Unix socket QEMU listens on for QMP. */
  qmpSocket: string;
  /** File the serial console is written to. */
  serialLog: string;
  /** NICs in order: eth0, eth1, … in the guest. */
  nics: GuestNic[];
  /** Accelerator; default tcg (the caller picks kvm when /dev/kvm works). */
  accel?: 'tcg' | 'kvm';
}

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;
const HOSTNAME_RE =
  /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** Rejects a value QEMU's option parser would split (',' separates options; '=' is fine in paths only after escaping, which we do not do). */
function checkOptionValue(what: string, value: string): string {
  if (value === '' || /[,\s]/.test(value))
    throw new BinderyError(
      ErrorCode.Guest,
      `${what} must be non-empty without ',' or spaces: ${JSON.stringify(value)}`,
    );
  return value;
}

/**
 * The argv (without the binary) of qemu-system-x86_64 for the bundled guest.
 *
 * @param o - Kernel, initramfs, host name, sockets, serial log, NICs, accelerator.
 * @returns Arguments in order.
 * @throws BinderyError (Guest) for a value QEMU could not parse (a ',' in a path, a bad MAC or host name).
 */
export function guestQemuArgs(o: GuestQemuOptions): string[] {
  if (!HOSTNAME_RE.test(o.hostname) || o.hostname.length > 253)
    throw new BinderyError(ErrorCode.Guest, `not a valid host name: ${JSON.stringify(o.hostname)}`);
  const args = [
    '-accel',
    o.accel ?? 'tcg',
    '-smp',
    '1',
    '-m',
    String(o.memMb ?? 256),
    '-nodefaults',
    '-no-user-config',
    '-nographic',
    '-no-reboot',
    '-chardev',
    `file,id=serial0,path=${checkOptionValue('serial log path', o.serialLog)}`,
    '-serial',
    'chardev:serial0',
    '-kernel',
    o.kernel,
    '-initrd',
    checkOptionValue('initrd path', o.initrd),
    '-append',
    `console=ttyS0 panic=-1 quiet ${HOSTNAME_PARAM}=${o.hostname}`,
  ];
  o.nics.forEach((nic, i) => {
    const id = `n${i}`;
    if (!MAC_RE.test(nic.mac))
      throw new BinderyError(ErrorCode.Guest, `NIC ${i}: not a MAC address: ${nic.mac}`);
    const netdev =
      nic.kind === 'tap'
        ? // vhost=off: TCG cannot use vhost-net, and the tap needs no /dev/vhost-net.
          `tap,id=${id},ifname=${checkOptionValue('tap name', nic.ifname)},script=no,downscript=no,vhost=off`
        : `stream,id=${id},server=off,addr.type=unix,addr.path=${checkOptionValue('NIC socket path', nic.socketPath)}`;
    const mtu = nic.mtu !== undefined ? `,host_mtu=${nic.mtu}` : '';
    args.push('-netdev', netdev, '-device', `virtio-net-pci,netdev=${id},mac=${nic.mac}${mtu}`);
  });
  args.push(
    '-device',
    'virtio-serial-pci,id=vser0',
    '-chardev',
    `socket,id=agent0,path=${checkOptionValue('agent socket path', o.agentSocket)},server=on,wait=off`,
    '-device',
    `virtserialport,bus=vser0.0,chardev=agent0,name=${AGENT_PORT_NAME}`,
    '-qmp',
    `unix:${checkOptionValue('QMP socket path', o.qmpSocket)},server=on,wait=off`,
  );
  return args;
}
